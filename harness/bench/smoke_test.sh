#!/usr/bin/env bash
# make check: the benchmark in --smoke mode (tiny counts, one repetition),
# its JSON parsed and checked by check_json.py (every figure with a baseline
# has baseline_median > 0 and a ratio). Then the checker itself must reject
# the same JSON with a baseline dropped, so it cannot pass vacuously.
# Never touches results/bench.json: output goes to a temporary directory.
# (build/test/bench/test_bench_smoke is this file with the paths filled in.)
set -u
BENCH='@BENCH_BIN@'
CHECK='@CHECK_JSON@'
EXSTRESS='@EXSTRESS@'
PY=/usr/bin/python3

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

start=$(date +%s%N)

# Usage errors: exit 2, one line on stderr, nothing run.
for args in "--reps x" "--reps 0" "--reps 99999" "--reps" "--only nosuchfigure" "--bogus"; do
	# shellcheck disable=SC2086 # split on purpose
	"$BENCH" $args >"$tmp/out" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] || fail "bench $args exited with $rc, not 2"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || { cat "$tmp/err"; fail "bench $args: not one line on stderr"; }
	[ -s "$tmp/out" ] && fail "bench $args wrote to stdout"
done
echo "ok: bad options are usage errors (exit 2, one line)"

"$BENCH" --smoke --exstress "$EXSTRESS" --json "$tmp/bench.json" >"$tmp/out.md" 2>"$tmp/err"
rc=$?
cat "$tmp/out.md"
[ $rc -eq 0 ] || { cat "$tmp/err"; fail "bench --smoke exited with $rc"; }
[ -s "$tmp/bench.json" ] || fail "bench --smoke wrote no JSON"
grep -q '^| figure |' "$tmp/out.md" || fail "no Markdown table on stdout"
"$PY" "$CHECK" "$tmp/bench.json" || fail "bench JSON rejected"
echo "ok: JSON well-formed, every baseline present"

# The checker must catch a dropped baseline, and a missing figure.
for name in executor_cycle executor_cycle_thread foreign_pingpong exstress_issue448 fdtrack_syscall_overhead; do
	"$PY" - "$tmp/bench.json" "$tmp/broken.json" "$name" <<'PYEOF' || fail "cannot doctor the JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
for r in doc["results"]:
    if r["name"] == sys.argv[3]:
        r["baseline_median"] = None
        r["ratio"] = None
json.dump(doc, open(sys.argv[2], "w"))
PYEOF
	if "$PY" "$CHECK" "$tmp/broken.json" 2>/dev/null; then
		fail "checker accepted $name without its baseline"
	fi
done
echo "ok: checker rejects a dropped baseline"
end=$(date +%s%N)
echo "smoke test: $(( (end - start) / 1000000 )) ms"
