#!/usr/bin/env bash
# reproduce_glommio.sh (make reproduce's second part): glommio-448 leaks
# glommio's 4 eventfds and ~4.2 MiB of VSZ per iteration, fails with
# "Too many open files" under ulimit -n and "Cannot allocate memory" under
# ulimit -v at the predicted iteration, and glommio-fixed runs as many.
# With an exstress whose glommio-448 leaks nothing, or whose glommio-fixed
# frees nothing, it must say FAILED and exit 1, never OK.
set -u
. "$(dirname "$0")/testlib.sh"
EXSTRESS=$(realpath "${EXSTRESS:-build/bin/exstress}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} # glommio-448 leaks on purpose

scripts/reproduce_glommio.sh --iterations 40 --exstress "$EXSTRESS" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "exit 0" || bad "exit $rc"
grep -qE '^  measured without limits over 20 iterations: \+4\.000 eventfds and \+4\.[0-9]+ MiB VSZ per iteration' "$tmp/out" &&
	ok "glommio's growth: +4 eventfds and 4.x MiB VSZ per iteration" || bad "not glommio's growth"
wants=('Too many open files' 'Cannot allocate memory') limits=2
if sanitized "$EXSTRESS"; then # no address-space limit fits its shadow
	grep -q '^reproduce: ulimit -v not tried: .*sanitizer build' "$tmp/out" &&
		ok "ulimit -v not tried with a sanitizer build, and said so" || bad "a sanitizer build under ulimit -v"
	wants=('Too many open files') limits=1
fi
for want in "${wants[@]}"; do
	grep -qE "^  glommio-448: predicted iteration 41, actual iteration 41: executor creation failed: $want" "$tmp/out" &&
		ok "'$want' where predicted" || bad "no '$want' at the predicted iteration"
done
[ "$(grep -c '^  glommio-fixed: all 41 iterations ran under the same limit' "$tmp/out")" -eq $limits ] &&
	ok "glommio-fixed ran as many under the limits" || bad "glommio-fixed did not run as many"
! grep -qE '\?|awk:|cannot open|syntax error' "$tmp/out" && ok "no placeholders or errors in its output" ||
	bad "placeholders or errors in its output"
[ $fails -eq 0 ] || sed 's/^/  | /' "$tmp/out"

# swap POLICY FOR: an exstress that runs FOR whenever asked for POLICY
swap() {
	cat >"$tmp/$1" <<EOS
#!/bin/sh
for a; do shift; [ "\$a" = $1 ] && a=$2; set -- "\$@" "\$a"; done
exec "$EXSTRESS" "\$@"
EOS
	chmod +x "$tmp/$1"
}
swap glommio-448 glommio-fixed
scripts/reproduce_glommio.sh --iterations 40 --exstress "$tmp/glommio-448" >"$tmp/out2" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q 'reproduce: FAILED' "$tmp/out2" && ! grep -q 'reproduce: OK' "$tmp/out2" &&
	ok "glommio-448 leaking nothing: FAILED, exit 1" || { bad "glommio-448 leaking nothing: exit $rc"; sed 's/^/  | /' "$tmp/out2"; }
swap glommio-fixed glommio-448
scripts/reproduce_glommio.sh --iterations 40 --exstress "$tmp/glommio-fixed" >"$tmp/out3" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q 'reproduce: FAILED: glommio-fixed did not run' "$tmp/out3" && ! grep -q 'reproduce: OK' "$tmp/out3" &&
	ok "glommio-fixed freeing nothing: FAILED, exit 1" || { bad "glommio-fixed freeing nothing: exit $rc"; sed 's/^/  | /' "$tmp/out3"; }

finish test_reproduce_glommio
