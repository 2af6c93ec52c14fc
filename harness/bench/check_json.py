#!/usr/bin/python3
"""Check a bench JSON file: well-formed, every figure present, every figure
whose table entry names a baseline has baseline_median > 0 and a ratio.

usage: check_json.py FILE      exit 0 good, 1 bad (reasons on stderr)
"""
import json
import math
import sys

# name -> does the table name a baseline for it?
FIGURES = {
    "executor_cycle": True,
    "executor_cycle_thread": True,
    "spawn_complete": False,
    "local_wake": False,
    "foreign_pingpong": True,
    "exstress_issue448": True,
    "fdtrack_syscall_overhead": True,
}


def num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


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
    for name, has_base in FIGURES.items():
        r = byname.get(name)
        if r is None:
            errs.append("%s: missing" % name)
            continue
        if r.get("error"):
            errs.append("%s: not measured: %s" % (name, r["error"]))
        for k in ("unit", "goal"):
            if not isinstance(r.get(k), str) or not r.get(k):
                errs.append("%s: no %s" % (name, k))
        if not (num(r.get("median")) and r["median"] > 0):
            errs.append("%s: median %r is not a positive number" % (name, r.get("median")))
        if has_base:
            b = r.get("baseline_median")
            if not (num(b) and b > 0):
                errs.append("%s: baseline_median %r is not a positive number" % (name, b))
            if not (num(r.get("ratio")) and r["ratio"] > 0):
                errs.append("%s: ratio %r is not a positive number" % (name, r.get("ratio")))
        if "baseline_median" not in r or "ratio" not in r:
            errs.append("%s: baseline_median/ratio keys missing" % name)
    r = byname.get("fdtrack_syscall_overhead")
    if r is not None:
        n = r.get("nothing_loaded")
        if not (isinstance(n, dict) and num(n.get("median")) and n["median"] > 0):
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
