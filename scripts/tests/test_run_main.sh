#!/usr/bin/env bash
# The main job's script (what `make run` runs), short: 200 iterations into a
# temp folder. Its summary must say LEAK for legacy-448 and PASS for fixed and
# it must exit 0; with an exstress that never leaks it must exit 1 and say the
# leak went undetected; an existing non-empty --outdir is refused untouched.
set -u
. "$(dirname "$0")/testlib.sh"
EXSTRESS=$(realpath "${EXSTRESS:-build/bin/exstress}")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} # legacy-448 leaks on purpose

scripts/run_main.sh --iterations 200 --outdir "$tmp/run" --exstress "$EXSTRESS" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "run_main.sh --iterations 200: exit 0" || { bad "run_main.sh exit $rc"; sed 's/^/  | /' "$tmp/out"; }
row() { grep -E "^$1 +200 " "$tmp/run/summary.txt"; }
row legacy-448 | grep -qE '\+2\.000 +\+0\.000 .* LEAK \(exit 1\) +LEAK +yes$' &&
	ok "summary: legacy-448 +2.000 eventfds/iteration, LEAK (exit 1)" ||
	bad "summary row for legacy-448: '$(row legacy-448)'"
row fixed | grep -qE '\+0\.000 +\+0\.000 .* PASS \(exit 0\) +PASS +yes$' &&
	ok "summary: fixed +0.000 eventfds/iteration, PASS (exit 0)" ||
	bad "summary row for fixed: '$(row fixed)'"
[ -s "$tmp/run/summary.txt" ] && cmp -s <(sed -n '/^policy /,/^(eventfd/p' "$tmp/out") \
	<(sed -n '/^policy /,/^(eventfd/p' "$tmp/run/summary.txt") &&
	ok "the printed table is the one saved in summary.txt" || bad "printed table differs from summary.txt"
grep -q '^run: OK: legacy-448 leaks' "$tmp/out" && ok "says OK" || bad "no 'run: OK' line"
# the plots' slopes are exstress's (one window: the reference and the
# measured samples), so the output never gives two values for one slope
for p in legacy-448 fixed; do
	plot=$(sed -n "s/.*slope $p, issue448: .* VSZ \([-+0-9.]*\) RSS \([-+0-9.]*\) KiB.*/\1 \2/p" "$tmp/out")
	table=$(row "$p" | awk '{ print $5, $6 }')
	[ -n "$plot" ] && [ "$plot" = "$table" ] && ok "$p: plot's VSZ/RSS slopes = the table's ($plot)" ||
		bad "$p: plot says '$plot', table '$table'"
done
for f in issue448-legacy-448.csv issue448-legacy-448.json issue448-fixed.csv issue448-fixed.json \
	fd_curves.png memory_curves.png summary.md machine.txt; do
	[ -s "$tmp/run/$f" ] || { bad "missing $f"; missing=1; }
done
[ -z "${missing:-}" ] && ok "CSV, JSON, PNGs, summary.md, machine.txt written"

# A run without the eBPF probe says so in every output: the terminal's
# table and last line, summary.txt, summary.md and both plots' titles (kept
# as PNG text). --probe off always; where BPF is not permitted (an
# unprivileged user, when root can drop to one) --probe auto too.
without_everywhere() { # DIR OUT LABEL
	local d=$1 o=$2 missing=
	grep -q "^WITHOUT the eBPF probe: legacy-448, fixed (2 of 2 runs" "$o" || missing="$missing terminal"
	grep -q "^run: OK without the eBPF probe" "$o" || missing="$missing last-line"
	grep -q "^WITHOUT the eBPF probe" "$d/summary.txt" || missing="$missing summary.txt"
	grep -q "WITHOUT the eBPF probe" "$d/summary.md" || missing="$missing summary.md"
	grep -aq "WITHOUT the eBPF probe (every run)" "$d/fd_curves.png" || missing="$missing fd_curves.png"
	grep -aq "WITHOUT the eBPF probe (every run)" "$d/memory_curves.png" || missing="$missing memory_curves.png"
	[ -z "$missing" ] && ok "$3: every output says it ran without the probe" ||
		bad "$3: not said in:$missing"
}
scripts/run_main.sh --iterations 100 --probe off --outdir "$tmp/off" --exstress "$EXSTRESS" >"$tmp/outoff" 2>&1
without_everywhere "$tmp/off" "$tmp/outoff" "--probe off"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 777 "$tmp"
	MPLCONFIGDIR=$tmp setpriv --reuid=65534 --regid=65534 --clear-groups scripts/run_main.sh \
		--iterations 100 --probe auto --outdir "$tmp/auto" --exstress "$EXSTRESS" >"$tmp/outauto" 2>&1
	without_everywhere "$tmp/auto" "$tmp/outauto" "--probe auto, BPF not permitted"
	grep -q "probe is not permitted" "$tmp/auto/summary.md" && ok "summary.md gives the reason" ||
		bad "summary.md lacks the reason"
fi
# with the probe (the run above, as root where it loads): no such words
if grep -q '"probe": "bpf"' "$tmp/run/issue448-fixed.json"; then
	! grep -aq "WITHOUT" "$tmp/out" "$tmp/run/summary.md" "$tmp/run/fd_curves.png" &&
		ok "with the probe: no 'WITHOUT'" || bad "'WITHOUT' said of a run with the probe"
fi

# Refuses to write into an earlier run.
before=$(ls -l --time-style=+%s.%N "$tmp/run" | md5sum)
scripts/run_main.sh --iterations 10 --outdir "$tmp/run" --exstress "$EXSTRESS" >"$tmp/out2" 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q 'not overwriting' "$tmp/out2" &&
	[ "$before" = "$(ls -l --time-style=+%s.%N "$tmp/run" | md5sum)" ]; then
	ok "existing --outdir refused (exit 2), left untouched"
else
	bad "existing --outdir: exit $rc, $(cat "$tmp/out2")"
fi

# An exstress that has lost its teeth (legacy-448 runs as fixed): exit 1, said why.
cat >"$tmp/blind-exstress" <<BLIND
#!/bin/sh
args=""
for a in "\$@"; do [ "\$a" = legacy-448 ] && a=fixed; args="\$args '\$a'"; done
eval exec "$EXSTRESS" \$args
BLIND
chmod +x "$tmp/blind-exstress"
scripts/run_main.sh --iterations 50 --outdir "$tmp/blind" --exstress "$tmp/blind-exstress" >"$tmp/out3" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'legacy-448 leak was NOT detected' "$tmp/out3" &&
	grep -qE '^legacy-448 .* PASS \(exit 0\) +LEAK +NO$' "$tmp/blind/summary.txt"; then
	ok "undetected leak: exit 1, 'leak was NOT detected', summary row marked NO"
else
	bad "undetected leak: exit $rc"; sed 's/^/  | /' "$tmp/out3"
fi

finish test_run_main
