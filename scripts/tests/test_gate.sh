#!/usr/bin/env bash
# scripts/gate.sh (make gate): a gate-junit.xml for every ending, an
# environment error included (CI uploads it); GATE_PROBE=require|auto|off,
# and a run without the eBPF probe says so in its verdict line.
set -u
. "$(dirname "$0")/testlib.sh"
EXSTRESS=$(realpath "${EXSTRESS:-build/bin/exstress}")
G="scripts/gate.sh --exstress $EXSTRESS --iterations 60"
valid_xml() { /usr/bin/python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$1" 2>/dev/null; }

# usage: a bad GATE_PROBE, still a JUnit error
$G --outdir "$tmp/u" --probe sometimes >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "GATE_PROBE must be require, auto or off" "$tmp/out" &&
	valid_xml "$tmp/u/gate-junit.xml" && grep -q '<error message="usage' "$tmp/u/gate-junit.xml" &&
	ok "bad GATE_PROBE: exit 2, JUnit <error>" || bad "bad GATE_PROBE: exit $rc: $(tail -2 "$tmp/out")"

# a real environment error: too few fds for two executors (exstress exit 2,
# no JUnit of its own); a stale JUnit of an earlier run is never left
mkdir -p "$tmp/e" && echo stale >"$tmp/e/gate-junit.xml"
(ulimit -n 12; $G --outdir "$tmp/e" --probe off) >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 2 ] && valid_xml "$tmp/e/gate-junit.xml" &&
	grep -q 'errors="1"' "$tmp/e/gate-junit.xml" && grep -q "raise ulimit -n" "$tmp/e/gate-junit.xml" &&
	grep -q "^gate: ERROR (exit 2): .*gate-junit.xml records it" "$tmp/out" &&
	ok "environment error: exit 2, JUnit <error> with exstress's message" ||
	bad "environment error: exit $rc: $(tail -2 "$tmp/out"); $(head -c 300 "$tmp/e/gate-junit.xml")"

# off: a pass that says it ran without the probe; exstress's own JUnit
$G --outdir "$tmp/o" --probe off >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^gate: PASS (exit 0) WITHOUT the eBPF probe (GATE_PROBE=off" "$tmp/out" &&
	valid_xml "$tmp/o/gate-junit.xml" && ! grep -q "<error" "$tmp/o/gate-junit.xml" &&
	ok "GATE_PROBE=off: PASS, said without the probe" || bad "GATE_PROBE=off: exit $rc: $(tail -2 "$tmp/out")"

if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
	echo "SKIP: the probe cases need root (and setpriv to drop it)"
	finish test_gate
fi
# Where BPF is not permitted (an unprivileged user): require is an
# environment error with a JUnit and a hint; auto passes on /proc and says so.
mkdir -p "$tmp/n" && chmod 777 "$tmp/n" "$tmp"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
nobody $G --outdir "$tmp/n/r" --probe require >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 2 ] && valid_xml "$tmp/n/r/gate-junit.xml" && grep -q "not permitted" "$tmp/n/r/gate-junit.xml" &&
	grep -q "make gate GATE_PROBE=auto" "$tmp/out" &&
	ok "require, BPF not permitted: exit 2, JUnit <error>, the hint" ||
	bad "require, not permitted: exit $rc: $(tail -2 "$tmp/out")"
nobody $G --outdir "$tmp/n/a" --probe auto >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^gate: PASS (exit 0) WITHOUT the eBPF probe (it could not load here" "$tmp/out" &&
	valid_xml "$tmp/n/a/gate-junit.xml" &&
	ok "auto, BPF not permitted: PASS on /proc, said" || bad "auto, not permitted: exit $rc: $(tail -2 "$tmp/out")"
# as root the probe loads: no such words
$G --outdir "$tmp/b" --probe auto >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && grep -q "^gate: PASS (exit 0): " "$tmp/out" &&
	ok "auto as root: PASS with the probe" || bad "auto as root: exit $rc: $(tail -2 "$tmp/out")"

finish test_gate
