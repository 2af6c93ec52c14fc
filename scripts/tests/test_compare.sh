#!/usr/bin/env bash
# make compare's script, small: every option runs, the verdicts are the
# ones the README's table states (legacy-448, close-eventfd and
# weak-notifier leak, fixed passes, both workarounds pass under
# legacy-448), the tables and plots are written, and --replot redraws.
set -u
. "$(dirname "$0")/testlib.sh"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
scripts/compare.py --iterations 100 --probe off --smoke --outdir "$tmp/c" \
	>"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "compare.py exit 0" || bad "compare.py exit $rc: $(tail -5 "$tmp/out")"
python3 - "$tmp/c/compare.json" <<'PY' && ok "every option's verdict and teardown as stated" || bad "verdicts: see above"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))["rows"]}
want = {}
for sc in ("issue448", "joins"):
    for p, v in (("legacy-448", "leak"), ("close-eventfd", "leak"),
                 ("weak-notifier", "leak"), ("fixed", "pass")):
        want[f"{sc}-{p}"] = v
want["long-lived-legacy-448"] = want["thread-local-legacy-448"] = "pass"
bad = 0
for name, v in want.items():
    r = rows.get(name)
    if not r or r["verdict"] != v:
        print(f"  {name}: {r and r['verdict']}, want {v}"); bad += 1
        continue
    ev = r["eventfd_per_iter"]
    if name.endswith("legacy-448") and name.split("-")[0] in ("issue448", "joins") and ev != 2:
        print(f"  {name}: {ev} eventfds/iteration, want 2"); bad += 1
    if ("close-eventfd" in name or "weak-notifier" in name) and (ev != 0 or not r["heap_bytes_per_iter"] > 0):
        print(f"  {name}: eventfd {ev}, heap {r['heap_bytes_per_iter']}: want 0 and growth"); bad += 1
    if name.endswith("-fixed") and (r["destructors_run_pct"] != 100 or r["heap_bytes_per_iter"] != 0):
        print(f"  {name}: destructors {r['destructors_run_pct']}%, heap {r['heap_bytes_per_iter']}"); bad += 1
sys.exit(1 if bad else 0)
PY
for f in compare.md eventfd.png memory.png; do
	[ -s "$tmp/c/$f" ] && ok "$f written" || bad "$f missing"
done
rm -f "$tmp/c/eventfd.png"
scripts/compare.py --replot "$tmp/c" >/dev/null 2>&1 && [ -s "$tmp/c/eventfd.png" ] &&
	ok "--replot redraws" || bad "--replot did not redraw"
scripts/compare.py --iterations 5 >/dev/null 2>&1
[ $? -eq 2 ] && ok "--iterations 5: usage error (exit 2)" || bad "--iterations 5 not refused"

finish test_compare
