#!/usr/bin/python3
"""make compare: the seed's fixes and workarounds for glommio issue 448, measured
side by side in one run.

Runs exstress on issue448 and a parking-heavy scenario (joins) under each drop
policy (legacy-448 = the bug, close-eventfd = option B, weak-notifier = option
C, fixed = option A), the two workaround scenarios (long-lived, thread-local),
and bench's per-policy wake-path figures, then writes into a new
results/compare-YYYYMMDD-HHMMSS/ (or --outdir):

  compare.json      {"rows": [...]} one row per run (keys below), "wake": the
                    wake-path figures with their noise
  compare.md        the table in Markdown (the README's columns), the wake
                    path's raw figures, one sentence per option
  eventfd.png       eventfds after each iteration, every row on one axis
  memory.png        VSZ, RSS and the exact heap after each iteration
  *.csv, *.json, *.log   each exstress run; bench.json

Every output says when a run was made without the eBPF probe (exstress fell
back to /proc alone): a line above the table, the probe column, the plots'
titles. A wake-path cost is stated only when it is outside the run's own
noise: bench repeats each figure, interleaved with fixed, and a ratio counts
only if every repetition's ratio lies beyond what fixed against itself spans
(else "within noise", with both spreads).

Exit status: 0 when every run ended as expected (legacy-448, close-eventfd and
weak-notifier leak, fixed and the workarounds pass), 1 otherwise, 2 on a usage
or environment error.
"""
import argparse
import json
import os
import subprocess
import sys

from results_dir import results_dir

POLICIES = ("legacy-448", "close-eventfd", "weak-notifier", "fixed")
OPTION = {"legacy-448": "the bug", "close-eventfd": "option B", "weak-notifier": "option C",
          "fixed": "option A"}
SCENARIOS = ("issue448", "joins")
WORKAROUNDS = ("long-lived", "thread-local")
KEYS = ("name", "policy", "scenario", "eventfd_per_iter", "io_uring_per_iter",
        "vsz_slope_bytes_per_iter", "rss_slope_bytes_per_iter", "heap_bytes_per_iter",
        "destructors_run_pct", "parked_bytes_left_per_iter", "iteration_us",
        "foreign_wake_ns", "foreign_wake_ratio_to_fixed", "local_wake_ratio_to_fixed",
        "executor_cycle_ratio_to_fixed", "iteration_us_p10", "iteration_us_p90", "probe",
        "verdict", "exit")


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
        doc = json.load(f)
    # exstress's own line when it fell back to /proc: the reason
    doc["_probe_why"] = None
    with open(base + ".log") as log:
        for line in log:
            if "eBPF probe" in line and "/proc" in line:
                doc["_probe_why"] = line.strip().removeprefix("exstress: ")
                break
    return rc, doc


def iteration_spread(csv_path):
    """(p10, p90) of the measured iterations' own times in µs, from the CSV's
    elapsed_ms (a row per iteration): the run's own noise; (None, None)
    when there are too few rows."""
    import csv as csvmod
    try:
        with open(csv_path, newline="") as f:
            rd = csvmod.DictReader(f)
            rows = [(int(r["iteration"]), float(r["elapsed_ms"])) for r in rd
                    if r["phase"] == "measure"]
    except (OSError, KeyError, ValueError):
        return None, None
    d = sorted(1000.0 * (b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(rows, rows[1:])
               if b[0] > a[0])
    if len(d) < 10:
        return None, None
    return d[len(d) // 10], d[(9 * len(d)) // 10]


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
        "iteration_us_p10": None, "iteration_us_p90": None,
        "foreign_wake_ns": None, "foreign_wake_ratio_to_fixed": None,
        "local_wake_ratio_to_fixed": None, "executor_cycle_ratio_to_fixed": None,
        "probe": sc.get("probe") or doc.get("probe") or "unknown",
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
    return wake_figures(figs)


# Fewer repetitions than this say nothing about noise (bench --smoke runs 1).
MIN_REPS = 3


def paired(fig):
    """Each repetition's ratio to the fixed repetition interleaved with it."""
    return [v / b for v, b in zip(fig["values"], fig["baseline_values"]) if b]


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return (xs[n // 2] + xs[(n - 1) // 2]) / 2 if n else None


def wake_figures(figs):
    """Per policy and wake kind: the medians (the policy's and fixed's in
    the same interleaved run), their ratio, every repetition's paired ratio
    and whether the ratio is outside the noise. The noise is what fixed
    against itself spans (policy/fixed:KIND, 1 included): a ratio counts
    only when all its repetitions lie above that span or all below it."""
    out = {}
    for kind in ("foreign_wake", "local_wake", "executor_cycle"):
        def fig(policy):
            r = figs.get(f"policy/{policy}:{kind}")
            if r is None or r.get("error"):
                raise Failure(f"bench.json has no policy/{policy}:{kind} figure")
            return r
        self_pairs = paired(fig("fixed"))
        lo, hi = min(self_pairs + [1.0]), max(self_pairs + [1.0])
        for policy in POLICIES:
            f = fig(policy)
            pairs = paired(f)
            ns, base = f["median"], f["baseline_median"]
            if policy == "fixed":
                verdict = "reference"
            elif len(pairs) < MIN_REPS:
                verdict = "too few repetitions"
            elif min(pairs) > hi:
                verdict = "costlier"
            elif max(pairs) < lo:
                verdict = "cheaper"
            else:
                verdict = "within noise"
            out.setdefault(policy, {})[kind] = {
                "ns": ns, "fixed_ns": base, "ratio": ns / base if base else None,
                "paired_min": min(pairs) if pairs else None,
                "paired_max": max(pairs) if pairs else None,
                "reps": len(pairs), "noise_min": lo, "noise_max": hi,
                "verdict": verdict, "unit": f.get("unit", "ns"),
            }
    return out


def wake_columns(w):
    """The table row's wake keys (compare.json), from wake_figures()."""
    return {
        "foreign_wake_ns": w["foreign_wake"]["ns"],
        "foreign_wake_ratio_to_fixed": w["foreign_wake"]["ratio"],
        "local_wake_ratio_to_fixed": w["local_wake"]["ratio"],
        "executor_cycle_ratio_to_fixed": w["executor_cycle"]["ratio"],
    }


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


# The README's table's columns, in its order (scripts/tests/test_compare.sh
# checks that the README's header is this one).
HEAD = ["run", "eventfd/iter", "heap bytes/iter", "destructors run", "parked bytes left/iter",
        "µs/iter", "foreign wake vs fixed", "local wake vs fixed", "probe", "verdict"]


def ratio_cell(policy, wake, kind):
    """A ratio as the table shows it: fixed is the reference; a ratio inside
    the noise says so."""
    if wake is None or policy not in wake:
        return "-"
    w = wake[policy][kind]
    if w["verdict"] == "reference":
        return "1 (reference)"
    cell = fmt(w["ratio"], ".3f")
    return cell + ({"within noise": " (within noise)", "too few repetitions": " (too few reps)"}
                   .get(w["verdict"], ""))


def probe_line(rows):
    """One line: were the runs made with the eBPF probe?"""
    without = [r for r in rows if r["probe"] == "proc-only"]
    if not without:
        n = sum(1 for r in rows if r["probe"] == "bpf")
        return (f"probe: eBPF (fdtrack) and /proc in all {n} runs" if n == len(rows) else
                f"probe: eBPF (fdtrack) and /proc in {n} of {len(rows)} runs (the others: not recorded)")
    why = next((r.get("probe_why") for r in without if r.get("probe_why")), None)
    return (f"probe: WITHOUT the eBPF probe in {len(without)} of {len(rows)} runs "
            f"(/proc sampling only: fd counts and memory measured, no opening stacks)"
            + (f"; exstress said: {why}" if why else ""))


def markdown(rows, wake=None):
    lines = [probe_line(rows), "",
             "| " + " | ".join(HEAD) + " |",
             "|---|" + "---:|" * 7 + "---|---|"]
    for r in rows:
        wk = wake if r["scenario"] in SCENARIOS else None
        pct = r["destructors_run_pct"]
        cells = [r["name"], fmt(r["eventfd_per_iter"], "+.3f"),
                 fmt(r["heap_bytes_per_iter"], "+.0f"),
                 "-" if pct is None else f"{pct:.0f}%",
                 fmt(r["parked_bytes_left_per_iter"], ".0f"), fmt(r["iteration_us"], ".0f"),
                 ratio_cell(r["policy"], wk, "foreign_wake"),
                 ratio_cell(r["policy"], wk, "local_wake"),
                 "bpf" if r["probe"] == "bpf" else f"**{r['probe']}**",
                 str(r["verdict"]).upper()]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def digits4(v):
    """At least 4 significant digits: the printed medians make the printed
    ratio (9.912 / 9.940, not 9.9 / 9.9)."""
    return f"{v:.{max(0, 3 - len(str(int(abs(v)))) + 1)}f}" if v >= 1 else f"{v:.4g}"


def wake_markdown(wake):
    """The wake path's raw figures: each ratio beside the two medians it is
    made of (both measured in the same interleaved run) and its noise."""
    head = ["policy", "figure", "median", "fixed's median (same run)", "ratio",
            "each repetition's ratio", "fixed against itself", "so"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for policy in POLICIES:
        for kind in ("foreign_wake", "local_wake", "executor_cycle"):
            w = wake[policy][kind]
            unit = w["unit"]
            lines.append("| " + " | ".join([
                "fixed (against itself: the noise)" if policy == "fixed" else policy,
                kind.replace("_", " "), f"{digits4(w['ns'])} {unit}",
                f"{digits4(w['fixed_ns'])} {unit}", fmt(w["ratio"], ".3f"),
                f"{fmt(w['paired_min'], '.3f')}-{fmt(w['paired_max'], '.3f')} ({w['reps']})",
                f"{w['noise_min']:.3f}-{w['noise_max']:.3f}", w["verdict"]]) + " |")
    return "\n".join(lines) + "\n"


def cost_words(name, w):
    """"its foreign wake costs 1.30x fixed's (...)" or "... within noise"."""
    spread = (f"each of {w['reps']} repetitions {w['paired_min']:.2f}-{w['paired_max']:.2f}x, "
              f"fixed against itself {w['noise_min']:.2f}-{w['noise_max']:.2f}x")
    if w["verdict"] == "costlier":
        return f"its {name} costs {w['ratio']:.2f}x fixed's ({spread})"
    if w["verdict"] == "cheaper":
        return f"its {name} takes {w['ratio']:.2f}x fixed's time ({spread})"
    if w["verdict"] == "too few repetitions":
        return f"its {name}: {w['ratio']:.2f}x fixed's, too few repetitions ({w['reps']}) to tell it from noise"
    return f"its {name} is within noise of fixed's ({w['ratio']:.2f}x; {spread})"


def sentences(rows, wake=None):
    """One plain sentence per option, from the numbers; a cost only where
    it is outside the noise (wake_figures)."""
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
        if wake and policy != "fixed":
            fw = cost_words("foreign wake", wake[policy]["foreign_wake"])
            s += (" " + fw[0].upper() + fw[1:]
                  + "; " + cost_words("local wake", wake[policy]["local_wake"]) + ".")
        out.append(s)
    fixed = by.get(("fixed", "issue448"))
    for name in WORKAROUNDS:
        r = by.get(("fixed", name)) or next((x for x in rows if x["scenario"] == name), None)
        if r:
            grows = (r["eventfd_per_iter"] or 0) > 0 or (r["heap_bytes_per_iter"] or 0) > 0
            out.append(f"**{name}** workaround (no fix, executors kept): "
                       f"{'something still grows' if grows else 'fds and memory stay flat'}, "
                       f"{fmt(r['iteration_us'], '.0f')} µs per iteration"
                       f"{time_words(r, fixed)}.")
    return out


def time_words(r, fixed):
    """", cheaper than ... " only when the two runs' iteration times do not
    overlap (each run's p10-p90 of its own iterations), else within noise."""
    keys = ("iteration_us_p10", "iteration_us_p90")
    if not fixed or any(x.get(k) is None for x in (r, fixed) for k in keys):
        return ""
    spread = (f"its iterations {r['iteration_us_p10']:.0f}-{r['iteration_us_p90']:.0f} µs "
              f"(p10-p90), fixed's on issue448 {fixed['iteration_us_p10']:.0f}-"
              f"{fixed['iteration_us_p90']:.0f}")
    if r["iteration_us_p90"] < fixed["iteration_us_p10"]:
        return (f", cheaper than creating and dropping executors per iteration under fixed "
                f"({fmt(fixed['iteration_us'], '.0f')} µs; {spread})")
    if r["iteration_us_p10"] > fixed["iteration_us_p90"]:
        return (f", costlier than creating and dropping executors per iteration under fixed "
                f"({fmt(fixed['iteration_us'], '.0f')} µs; {spread})")
    return f", within noise of fixed's {fmt(fixed['iteration_us'], '.0f')} µs ({spread})"


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

    # Markers at staggered points tell apart lines that lie on one another
    # (every option but legacy-448 sits at 0 eventfds).
    MARKERS = "os^vD<>pXh"

    def draw(ax, col, scale, markers=False):
        for i, run in enumerate(runs):
            if not all(row.get(col) is not None for row in run["rows"]):
                continue
            color, label, width, dash = run["style"]
            xs, ys = plot_curves.series(run["rows"], col, scale)
            extra = {}
            if markers:
                step = max(1, len(xs) // 8)
                extra = dict(marker=MARKERS[i % len(MARKERS)], markersize=7,
                             markevery=(i * step // len(runs) % step, step),
                             markerfacecolor="white", markeredgecolor=color)
            ax.plot(xs, ys, color=color, linestyle=dash, linewidth=width,
                    label=label, solid_capstyle="butt", **extra)
        ax.grid(True, alpha=0.3)

    without = probe_title(rows)
    note = ("legacy-448, B and C coincide where they leave the same parked "
            "tasks (drawn one inside the other)")
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=100)
    draw(ax, "fd_eventfd", 1.0, markers=True)
    ax.set_xlabel("iteration (executors created and dropped)")
    ax.set_ylabel("open eventfds")
    ax.set_title("eventfds after each iteration: only legacy-448 leaks them "
                 "(+2 per iteration, both scenarios)" + without, fontsize=10)
    # the flat lines named, by their value: they lie on one another
    flat = {}
    for run in runs:
        vals = {row.get("fd_eventfd") for row in run["rows"] if row["phase"] == "measure"}
        if len(vals) == 1 and None not in vals:
            flat.setdefault(vals.pop(), []).append(run["style"][1])
    if flat:
        text = "flat after warm-up (one marker style each):"
        for v in sorted(flat):
            text += f"\nall {v:g}:\n  " + "\n  ".join(sorted(flat[v]))
        ax.text(0.99, 0.22, text, transform=ax.transAxes, ha="right", va="bottom",
                fontsize=8, multialignment="left", bbox=dict(facecolor="white", alpha=0.9, edgecolor="0.7"))
    ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
    fig.tight_layout()
    # the title also as PNG text, so a reader (and the tests) can find it
    fig.savefig(os.path.join(outdir, "eventfd.png"),
                metadata={"Title": ax.get_title().replace("\n", " ")})
    plt.close(fig)

    # One legend for the three panels, beside them, so that it hides none
    # of their lines and reads the same for each.
    fig, axes = plt.subplots(3, 1, figsize=(14, 11), dpi=100, sharex=True)
    for ax, col, title in zip(axes, ("vsz_bytes", "rss_bytes", "heap_bytes"),
                              ("VSZ (MiB)", "RSS (MiB)", "live heap (MiB, exact)")):
        draw(ax, col, 1024.0 * 1024.0)
        ax.set_ylabel(title)
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=9, framealpha=0.9,
               title="every panel", title_fontsize=9)
    axes[-1].set_xlabel("iteration (executors created and dropped)")
    fig.suptitle("memory after each iteration: B and C stop the fd leak, not the "
                 "memory leak (their parked tasks are never destroyed)\n" + note + without,
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.72, 1))
    fig.savefig(os.path.join(outdir, "memory.png"),
                metadata={"Title": fig._suptitle.get_text().replace("\n", " ")})
    plt.close(fig)


def probe_title(rows):
    """The plots' words for runs made without the eBPF probe ("" if none)."""
    n = sum(1 for r in rows if r.get("probe") == "proc-only")
    if not n:
        return ""
    return (f"\nWITHOUT the eBPF probe in {n} of {len(rows)} runs (/proc sampling only)")


def replot(outdir):
    """Redraw the plots of an existing compare directory."""
    with open(os.path.join(outdir, "compare.json")) as f:
        rows = json.load(f)["rows"]
    for r in rows:  # a compare.json from before the probe was kept
        r.setdefault("probe", "unknown")
    plots(rows, outdir)
    print(f"compare: plots redrawn in {outdir}")
    return 0


def main(argv):
    ap = argparse.ArgumentParser(
        prog="compare.py", description=__doc__.split("\n")[0],
        epilog="Outputs and the noise rule: see the top of scripts/compare.py. Exit status: "
               "0 every verdict as expected, 1 one was not, 2 usage or environment error.")
    ap.add_argument("--exstress", default="build/bin/exstress", help="default: %(default)s")
    ap.add_argument("--bench", default="build/bin/bench", help="default: %(default)s")
    ap.add_argument("--iterations", type=int, default=1000,
                    help="measured iterations per exstress run (default %(default)s)")
    ap.add_argument("--probe", default="auto", choices=("auto", "require", "off"),
                    help="exstress --probe (default auto: the eBPF probe, or /proc alone where "
                         "BPF is not permitted, then --probe off for the other runs; said in "
                         "every output)")
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
        try:
            outdir = results_dir(args.outdir, "compare")
        except (ValueError, OSError) as e:
            raise Failure(str(e))
        rows = []
        probe = args.probe
        runs = [(sc, p, f"{sc}-{p}") for sc in SCENARIOS for p in POLICIES] + \
               [(sc, "legacy-448", f"{sc}-legacy-448") for sc in WORKAROUNDS]
        for scenario, policy, name in runs:
            print(f"compare: exstress {name}" + (" (--probe off)" if probe != args.probe else ""),
                  file=sys.stderr)
            rc, doc = run_exstress(args.exstress, outdir, name, policy, scenario,
                                   args.iterations, probe)
            row = exstress_row(name, policy, scenario, rc, doc)
            row["iteration_us_p10"], row["iteration_us_p90"] = iteration_spread(
                os.path.join(outdir, name + ".csv"))
            row["probe_why"] = doc.get("_probe_why")
            if probe == "off" and args.probe == "auto":
                row["probe_why"] = rows[0]["probe_why"]
            rows.append(row)
            if probe == "auto" and row["probe"] != "bpf":
                # it will not load in the next runs either: no time lost
                # trying again (the reason is exstress's, in its log)
                print("compare: the eBPF probe could not load here: /proc sampling only, "
                      "the other runs with --probe off" +
                      (f" ({row['probe_why']})" if row["probe_why"] else ""), file=sys.stderr)
                probe = "off"
        print("compare: bench policy", file=sys.stderr)
        wake = run_bench(args.bench, outdir, args.smoke)
        for r in rows:
            if r["scenario"] in SCENARIOS:
                r.update(wake_columns(wake[r["policy"]]))
        with open(os.path.join(outdir, "compare.json"), "w") as f:
            json.dump({"rows": [{k: r[k] for k in KEYS} for r in rows], "wake": wake},
                      f, indent=1)
        md = (markdown(rows, wake) + "\n" + "\n".join(f"- {s}" for s in sentences(rows, wake))
              + "\n\nThe wake path (`make bench`'s policy figures, each repetition "
              "interleaved with fixed's; a ratio is a cost only when every repetition's ratio "
              "lies beyond what fixed against itself spans):\n\n" + wake_markdown(wake))
        with open(os.path.join(outdir, "compare.md"), "w") as f:
            f.write(md)
        plots(rows, outdir)
    except Failure as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    print(md)
    expected = {"legacy-448": 1, "close-eventfd": 1, "weak-notifier": 1, "fixed": 0}
    # options B and C leak only memory: where exstress could not count the
    # heap (a sanitizer build owns malloc) their verdict says nothing
    unjudged = [r["name"] for r in rows
                if r["policy"] in ("close-eventfd", "weak-notifier")
                and r["scenario"] in SCENARIOS and r["heap_bytes_per_iter"] is None]
    wrong = [r["name"] for r in rows if r["name"] not in unjudged
             and r["exit"] != (expected[r["policy"]] if r["scenario"] in SCENARIOS else 0)]
    if wrong:
        print(f"compare: FAILED: unexpected verdict for {', '.join(wrong)}", file=sys.stderr)
        return 1
    if unjudged:
        print(f"compare: not judged: {', '.join(unjudged)} (they leak only memory, and "
              "this exstress could not count the heap: a sanitizer build)")
    print(f"compare: OK: {outdir}" + ("" if all(r["probe"] != "proc-only" for r in rows) else
                                       " (WITHOUT the eBPF probe: /proc sampling only)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
