#!/usr/bin/env bash
# A short libFuzzer run of each fuzz target (exstress's parsers, fdtrack's
# --suppressions parser) for make check, or a longer one (make fuzz). New
# inputs go to a scratch corpus, never into the seed corpus in the source
# tree; crashes are saved under ARTIFACTS.
#   usage: smoke.sh FUZZ_BIN_DIR SEED_DIR ARTIFACTS -runs=N | -max_total_time=S  [KEEP_CORPUS_DIR]
set -u -o pipefail
bindir=$1 seeds=$2 artifacts=$3 budget=$4 keep=${5:-}
mkdir -p "$artifacts"
status=0
for t in args proc suppressions; do
	if [ -n "$keep" ]; then
		work=$keep/$t
		mkdir -p "$work"
	else
		work=$(mktemp -d)
	fi
	echo "fuzz_$t: $budget, seeds $seeds/$t"
	# libFuzzer is chatty: keep its summary and any crash report.
	"$bindir/fuzz_$t" "$budget" -print_final_stats=1 -artifact_prefix="$artifacts/fuzz_$t-" \
		"$work" "$seeds/$t" >"$artifacts/fuzz_$t.log" 2>&1
	rc=$?
	grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY|Done )' \
		"$artifacts/fuzz_$t.log"
	if [ $rc -ne 0 ]; then
		echo "!! fuzz_$t failed (exit $rc); log: $artifacts/fuzz_$t.log"
		tail -n 40 "$artifacts/fuzz_$t.log"
		status=1
	fi
	[ -z "$keep" ] && rm -rf "$work"
done
exit $status
