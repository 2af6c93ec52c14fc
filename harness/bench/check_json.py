#!/usr/bin/python3
"""Check a bench JSON file: well-formed, every figure present and measured,
every figure beside a floor measured in the same run (baseline_median > 0,
one floor value per repetition, ratio = median / baseline_median), and every
goal a ratio to that floor ("ratio <= X", goal_max_ratio X, goal_met
consistent). An absolute goal (">= 10M tasks/s", "< 20 s"), a missing floor
or a missing goal where one is required fails.

usage: check_json.py FILE      exit 0 good, 1 bad (reasons on stderr)
"""
import json
import math
import re
import sys

# Figures that must be present, each with a ratio goal. Others (the
# exstress_iteration scenarios but issue448) may be reported without one.
REQUIRED_WITH_GOAL = [
    "executor_cycle",
    "executor_cycle_thread",
    "spawn_complete",
    "local_wake",
    "foreign_pingpong",
    "exstress_issue448",
    "exstress_iteration/issue448",
    "exstress_runtime/libuv",
    "exstress_runtime/libevent",
    "exstress_runtime/glib",
    "exstress_runtime/tokio",
    "fdtrack_syscall_overhead",
]

RATIO_GOAL = re.compile(r"^ratio <= ([0-9]+(?:\.[0-9]+)?)$")


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def positive(v):
    return num(v) and v > 0


def check_floor(name, r):
    errs = []
    if not isinstance(r.get("baseline"), str) or not r["baseline"]:
        errs.append("%s: no floor (\"baseline\" says what it is)" % name)
    b = r.get("baseline_median")
    if not positive(b):
        errs.append("%s: baseline_median %r is not a positive number" % (name, b))
    ratio = r.get("ratio")
    if not positive(ratio):
        errs.append("%s: ratio %r is not a positive number" % (name, ratio))
    elif positive(b) and positive(r.get("median")) and \
            abs(ratio - r["median"] / b) > 1e-3 * ratio:
        errs.append("%s: ratio %r is not median / baseline_median" % (name, ratio))
    vals, bvals = r.get("values"), r.get("baseline_values")
    if not (isinstance(vals, list) and isinstance(bvals, list) and
            len(vals) == len(bvals) == r.get("reps")):
        errs.append("%s: the floor was not measured in the same run "
                    "(one baseline value per repetition)" % name)
    return errs


def check_goal(name, r, required):
    goal = r.get("goal")
    if goal is None:
        if required:
            return ["%s: no goal (it must have one: ratio <= X)" % name]
        if r.get("goal_met") is not None or r.get("goal_max_ratio") is not None:
            return ["%s: goal_met/goal_max_ratio without a goal" % name]
        return []
    m = RATIO_GOAL.match(goal) if isinstance(goal, str) else None
    if not m:
        return ["%s: goal %r is not a ratio to the same-run floor (\"ratio <= X\")"
                % (name, goal)]
    limit = float(m.group(1))
    errs = []
    if r.get("goal_max_ratio") != limit:
        errs.append("%s: goal_max_ratio %r does not match goal %r"
                    % (name, r.get("goal_max_ratio"), goal))
    if positive(r.get("ratio")) and r.get("goal_met") is not (r["ratio"] <= limit):
        errs.append("%s: goal_met %r but ratio %r, goal %r"
                    % (name, r.get("goal_met"), r["ratio"], goal))
    return errs


def check(doc):
    errs = []
    rows = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        return ["no \"results\" list"]
    byname = {}
    for r in rows:
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            errs.append("a result without a name: %r" % (r,))
            continue
        byname[r["name"]] = r
    for name in REQUIRED_WITH_GOAL:
        if name not in byname:
            errs.append("%s: missing" % name)
    for name, r in byname.items():
        if r.get("error"):
            errs.append("%s: not measured: %s" % (name, r["error"]))
        for k in ("unit", "what"):
            if not isinstance(r.get(k), str) or not r.get(k):
                errs.append("%s: no %s" % (name, k))
        if not positive(r.get("median")):
            errs.append("%s: median %r is not a positive number" % (name, r.get("median")))
        errs += check_floor(name, r)
        errs += check_goal(name, r, name in REQUIRED_WITH_GOAL)
    for name, r in byname.items():
        if name.startswith("exstress_iteration/") and \
                r.get("scenario") != name.split("/", 1)[1]:
            errs.append("%s: scenario %r does not match its name" % (name, r.get("scenario")))
    r = byname.get("fdtrack_syscall_overhead")
    if r is not None:
        n = r.get("nothing_loaded")
        if not (isinstance(n, dict) and positive(n.get("median"))):
            errs.append("fdtrack_syscall_overhead: no nothing_loaded median")
    return errs


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        with open(sys.argv[1]) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("check_json: %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 1
    errs = check(doc)
    for e in errs:
        print("check_json: %s: %s" % (sys.argv[1], e), file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
