#!/usr/bin/env bash
# make compare-runtimes' script, small: every runtime's correct teardown
# passes and its careless one leaks the fd kinds its adapter says, the table
# and plots are written, and a tiny --iterations is a usage error.
set -u
. "$(dirname "$0")/testlib.sh"

exs=${EXSTRESS:-build/bin/exstress}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
scripts/compare_runtimes.py --exstress "$exs" --iterations 100 --probe off \
	--outdir "$tmp/r" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "compare_runtimes.py exit 0" || bad "exit $rc: $(tail -5 "$tmp/out")"
python3 - "$tmp/r/runtimes.json" <<'PY' && ok "verdicts and leaked kinds as stated" || bad "verdicts: see above"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))["rows"]}
want = {"rex": {"eventfd"}, "libuv": {"eventfd", "epoll", "pipe"},
        "libevent": {"eventfd", "epoll", "pipe"}, "glib": {"eventfd"},
        "tokio": {"eventfd", "epoll", "pipe"}}  # pipe: the io tasks' own fds, never dropped
bad = 0
for rt, kinds in want.items():
    c, k = rows.get(rt + "-correct"), rows.get(rt + "-careless")
    if not c or c["verdict"] != "pass" or c["fds_per_iter"]:
        print(f"  {rt} correct: {c}"); bad += 1
    if not k or k["verdict"] != "leak" or set(k["fds_per_iter"]) != kinds:
        print(f"  {rt} careless: {k}"); bad += 1
sys.exit(1 if bad else 0)
PY
for f in runtimes.md eventfd.png memory.png; do
	[ -s "$tmp/r/$f" ] && ok "$f written" || bad "$f missing"
done
scripts/compare_runtimes.py --exstress "$exs" --iterations 5 >/dev/null 2>&1
[ $? -eq 2 ] && ok "--iterations 5: usage error (exit 2)" || bad "--iterations 5 not refused"

finish test_compare_runtimes
