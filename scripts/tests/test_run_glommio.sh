#!/usr/bin/env bash
# make run-glommio's script (run_main.sh --shape glommio), short: glommio-448
# must leak glommio's 4 eventfds and ~4.2 MiB of VSZ per iteration (LEAK)
# and glommio-fixed nothing (PASS); the seed's figures are printed beside
# the measured ones; plot_curves.py's --ref-slope takes COLUMN:VALUE:LABEL
# and refuses anything else (exit 2).
set -u
. "$(dirname "$0")/testlib.sh"
EXSTRESS=$(realpath "${EXSTRESS:-build/bin/exstress}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} # glommio-448 leaks on purpose

scripts/run_main.sh --shape glommio --iterations 60 --probe off --outdir "$tmp/run" \
	--exstress "$EXSTRESS" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "run_main.sh --shape glommio: exit 0" || { bad "exit $rc"; sed 's/^/  | /' "$tmp/out"; }
row() { grep -E "^$1 +60 " "$tmp/run/summary.txt"; }
row glommio-448 | grep -qE '^glommio-448 +60 +\+4\.000 +\+0\.000 +\+4[0-9]{3}\.[0-9]+ .* LEAK \(exit 1\) +LEAK +yes$' &&
	ok "glommio-448: +4 eventfds and 4.x MiB VSZ per iteration, LEAK" || bad "glommio-448 row: '$(row glommio-448)'"
# (a sanitizer's allocator moves VSZ a little: fds and the verdict only)
if sanitized "$EXSTRESS"; then fixed_row='\+0\.000 +\+0\.000 +[-+][0-9.]+ .* PASS \(exit 0\) +PASS +yes$'
else fixed_row='\+0\.000 +\+0\.000 +\+0\.000 .* PASS \(exit 0\) +PASS +yes$'; fi
row glommio-fixed | grep -qE "$fixed_row" &&
	ok "glommio-fixed: nothing per iteration, PASS" || bad "glommio-fixed row: '$(row glommio-fixed)'"
grep -qE '^  measured here, as the report.s round: +\+12\.000 eventfds +\+1[2-4]\.[0-9]+ MB VSZ' "$tmp/out" &&
	grep -qE '^  the seed: +\+12\.000 eventfds +\+13\.51 MB VSZ' "$tmp/out" &&
	ok "the seed's figures beside the measured ones" || bad "no seed comparison"
grep -q '^run: OK without the eBPF probe .*: glommio-448 leaks' "$tmp/out" && ok "says OK" || bad "no OK line"
for f in fd_curves.png memory_curves.png issue448-glommio-448.csv issue448-glommio-fixed.csv; do
	[ -s "$tmp/run/$f" ] || bad "missing $f"
done

/usr/bin/python3 scripts/plot_curves.py -o "$tmp/p" --ref-slope 'vsz_bytes:4500000:seed' \
	"$tmp/run/issue448-glommio-448.csv" >/dev/null 2>&1 && ok "--ref-slope COLUMN:VALUE:LABEL drawn" ||
	bad "--ref-slope refused a good value"
/usr/bin/python3 scripts/plot_curves.py -o "$tmp/p" --ref-slope 'vsz_bytes:lots' \
	"$tmp/run/issue448-glommio-448.csv" >"$tmp/perr" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q 'not COLUMN:PER_ITERATION:LABEL' "$tmp/perr" && ok "a bad --ref-slope: exit 2, says why" ||
	bad "a bad --ref-slope: exit $rc"

finish test_run_glommio
