#!/usr/bin/env bash
# make check: the benchmark in --smoke mode (tiny counts, one repetition),
# its JSON parsed and checked by check_json.py (every figure beside a floor
# measured in the same run, every goal a ratio to it). Then the checker
# itself must reject the same JSON doctored (a floor dropped, an absolute
# goal, a missing goal), so it cannot pass vacuously. Bad options must be
# one-line usage errors.
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
echo "ok: JSON well-formed, every figure beside its same-run floor, every goal a ratio"

# The checker must not pass vacuously: doctor the JSON one way at a time
# (doctor.py NAME FIELD VALUE; VALUE is JSON, or "flip" to negate a boolean)
# and require a rejection.
cat >"$tmp/doctor.py" <<'PYEOF'
import json, sys
src, dst, name, field, value = sys.argv[1:6]
doc = json.load(open(src))
hit = [r for r in doc["results"] if r["name"] == name]
if not hit:
    sys.exit("no result named " + name)
for r in hit:
    r[field] = (not r[field]) if value == "flip" else json.loads(value)
    if field == "baseline_median":  # a dropped floor: everything about it goes
        r["ratio"] = r["baseline_values"] = r["baseline"] = None
json.dump(doc, open(dst, "w"))
PYEOF
rejects() { # NAME FIELD VALUE WHY
	"$PY" "$tmp/doctor.py" "$tmp/bench.json" "$tmp/broken.json" "$1" "$2" "$3" ||
		fail "cannot doctor the JSON"
	if "$PY" "$CHECK" "$tmp/broken.json" 2>"$tmp/why"; then
		fail "checker accepted $1 with $4"
	fi
}
names=$("$PY" -c 'import json,sys; print(" ".join(r["name"] for r in json.load(open(sys.argv[1]))["results"]))' "$tmp/bench.json")
for name in $names; do
	rejects "$name" baseline_median null "no floor"
done
rejects spawn_complete goal '">= 10M tasks/s"' "an absolute goal"
sed 's/^/  /' "$tmp/why"
rejects exstress_issue448 goal '"ratio <= 1.05 and < 20 s"' "an absolute cap in its goal"
rejects local_wake goal null "no goal"
rejects exstress_iteration/issue448 goal null "no goal"
rejects executor_cycle goal_met flip "a goal_met that contradicts its ratio"
echo "ok: checker rejects a dropped floor, an absolute goal, a missing goal"
end=$(date +%s%N)
echo "smoke test: $(( (end - start) / 1000000 )) ms"
