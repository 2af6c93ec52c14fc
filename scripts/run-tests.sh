#!/usr/bin/env bash
# Runs test binaries (Check suites) one after another, shows their output, and
# ends with one line "N passed, N failed" over all of them. Exit 0 only when
# every binary exited 0 and no check failed.
#
# A CI log is often read from its tail only, so every failure (Check's
# "file:line:F:" and ":E:" lines, the shell tests' "FAIL" lines, and a
# binary's non-zero exit) is printed again just above the summary line.
set -u
passed=0 failed=0 status=0
log=$(mktemp) || exit 2
failures=$(mktemp) || { rm -f "$log"; exit 2; }
trap 'rm -f "$log" "$failures"' EXIT

for bin in "$@"; do
	echo "== $bin"
	"$bin" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	# Check's summary: "NN%: Checks: C, Failures: F, Errors: E"
	summary=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -n 1)
	if [ -n "$summary" ]; then
		read -r c f e < <(sed -E 's/.*Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/' <<<"$summary")
		passed=$((passed + c - f - e))
		failed=$((failed + f + e))
	elif [ "$rc" -eq 0 ]; then
		passed=$((passed + 1))
	fi
	grep -E '^([^ ]+:[0-9]+:[FE]:|FAIL )' "$log" | sed "s|^|   $bin: |" >>"$failures"
	if [ "$rc" -ne 0 ]; then
		status=1
		[ -z "$summary" ] && failed=$((failed + 1))
		echo "!! $bin exited with $rc" | tee -a "$failures"
	fi
done
if [ -s "$failures" ]; then
	echo "== what failed, again:"
	cat "$failures"
fi
echo "$passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
