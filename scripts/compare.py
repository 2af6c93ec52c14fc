#!/usr/bin/python3
"""make compare: the seed's fixes and workarounds for glommio issue 448, measured
side by side in one run.

Runs exstress on issue448 and a parking-heavy scenario (joins) under each drop
policy (legacy-448 = the bug, close-eventfd = option B, weak-notifier = option
C, fixed = option A), the two workaround scenarios (long-lived, thread-local),
and bench's per-policy wake-path figures, then writes into a new
results/compare-YYYYMMDD-HHMMSS/ (or --outdir):

  compare.json      {"rows": [...]} one row per run (keys below)
  compare.md        the same table in Markdown, with one sentence per option
  eventfd.png       eventfds after each iteration, every row on one axis
  memory.png        VSZ, RSS and the exact heap after each iteration
  *.csv, *.json, *.log   each exstress run; bench.json

Exit status: 0 when every run ended as expected (legacy-448, close-eventfd and
weak-notifier leak, fixed and the workarounds pass), 1 otherwise, 2 on a usage
or environment error.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

POLICIES = ("legacy-448", "close-eventfd", "weak-notifier", "fixed")
OPTION = {"legacy-448": "the bug", "close-eventfd": "option B", "weak-notifier": "option C",
          "fixed": "option A"}
SCENARIOS = ("issue448", "joins")
WORKAROUNDS = ("long-lived", "thread-local")
KEYS = ("name", "policy", "scenario", "eventfd_per_iter", "io_uring_per_iter",
        "vsz_slope_bytes_per_iter", "rss_slope_bytes_per_iter", "heap_bytes_per_iter",
        "destructors_run_pct", "parked_bytes_left_per_iter", "iteration_us",
        "foreign_wake_ns", "foreign_wake_ratio_to_fixed", "local_wake_ratio_to_fixed",
        "executor_cycle_ratio_to_fixed", "verdict", "exit")


class Failure(Exception):
    pass


def run_exstress(exstress, outdir, name, policy, scenario, iterations, probe):
    base = os.path.join(outdir, name)
    cmd = [exstress, "--policy", policy, "--scenario", scenario, "--iterations", str(iterations),
           "--probe", probe, "--quiet", "--heap-stacks", "off", "--csv", base + ".csv",
           "--json", base + ".json"]
    with open(base + ".log", "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    if rc not in (0, 1):
        raise Failure(f"{' '.join(cmd)}: exit {rc}, see {base}.log")
    with open(base + ".json") as f:
        return rc, json.load(f)


def exstress_row(name, policy, scenario, rc, doc):
    sc = doc["scenarios"][0]
    per = sc.get("fd_growth_per_iter") or {}
    teardown = sc.get("teardown") or {}
    iters = sc.get("iterations") or 1
    return {
        "name": name, "policy": policy, "scenario": scenario,
        "eventfd_per_iter": per.get("eventfd"),
        "io_uring_per_iter": per.get("io_uring"),
        "vsz_slope_bytes_per_iter": sc.get("vsz_slope_bytes_per_iter"),
        "rss_slope_bytes_per_iter": sc.get("rss_slope_bytes_per_iter"),
        "heap_bytes_per_iter": sc.get("heap_growth_bytes_per_iter"),
        "destructors_run_pct": teardown.get("destructors_run_pct"),
        "parked_bytes_left_per_iter": teardown.get("bytes_left_per_iter"),
        "iteration_us": 1e6 * sc["elapsed_s"] / iters if sc.get("elapsed_s") else None,
        "foreign_wake_ns": None, "foreign_wake_ratio_to_fixed": None,
        "local_wake_ratio_to_fixed": None, "executor_cycle_ratio_to_fixed": None,
        "verdict": sc.get("verdict"), "exit": rc,
    }


def run_bench(bench, outdir, smoke):
    path = os.path.join(outdir, "bench.json")
    cmd = [bench, "--only", "policy", "--json", path] + (["--smoke"] if smoke else [])
    with open(os.path.join(outdir, "bench.log"), "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    if rc != 0:
        raise Failure(f"{' '.join(cmd)}: exit {rc}, see {outdir}/bench.log")
    with open(path) as f:
        doc = json.load(f)
    figs = {r["name"]: r for r in doc["results"]}
    out = {}
    for policy in POLICIES:
        def fig(kind):
            r = figs.get(f"policy/{policy}:{kind}")
            if r is None or r.get("error"):
                raise Failure(f"bench.json has no policy/{policy}:{kind} figure")
            return r
        fw, lw, ec = fig("foreign_wake"), fig("local_wake"), fig("executor_cycle")
        out[policy] = {
            "foreign_wake_ns": fw["median"],
            "foreign_wake_ratio_to_fixed": fw["ratio"],
            "local_wake_ratio_to_fixed": lw["ratio"],
            "executor_cycle_ratio_to_fixed": ec["ratio"],
        }
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def markdown(rows):
    cols = [("name", "s"), ("eventfd_per_iter", "+.3f"), ("vsz_slope_bytes_per_iter", "+.0f"),
            ("rss_slope_bytes_per_iter", "+.0f"), ("heap_bytes_per_iter", "+.0f"),
            ("destructors_run_pct", ".0f"), ("parked_bytes_left_per_iter", ".0f"),
            ("iteration_us", ".0f"), ("foreign_wake_ns", ".0f"),
            ("foreign_wake_ratio_to_fixed", ".3f"), ("local_wake_ratio_to_fixed", ".3f"),
            ("executor_cycle_ratio_to_fixed", ".3f"), ("verdict", "s")]
    head = ["run", "eventfd/iter", "VSZ B/iter", "RSS B/iter", "heap B/iter",
            "destructors run %", "parked B left/iter", "µs/iter", "foreign wake ns",
            "foreign wake vs fixed", "local wake vs fixed", "executor cycle vs fixed", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r[k], f) if f != "s" else str(r[k]) for k, f in cols) + " |")
    return "\n".join(lines) + "\n"


def sentences(rows):
    """One plain sentence per option, from the numbers."""
    by = {(r["policy"], r["scenario"]): r for r in rows}
    out = []
    for policy in POLICIES:
        r = by.get((policy, "issue448"))
        if not r:
            continue
        fds = (r["eventfd_per_iter"] or 0) > 0
        heap = (r["heap_bytes_per_iter"] or 0) > 0
        what = {"legacy-448": "glommio as reported", "close-eventfd": "option B, close the eventfd",
                "weak-notifier": "option C, weak notifier references",
                "fixed": "option A, destroy every task"}[policy]
        if fds and heap:
            s = (f"**{policy}** ({what}): leaks {r['eventfd_per_iter']:.1f} eventfds and "
                 f"{r['heap_bytes_per_iter']:.0f} heap bytes per iteration.")
        elif heap:
            s = (f"**{policy}** ({what}): fds stay flat, but memory still grows: "
                 f"{r['heap_bytes_per_iter']:.0f} heap bytes per iteration "
                 f"({fmt(r['destructors_run_pct'], '.0f')}% of destructors run), so exstress "
                 f"says LEAK on the heap check.")
        elif fds:
            s = f"**{policy}** ({what}): leaks {r['eventfd_per_iter']:.1f} eventfds per iteration."
        else:
            s = f"**{policy}** ({what}): nothing grows: fds, VSZ, RSS and the heap stay flat."
        if r.get("foreign_wake_ratio_to_fixed") is not None and policy != "fixed":
            s += (f" Its foreign wake costs {r['foreign_wake_ratio_to_fixed']:.2f}x fixed's, its "
                  f"local wake {r['local_wake_ratio_to_fixed']:.2f}x.")
        out.append(s)
    for name in WORKAROUNDS:
        r = by.get(("fixed", name)) or next((x for x in rows if x["scenario"] == name), None)
        if r:
            grows = (r["eventfd_per_iter"] or 0) > 0 or (r["heap_bytes_per_iter"] or 0) > 0
            out.append(f"**{name}** workaround (no fix, executors kept): "
                       f"{'something still grows' if grows else 'fds and memory stay flat'}, "
                       f"{fmt(r['iteration_us'], '.0f')} µs per iteration.")
    return out


# Colour by what is compared, line style by scenario; the roles in the
# legend. Lines drawn widest first, so that options that coincide (legacy,
# B and C leave the same tasks behind) show as one line inside another.
STYLE = {
    "legacy-448": ("#d62728", "legacy-448 (the bug)", 5.0),
    "close-eventfd": ("#ff7f0e", "close-eventfd (option B)", 3.4),
    "weak-notifier": ("#9467bd", "weak-notifier (option C)", 1.8),
    "fixed": ("#2ca02c", "fixed (option A, the fix)", 2.0),
    "long-lived": ("#1f77b4", "long-lived executor (workaround, no fix)", 2.0),
    "thread-local": ("#17becf", "thread-local executor (workaround, no fix)", 2.0),
}
DASH = {"issue448": "-", "joins": "--"}


def style_of(row):
    key = row["scenario"] if row["scenario"] in WORKAROUNDS else row["policy"]
    color, role, width = STYLE[key]
    if row["scenario"] in WORKAROUNDS:
        return color, role, width, ":"
    return color, f"{row['scenario']}: {role}", width, DASH.get(row["scenario"], "-.")


def plots(rows, outdir):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import plot_curves
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = []
    for r in rows:
        for run in plot_curves.read_runs(os.path.join(outdir, r["name"] + ".csv")):
            run["style"] = style_of(r)
            runs.append(run)
    runs.sort(key=lambda run: -run["style"][2])

    def draw(ax, col, scale):
        for run in runs:
            if not all(row.get(col) is not None for row in run["rows"]):
                continue
            color, label, width, dash = run["style"]
            xs, ys = plot_curves.series(run["rows"], col, scale)
            ax.plot(xs, ys, color=color, linestyle=dash, linewidth=width,
                    label=label, solid_capstyle="butt")
        ax.grid(True, alpha=0.3)

    note = ("legacy-448, B and C coincide where they leave the same parked "
            "tasks (drawn one inside the other)")
    fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
    draw(ax, "fd_eventfd", 1.0)
    ax.set_xlabel("iteration (executors created and dropped)")
    ax.set_ylabel("open eventfds")
    ax.set_title("eventfds after each iteration: only legacy-448 leaks them "
                 "(+2 per iteration, both scenarios)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "eventfd.png"))
    plt.close(fig)

    fig, axes = plt.subplots(3, 1, figsize=(10, 11), dpi=100, sharex=True)
    for ax, col, title in zip(axes, ("vsz_bytes", "rss_bytes", "heap_bytes"),
                              ("VSZ (MiB)", "RSS (MiB)", "live heap (MiB, exact)")):
        draw(ax, col, 1024.0 * 1024.0)
        ax.set_ylabel(title)
    axes[2].legend(fontsize=7, loc="upper left", framealpha=0.9)
    axes[-1].set_xlabel("iteration (executors created and dropped)")
    fig.suptitle("memory after each iteration: B and C stop the fd leak, not the "
                 "memory leak (their parked tasks are never destroyed)\n" + note,
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "memory.png"))
    plt.close(fig)


def replot(outdir):
    """Redraw the plots of an existing compare directory."""
    with open(os.path.join(outdir, "compare.json")) as f:
        rows = json.load(f)["rows"]
    plots(rows, outdir)
    print(f"compare: plots redrawn in {outdir}")
    return 0


def new_outdir():
    base = os.path.join("results", "compare-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    for n in range(1, 100):
        path = base if n == 1 else f"{base}-{n}"
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            continue
    raise Failure(f"cannot create a new folder next to {base}")


def main(argv):
    ap = argparse.ArgumentParser(prog="compare.py", description=__doc__.split("\n")[0])
    ap.add_argument("--exstress", default="build/bin/exstress")
    ap.add_argument("--bench", default="build/bin/bench")
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--probe", default="auto", choices=("auto", "require", "off"))
    ap.add_argument("--outdir", help="default: a new results/compare-YYYYMMDD-HHMMSS/")
    ap.add_argument("--smoke", action="store_true", help="tiny bench counts (tests)")
    ap.add_argument("--replot", metavar="DIR",
                    help="only redraw the plots of an existing compare directory")
    args = ap.parse_args(argv)
    if args.replot:
        return replot(args.replot)
    if args.iterations < 100:
        ap.error("--iterations must be at least 100")
    for tool in (args.exstress, args.bench):
        if not os.access(tool, os.X_OK):
            print(f"compare.py: {tool} not found: run 'make' first", file=sys.stderr)
            return 2
    try:
        if args.outdir:
            if os.path.isdir(args.outdir) and os.listdir(args.outdir):
                raise Failure(f"{args.outdir} exists and is not empty; not overwriting it")
            os.makedirs(args.outdir, exist_ok=True)
            outdir = args.outdir
        else:
            outdir = new_outdir()
        rows = []
        for scenario in SCENARIOS:
            for policy in POLICIES:
                name = f"{scenario}-{policy}"
                print(f"compare: exstress {name}", file=sys.stderr)
                rc, doc = run_exstress(args.exstress, outdir, name, policy, scenario,
                                       args.iterations, args.probe)
                rows.append(exstress_row(name, policy, scenario, rc, doc))
        for scenario in WORKAROUNDS:
            name = f"{scenario}-legacy-448"
            print(f"compare: exstress {name}", file=sys.stderr)
            rc, doc = run_exstress(args.exstress, outdir, name, "legacy-448", scenario,
                                   args.iterations, args.probe)
            rows.append(exstress_row(name, "legacy-448", scenario, rc, doc))
        print("compare: bench policy", file=sys.stderr)
        wakes = run_bench(args.bench, outdir, args.smoke)
        for r in rows:
            if r["scenario"] in SCENARIOS:
                r.update(wakes[r["policy"]])
        with open(os.path.join(outdir, "compare.json"), "w") as f:
            json.dump({"rows": [{k: r[k] for k in KEYS} for r in rows]}, f, indent=1)
        md = markdown(rows) + "\n" + "\n".join(f"- {s}" for s in sentences(rows)) + "\n"
        with open(os.path.join(outdir, "compare.md"), "w") as f:
            f.write(md)
        plots(rows, outdir)
    except Failure as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    print(md)
    expected = {"legacy-448": 1, "close-eventfd": 1, "weak-notifier": 1, "fixed": 0}
    wrong = [r["name"] for r in rows
             if r["exit"] != (expected[r["policy"]] if r["scenario"] in SCENARIOS else 0)]
    if wrong:
        print(f"compare: FAILED: unexpected verdict for {', '.join(wrong)}", file=sys.stderr)
        return 1
    print(f"compare: OK: {outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
