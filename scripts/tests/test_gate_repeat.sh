#!/usr/bin/env bash
# scripts/gate_repeat.sh: counts only real passes. A leaking policy stops
# it at the first run (exit 1, the run's report shown); 0 runs is a usage
# error, never "0 of 0 passed"; an environment error is exit 2, not the
# leak's 1; fixed passes every run. It requires the probe: without root it
# cannot run, and says so.
set -u
. "$(dirname "$0")/testlib.sh"
EXSTRESS=$(realpath "${EXSTRESS:-build/bin/exstress}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} # legacy-448 leaks on purpose
G="scripts/gate_repeat.sh --exstress $EXSTRESS --iterations 60"

$G --runs 0 >"$tmp/out" 2>&1
[ $? -eq 2 ] && ok "--runs 0: usage error (exit 2)" || bad "--runs 0 not refused: $(cat "$tmp/out")"
# An environment error is exit 2, never the leak code 1: a real one, too
# few fds for two executors (exstress exits 2 "raise ulimit -n").
(ulimit -n 12; $G --runs 2 --probe off) >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "run 1 of 2 could not run (exit 2: usage or environment error" "$tmp/out" &&
	grep -q "raise ulimit -n" "$tmp/out" && ok "environment error: exit 2, exstress's message shown" ||
	bad "environment error: exit $rc: $(tail -3 "$tmp/out")"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: the gate needs the eBPF probe (root)"
	[ "${FDTRACK_REQUIRE_BPF:-}" = 1 ] && bad "FDTRACK_REQUIRE_BPF=1 but not root"
	finish test_gate_repeat
fi
$G --runs 3 --policy legacy-448 >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "run 1 of 3 failed (exit 1: LEAK) after 0 passes" "$tmp/out" &&
	grep -q "LEAK" "$tmp/out" && ok "legacy-448: fails at run 1, report shown" ||
	bad "legacy-448: exit $rc: $(tail -3 "$tmp/out")"
$G --runs 2 --policy fixed >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "2 of 2 runs of the gate passed under fixed" "$tmp/out" &&
	ok "fixed: 2 of 2 passed" || bad "fixed: exit $rc: $(tail -3 "$tmp/out")"

finish test_gate_repeat
