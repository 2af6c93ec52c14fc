#!/usr/bin/env bash
# Run the CI gate (exstress, every scenario, 5000 iterations, probe
# required) N times in a row under one policy and say how many passed: the
# evidence that the exact checks (fds, heap, fdtrack) never fail a correct
# runtime by chance.
#
#   scripts/gate_repeat.sh [--runs N] [--policy P] [--exstress PATH] [--iterations N]
#                          [--probe require|auto|off]
#
# Exit status: 0 every run passed, 1 a run leaked (its report is printed),
# 2 usage error, or a run could not run (exstress exit 2: an environment
# error such as a probe that cannot load; not a verdict).
set -u
runs=20 policy=fixed exstress=build/bin/exstress iterations=5000 probe=require
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=${2:?}; shift 2 ;;
	--policy) policy=${2:?}; shift 2 ;;
	--exstress) exstress=${2:?}; shift 2 ;;
	--iterations) iterations=${2:?}; shift 2 ;;
	--probe) probe=${2:?}; shift 2 ;;
	-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "gate_repeat.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case "$runs$iterations" in *[!0-9]*|'') echo "gate_repeat.sh: --runs and --iterations take a number" >&2; exit 2 ;; esac
[ "$runs" -ge 1 ] && [ "$iterations" -ge 1 ] ||
	{ echo "gate_repeat.sh: --runs and --iterations must be at least 1 (0 runs would prove nothing)" >&2; exit 2; }
case $probe in require|auto|off) ;; *) echo "gate_repeat.sh: --probe takes require, auto or off" >&2; exit 2 ;; esac
[ -x "$exstress" ] || { echo "gate_repeat.sh: no $exstress: run 'make' first" >&2; exit 2; }

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
passed=0
for i in $(seq 1 "$runs"); do
	t0=$(date +%s)
	"$exstress" --policy "$policy" --scenario all --iterations "$iterations" \
		--probe "$probe" --quiet >"$log" 2>&1
	rc=$?
	echo "run $i/$runs: exit $rc ($(( $(date +%s) - t0 )) s)"
	if [ "$rc" -eq 1 ]; then
		cat "$log"
		echo "gate_repeat.sh: run $i of $runs failed (exit 1: LEAK) after $passed passes"
		exit 1
	elif [ "$rc" -ne 0 ]; then
		cat "$log"
		echo "gate_repeat.sh: run $i of $runs could not run (exit $rc: usage or environment" \
			"error, not a verdict) after $passed passes"
		exit 2
	fi
	passed=$((passed + 1))
done
echo "gate_repeat.sh: $passed of $runs runs of the gate passed under $policy in $(( $(date +%s) - start )) s"
