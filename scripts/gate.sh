#!/usr/bin/env bash
# `make gate`: the CI verdict. Runs exstress on every scenario under one
# policy and writes DIR/gate.csv, gate.json and gate-junit.xml; the JUnit
# file is written for every ending: exstress's own for a pass or a leak,
# and one with an <error> test case (exstress's message in it) when
# exstress could not run (an environment or usage error), so a CI's test
# report never shows an empty folder.
#
# usage: scripts/gate.sh [--exstress PATH] [--outdir DIR] [--policy P]
#                        [--iterations N] [--probe require|auto|off]
#   defaults: build/bin/exstress, build/gate, fixed, 5000, require
#   --probe require  the eBPF probe must load: where it cannot (not root,
#                    no BTF, a container), exit 2
#   --probe auto     the probe, or /proc alone where BPF is not permitted
#                    (said in the last line: "WITHOUT the eBPF probe");
#                    a kernel that rejects the probe is still exit 2
#   --probe off      /proc alone, on purpose (also said)
#
# Exit status, exstress's: 0 pass, 1 leak, 2 usage or environment error.
set -u
exstress=build/bin/exstress outdir=build/gate policy=fixed iterations=5000 probe=require
usage() { echo "gate: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--exstress) exstress=${2:?}; shift 2 ;;
	--outdir) outdir=${2:?}; shift 2 ;;
	--policy) policy=${2:?}; shift 2 ;;
	--iterations) iterations=${2:?}; shift 2 ;;
	--probe) probe=${2:?}; shift 2 ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) usage "unknown argument '$1' (see scripts/gate.sh --help)" ;;
	esac
done

junit=$outdir/gate-junit.xml
# A JUnit report with one errored test case: what exstress said, escaped.
error_junit() { # message, log file
	local msg
	msg=$(printf '%s' "$1" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/"/\&quot;/g')
	{
		echo '<?xml version="1.0" encoding="UTF-8"?>'
		echo '<testsuites name="exstress" tests="1" failures="0" errors="1">'
		echo "  <testsuite name=\"exstress gate ($policy)\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">"
		echo "    <testcase classname=\"exstress.gate\" name=\"gate\">"
		echo "      <error message=\"$msg\" type=\"environment\">"
		[ -s "$2" ] && sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g' "$2"
		echo "      </error>"
		echo "    </testcase>"
		echo "  </testsuite>"
		echo "</testsuites>"
	} >"$junit"
}

mkdir -p "$outdir" || usage "cannot create $outdir"
rm -f "$junit" "$outdir/gate.json" "$outdir/gate.csv" # never a stale verdict
log=$outdir/gate.log
echo "gate: exstress --policy $policy --scenario all --iterations $iterations --probe $probe"
case $probe in
require | auto | off) ;;
*)
	echo "gate: GATE_PROBE must be require, auto or off, not '$probe'" >"$log"
	cat "$log" >&2
	error_junit "usage: GATE_PROBE='$probe'" "$log"
	echo "gate: ERROR (exit 2): usage, not a verdict; $junit says so (make says Error 2)"
	exit 2 ;;
esac
if [ ! -x "$exstress" ]; then
	echo "gate: $exstress not found: build it with 'make'" >"$log"
	cat "$log" >&2
	error_junit "$exstress not found" "$log"
	echo "gate: ERROR (exit 2): environment, not a verdict; $junit says so (make says Error 2)"
	exit 2
fi
"$exstress" --policy "$policy" --scenario all --iterations "$iterations" \
	--probe "$probe" --csv "$outdir/gate.csv" --json "$outdir/gate.json" \
	--junit "$junit" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# Said in the verdict line when the run had no eBPF probe.
without=
if [ "$probe" = off ]; then
	without=" WITHOUT the eBPF probe (GATE_PROBE=off: /proc sampling only)"
elif grep -qs '"probe": *"proc-only"' "$outdir/gate.json"; then
	without=" WITHOUT the eBPF probe (it could not load here, GATE_PROBE=auto: /proc sampling only)"
fi
case $rc in
0) echo "gate: PASS (exit 0)$without: no fd, heap or memory growth in any scenario under $policy;" \
	"details in $outdir/" ;;
1) echo "gate: LEAK (exit 1)$without: growth found under $policy, see the report above and" \
	"$outdir/gate.json (make says Error 1)" ;;
*)
	# exstress wrote no JUnit when it could not run: the CI's report
	# gets the error instead of nothing
	[ -s "$junit" ] || error_junit "exstress exited $rc: $(grep -m1 '^exstress: ' "$log" || echo "see $log")" "$log"
	hint=
	[ "$probe" = require ] && grep -q "probe\|fdtrack\|BPF" "$log" &&
		hint=" (where BPF cannot be loaded, e.g. a CI container: make gate GATE_PROBE=auto)"
	echo "gate: ERROR (exit $rc): usage or environment problem, not a verdict: see the" \
		"message above$hint; $junit records it (make says Error $rc)" ;;
esac
exit $rc
