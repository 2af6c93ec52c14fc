#!/usr/bin/python3
"""Print the summary table of a `make run` folder from exstress's JSON files.

usage: summarize.py [--markdown FILE] POLICY:EXIT:JSON[:LOG] ...

POLICY is the drop policy exstress ran under, EXIT its exit status, JSON its
--json file, LOG (optional) its stderr (used to say why the eBPF probe was
not used). Prints one row per run; with --markdown also writes the table as
Markdown. Expected outcome: legacy-448 exits 1 (leak), fixed exits 0 (pass).
"""
import argparse
import json
import sys

EXPECTED_EXIT = {"legacy-448": 1, "fixed": 0, "glommio-448": 1, "glommio-fixed": 0}
EXIT_MEANING = {0: "pass", 1: "leak", 2: "error"}


def load(spec):
    parts = spec.split(":")
    if len(parts) not in (3, 4):
        raise SystemExit(f"summarize.py: bad run spec '{spec}' (POLICY:EXIT:JSON[:LOG])")
    policy, rc, path = parts[0], int(parts[1]), parts[2]
    log = parts[3] if len(parts) == 4 else None
    run = {"policy": policy, "exit": rc, "json": path, "doc": None, "why_no_bpf": None}
    try:
        with open(path) as f:
            run["doc"] = json.load(f)
    except (OSError, ValueError) as e:
        run["error"] = f"{path}: {e}"
    if log:
        try:
            with open(log) as f:
                for line in f:
                    if "probe is not permitted" in line:
                        run["why_no_bpf"] = line.strip()
                        break
        except OSError:
            pass
    return run


def kib(v):
    return "-" if v is None else f"{v / 1024.0:+.3f}"


def fds(v):
    return "-" if v is None else f"{v:+.3f}"


def heap(doc):
    """Heap growth per iteration: exact bytes (and allocations), or why not."""
    b = doc.get("heap_growth_bytes_per_iter")
    a = doc.get("heap_growth_allocs_per_iter")
    if b is None:
        return {"off": "off"}.get(doc.get("heap"), "n/a")
    return f"{b:+.1f} ({a:+.2f} allocs)"


def row(run):
    d = run["doc"] or {}
    sc = (d.get("scenarios") or [{}])[0]
    per = sc.get("fd_growth_per_iter") or {}
    exp = EXPECTED_EXIT.get(run["policy"])
    ok = exp is None or run["exit"] == exp
    return {
        "policy": run["policy"],
        "iterations": str(d.get("iterations", "-")),
        "eventfd/iter": fds(per.get("eventfd")),
        "io_uring/iter": fds(per.get("io_uring")),
        "VSZ KiB/iter": kib(d.get("vsz_slope_bytes_per_iter")),
        "RSS KiB/iter": kib(d.get("rss_slope_bytes_per_iter")),
        "heap B/iter": heap(d),
        "probe": d.get("probe", "-"),
        "verdict": (d.get("verdict") or EXIT_MEANING.get(run["exit"], "?")).upper()
                   + f" (exit {run['exit']})",
        "expected": "-" if exp is None else EXIT_MEANING[exp].upper(),
        "ok": "yes" if ok else "NO",
    }


def main(argv):
    ap = argparse.ArgumentParser(prog="summarize.py", description=__doc__.split("\n")[1])
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown")
    ap.add_argument("runs", nargs="+", metavar="POLICY:EXIT:JSON[:LOG]")
    args = ap.parse_args(argv)

    runs = [load(s) for s in args.runs]
    rows = [row(r) for r in runs]
    cols = list(rows[0].keys())
    width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}

    def line(vals):
        return "  ".join(v.ljust(width[c]) for c, v in zip(cols, vals)).rstrip()

    # a run without the probe is said first, in the terminal and the file
    without = [r["policy"] for r in rows if r["probe"] != "bpf"]
    banner = None
    if without:
        banner = (f"WITHOUT the eBPF probe: {', '.join(without)} ({len(without)} of {len(rows)} "
                  f"runs, probe proc-only): /proc sampling only, no opening stacks")
        print(banner)
    print(line(cols))
    print(line(["-" * width[c] for c in cols]))
    for r in rows:
        print(line([r[c] for c in cols]))
    print("(eventfd/io_uring: fd growth per measured iteration; VSZ/RSS: least-squares "
          "slope; heap: exact growth of the live heap per iteration;\n probe bpf = fdtrack "
          "eBPF + /proc, proc-only = /proc alone)")
    for r in runs:
        if r.get("error"):
            print(f"  {r['policy']}: no JSON summary ({r['error']}); see its log")
    reasons = {r["why_no_bpf"]: [x["policy"] for x in runs if x["why_no_bpf"] == r["why_no_bpf"]]
               for r in runs if r["why_no_bpf"]}
    for why, who in reasons.items():
        print(f"  ({', '.join(who)}) {why}")

    if args.markdown:
        with open(args.markdown, "w") as f:
            if banner:
                f.write(f"**{banner}**\n\n")
            f.write("| " + " | ".join(cols) + " |\n")
            f.write("|" + "|".join("---" for _ in cols) + "|\n")
            for r in rows:
                f.write("| " + " | ".join(r[c] for c in cols) + " |\n")
            for why, who in reasons.items():
                f.write(f"\n({', '.join(who)}) {why}\n")
    return 0 if all(r["ok"] == "yes" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
