#!/usr/bin/python3
"""make compare-runtimes: exstress's gate across event-loop runtimes and their
teardowns, in one run (issue 27).

Runs exstress --scenario all for rex (its teardowns are its drop policies:
fixed = correct, legacy-448 = careless, glommio's bug) and for each built-in
loop adapter (libuv, libevent, glib, tokio) with --teardown correct and careless, and
writes into a new results/runtimes-YYYYMMDD-HHMMSS/ (or --outdir):

  runtimes.json   {"rows": [...]} one row per runtime and teardown (keys below)
  runtimes.md     the same table in Markdown
  eventfd.png     open eventfds after each iteration of `timers`, every row
  memory.png      the exact live heap after each iteration of `timers`
  *.csv, *.json, *.log   each exstress run (the CSVs keep every 10th
                         iteration; the verdicts use every one)

A row sums its scenarios up: the verdict (leak if any scenario leaked), the
largest fd growth per iteration of each kind, the largest heap growth and
VSZ/RSS slopes per iteration, and microseconds per iteration (the scenarios'
time over their iterations, warm-up included; a leaking run also samples the
fds it leaked, so its rate is lower).

Exit status: 0 when every correct teardown passes and every careless one
leaks, 1 otherwise, 2 on a usage or environment error.
"""
import argparse
import json
import os
import subprocess
import sys

from results_dir import results_dir

RUNTIMES = ("rex", "libuv", "libevent", "glib", "tokio")
TEARDOWNS = ("correct", "careless")
REX_POLICY = {"correct": "fixed", "careless": "legacy-448"}
KEYS = ("name", "runtime", "teardown", "label", "scenarios", "verdict", "fds_per_iter",
        "heap_bytes_per_iter", "vsz_slope_bytes_per_iter", "rss_slope_bytes_per_iter",
        "iteration_us", "exit")


class Failure(Exception):
    pass


def run_exstress(exstress, outdir, name, runtime, teardown, iterations, probe):
    base = os.path.join(outdir, name)
    cmd = [exstress, "--runtime", runtime, "--scenario", "all", "--iterations",
           str(iterations), "--probe", probe, "--quiet", "--sample-every", "10",
           "--csv", base + ".csv",
           "--json", base + ".json"]
    cmd += (["--policy", REX_POLICY[teardown]] if runtime == "rex"
            else ["--teardown", teardown])
    with open(base + ".log", "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    if rc not in (0, 1):
        raise Failure(f"{' '.join(cmd)}: exit {rc}; see {base}.log")
    with open(base + ".json") as f:
        return rc, json.load(f)


def row_of(name, runtime, teardown, rc, doc):
    ran = [s for s in doc["scenarios"] if s["verdict"] != "not run"]
    fds = {}
    for s in ran:
        for kind, v in s["fd_growth_per_iter"].items():
            if v:
                fds[kind] = max(fds.get(kind, 0), v)
    its = sum(s["iterations"] + doc["warmup"] for s in ran)
    return {
        "name": name, "runtime": runtime, "teardown": teardown,
        "label": doc["policy"], "scenarios": len(ran), "verdict": doc["verdict"],
        "fds_per_iter": fds,
        "heap_bytes_per_iter": max((s["heap_growth_bytes_per_iter"] or 0) for s in ran),
        "vsz_slope_bytes_per_iter": max(s["vsz_slope_bytes_per_iter"] for s in ran),
        "rss_slope_bytes_per_iter": max(s["rss_slope_bytes_per_iter"] for s in ran),
        "iteration_us": 1e6 * sum(s["elapsed_s"] for s in ran) / its if its else None,
        "exit": rc,
    }


def markdown(rows):
    out = ["| runtime | teardown | scenarios | verdict | fds/iteration (largest, by kind) "
           "| heap B/iteration | VSZ slope B/it | RSS slope B/it | µs/iteration |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fds = ", ".join(f"{k} +{v:.2f}" for k, v in sorted(r["fds_per_iter"].items())) or "0"
        out.append(f"| {r['runtime']} | {r['teardown']} ({r['label']}) | {r['scenarios']} "
                   f"| {r['verdict']} | {fds} | {r['heap_bytes_per_iter']:.0f} "
                   f"| {r['vsz_slope_bytes_per_iter']:.0f} | {r['rss_slope_bytes_per_iter']:.0f} "
                   f"| {r['iteration_us']:.0f} |")
    return "\n".join(out) + "\n"


def plots(rows, outdir):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import plot_curves
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"rex": "tab:blue", "libuv": "tab:green", "libevent": "tab:orange",
              "glib": "tab:purple", "tokio": "tab:brown"}
    # lines that coincide (libuv and GLib both +2 eventfds an iteration) are
    # drawn one inside the other: the earlier rows wider
    width = {r["name"]: 6.0 - 1.2 * i for i, r in enumerate(rows[1::2])}
    figs = (("fd_eventfd", 1.0, "open eventfds", "eventfd.png"),
            ("heap_bytes", 1024.0 * 1024.0, "live heap (MiB, exact)", "memory.png"))
    for col, scale, ylabel, fname in figs:
        fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
        for r in rows:
            for run in plot_curves.read_runs(os.path.join(outdir, r["name"] + ".csv")):
                if run["scenario"] != "timers":
                    continue
                if not all(row.get(col) is not None for row in run["rows"]):
                    continue
                xs, ys = plot_curves.series(run["rows"], col, scale)
                ax.plot(xs, ys, color=colors.get(r["runtime"], "black"),
                        linestyle="-" if r["teardown"] == "careless" else ":",
                        linewidth=width.get(r["name"], 2.5),
                        label=f"{r['runtime']} {r['teardown']} ({r['label']})")
        ax.set_xlabel("iteration (2 loops created, 4 timers parked in each, torn down)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} after each iteration of `timers`: careless teardowns grow "
                     "(solid; coinciding lines drawn one inside the other), correct ones "
                     "stay flat (dotted)", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
        fig.tight_layout()
        fig.savefig(os.path.join(outdir, fname))
        plt.close(fig)


def main(argv):
    ap = argparse.ArgumentParser(prog="compare_runtimes.py",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--exstress", default="build/bin/exstress")
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--probe", default="auto", choices=("auto", "require", "off"))
    ap.add_argument("--runtimes", default=",".join(RUNTIMES),
                    help="comma-separated (default: %(default)s)")
    ap.add_argument("--outdir", help="default: a new results/runtimes-YYYYMMDD-HHMMSS/")
    args = ap.parse_args(argv)
    if args.iterations < 100:
        ap.error("--iterations must be at least 100")
    if not os.access(args.exstress, os.X_OK):
        print(f"compare_runtimes.py: {args.exstress} not found: run 'make' first",
              file=sys.stderr)
        return 2
    try:
        try:
            outdir = results_dir(args.outdir, "runtimes")
        except (ValueError, OSError) as e:
            raise Failure(str(e))
        rows = []
        for runtime in args.runtimes.split(","):
            for teardown in TEARDOWNS:
                name = f"{runtime}-{teardown}"
                print(f"compare-runtimes: exstress {name}", file=sys.stderr)
                rc, doc = run_exstress(args.exstress, outdir, name, runtime, teardown,
                                       args.iterations, args.probe)
                rows.append(row_of(name, runtime, teardown, rc, doc))
        with open(os.path.join(outdir, "runtimes.json"), "w") as f:
            json.dump({"iterations": args.iterations, "probe": args.probe,
                       "rows": [{k: r[k] for k in KEYS} for r in rows]}, f, indent=1)
        with open(os.path.join(outdir, "runtimes.md"), "w") as f:
            f.write(markdown(rows))
        plots(rows, outdir)
    except (Failure, OSError) as e:
        print(f"compare_runtimes.py: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(markdown(rows))
    wrong = [r["name"] for r in rows
             if (r["verdict"] == "pass") != (r["teardown"] == "correct")]
    print(f"compare-runtimes: {outdir}: "
          + (f"unexpected verdicts: {', '.join(wrong)}" if wrong
             else "every correct teardown passes, every careless one leaks"))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
