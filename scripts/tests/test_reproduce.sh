#!/usr/bin/env bash
# `make reproduce`'s script: under a small limit legacy-448 must end in
# "Too many open files" at a named iteration and fixed must run as many;
# the numbers it prints are real (no '?', no awk errors). With an exstress
# whose legacy-448 run never leaks, it must say FAILED and exit 1, never OK.
# (Its glommio part, --glommio, has its own test: test_reproduce_glommio.)
set -u
. "$(dirname "$0")/testlib.sh"
EXSTRESS=$(realpath "${EXSTRESS:-build/bin/exstress}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} # legacy-448 leaks on purpose

scripts/reproduce_448.sh --ulimit 64 --glommio 0 --exstress "$EXSTRESS" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "--ulimit 64: exit 0" || bad "--ulimit 64: exit $rc"
grep -qE '^  iteration [0-9]+: executor creation failed: Too many open files$' "$tmp/out" &&
	ok "names the iteration where executor creation failed" || bad "no failing iteration"
grep -qE 'held [0-9]+ leaked eventfds' "$tmp/out" && ok "counts the leaked eventfds" ||
	bad "no count of leaked eventfds"
grep -q '^reproduce: OK: ' "$tmp/out" && ok "ends OK" || bad "does not end OK"
! grep -qE '\?|awk:|cannot open' "$tmp/out" && ok "no placeholders or errors in its output" ||
	bad "placeholders or errors in its output"
[ $fails -eq 0 ] || sed 's/^/  | /' "$tmp/out"

# An exstress that runs fixed whatever it is asked: the bug is not reproduced.
cat >"$tmp/noleak" <<EOS
#!/bin/sh
for a; do shift; [ "\$a" = legacy-448 ] && a=fixed; set -- "\$@" "\$a"; done
exec "$EXSTRESS" "\$@"
EOS
chmod +x "$tmp/noleak"
scripts/reproduce_448.sh --ulimit 64 --glommio 0 --exstress "$tmp/noleak" >"$tmp/out2" 2>&1
rc=$?
[ $rc -eq 1 ] && ok "no leak to reproduce: exit 1" || bad "no leak to reproduce: exit $rc"
grep -q 'reproduce: FAILED' "$tmp/out2" && ! grep -q 'reproduce: OK' "$tmp/out2" &&
	ok "no leak to reproduce: says FAILED, never OK" || { bad "no leak: wrong verdict"; sed 's/^/  | /' "$tmp/out2"; }

finish test_reproduce
