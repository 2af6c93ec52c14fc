#!/usr/bin/python3
"""Draw exstress CSV runs as PNG curves.

Writes two pictures into OUTDIR:
  fd_curves.png      fds held after each iteration, a panel per fd kind that
                     moves in some run (eventfd always); the kinds flat in
                     every run are named in the title instead
  memory_curves.png  VSZ, RSS and (when the CSV has it) the exact live heap
                     after each iteration
One line per run (a run = one (scenario, policy) in one CSV file), labelled
with what the policy is (legacy-448 = the bug, fixed = the fix). The legend
gives the least-squares slope over the reference sample and the measured
iterations (phase "measure"): the window exstress judges, so the slope is
exstress's own. Warm-up iterations are shaded. The limits the
verdict used are drawn, one legend entry per run: fds and heap must stay at
the reference sample's value, the run's value at the end of its warm-up
(dashed; a leak in warm-up raises it), VSZ and RSS under the slope limit
from it (dotted; the limit comes from the run's JSON beside the CSV, else
exstress's default). A run made without the eBPF probe (JSON "probe":
"proc-only", or a CSV whose bpf_* columns are empty) is named in the titles.

Exit status: 0 written, 2 usage error or a missing/malformed CSV (the message
names the file and line).
"""
import argparse
import csv
import os
import sys
import textwrap

# Output size in pixels = FIGSIZE * DPI (tests check the PNG header for it).
FIGSIZE = (10.0, 7.5)  # inches
DPI = 100

# Every exstress CSV has these; fd_* and bpf_* columns are read as they come
# (per kind; older CSVs have fd_eventfd, fd_io_uring, fd_other), heap_* when
# present (exstress with exact heap accounting).
COLUMNS = ("scenario,policy,iteration,phase,elapsed_ms,fd_eventfd,vsz_bytes,"
           "rss_bytes").split(",")
NUMERIC = ("iteration", "elapsed_ms", "vsz_bytes", "rss_bytes")
OPTIONAL_PREFIXES = ("bpf_", "heap_")
PHASES = ("baseline", "warmup", "measure")

# legacy-448 in red, fixed in green; anything else from the default cycle.
LINESTYLES = ("-", "--", "-.", ":")
POLICY_COLORS = {"legacy-448": "#d62728", "fixed": "#2ca02c", "close-eventfd": "#ff7f0e",
                 "weak-notifier": "#9467bd", "glommio-448": "#d62728", "glommio-fixed": "#2ca02c"}
POLICY_ROLE = {"legacy-448": "the bug", "fixed": "the fix", "close-eventfd": "option B",
               "weak-notifier": "option C", "glommio-448": "the bug in glommio's shape",
               "glommio-fixed": "the fix, glommio's shape"}
DEFAULT_SLOPE_LIMIT = 1024.0  # bytes/iteration, exstress's default


class CsvError(Exception):
    pass


def read_runs(path):
    """Return a list of runs {label, scenario, policy, rows: {col: [values]}}."""
    try:
        f = open(path, newline="")
    except OSError as e:
        raise CsvError(f"{path}: cannot open: {e.strerror}")
    runs = {}
    with f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise CsvError(f"{path}:1: empty file, expected the exstress CSV header")
        except csv.Error as e:
            raise CsvError(f"{path}:1: {e}")
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise CsvError(f"{path}:1: missing column(s) {', '.join(missing)} "
                           f"(expected the exstress CSV header: {','.join(COLUMNS)})")
        fd_cols = [c for c in header if c.startswith("fd_")]
        opt_cols = [c for c in header if c.startswith(OPTIONAL_PREFIXES)]
        idx = {c: header.index(c) for c in header}
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise CsvError(f"{path}:{line}: {len(row)} fields, expected {len(header)}")
                rec = {}
                for c in NUMERIC + tuple(fd_cols):
                    rec[c] = _number(path, line, c, row[idx[c]])
                for c in opt_cols:
                    v = row[idx[c]]
                    rec[c] = None if v == "" else _number(path, line, c, v)
                phase = row[idx["phase"]]
                if phase not in PHASES:
                    raise CsvError(f"{path}:{line}: column phase: '{phase}' is not one of "
                                   f"{', '.join(PHASES)}")
                rec["phase"] = phase
                key = (row[idx["scenario"]], row[idx["policy"]])
                run = runs.setdefault(key, {"scenario": key[0], "policy": key[1],
                                            "file": path, "rows": [], "fd_cols": fd_cols})
                run["rows"].append(rec)
        except csv.Error as e:
            raise CsvError(f"{path}:{reader.line_num}: {e}")
    if not runs:
        raise CsvError(f"{path}: no samples after the header")
    doc = run_doc(path)
    limit = slope_limits(doc)
    for run in runs.values():
        run["slope_limit"] = limit
        run["probe"] = doc.get("probe") or csv_probe(run)
        run["json_slopes"] = json_slopes(doc, run["scenario"])
    return list(runs.values())


def run_doc(csv_path):
    """The run's JSON beside the CSV (same name, .json), read once; {} when
    there is none."""
    import json
    base = csv_path[:-4] if csv_path.endswith(".csv") else csv_path
    try:
        with open(base + ".json") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def json_slopes(doc, scenario):
    """exstress's own VSZ and RSS slopes (bytes/iteration) of a scenario, by
    CSV column: the table prints these, so the plots must too (a slope
    fitted again here can round the other way). {} without a JSON."""
    for sc in doc.get("scenarios") or []:
        if isinstance(sc, dict) and sc.get("scenario") == scenario:
            return {col: float(sc[key]) for col, key in
                    (("vsz_bytes", "vsz_slope_bytes_per_iter"),
                     ("rss_bytes", "rss_slope_bytes_per_iter"))
                    if isinstance(sc.get(key), (int, float))}
    return {}


def fitted_slope(run, rows, col):
    """A column's slope in its unit per iteration: exstress's where its JSON
    has it, else the least-squares fit over exstress's window."""
    if col in run.get("json_slopes", {}):
        return run["json_slopes"][col]
    return slope(*series(fit_window(rows), col))


def csv_probe(run):
    """From the CSV alone: exstress leaves the bpf_* columns empty without
    the probe (None: an older CSV with no such column)."""
    rows = run["rows"]
    if not rows or "bpf_eventfd_opens" not in rows[0]:
        return None
    return "bpf" if any(r["bpf_eventfd_opens"] is not None for r in rows) else "proc-only"


def probe_note(runs):
    """The titles' words for runs made without the eBPF probe ("" if none)."""
    without = [f"{r['policy']}" for r in runs if r.get("probe") == "proc-only"]
    if not without:
        return ""
    who = "every run" if len(without) == len(runs) else ", ".join(without)
    return f"\nWITHOUT the eBPF probe ({who}): /proc sampling only"


def slope_limits(doc):
    """(vsz, rss) slope limits in bytes/iteration: from the run's JSON when
    there is one, else exstress's default."""
    lim = doc.get("limits") or {}
    try:
        return (float(lim.get("vsz_slope", DEFAULT_SLOPE_LIMIT)),
                float(lim.get("rss_slope", DEFAULT_SLOPE_LIMIT)))
    except (ValueError, TypeError, AttributeError):
        return (DEFAULT_SLOPE_LIMIT, DEFAULT_SLOPE_LIMIT)


def _number(path, line, col, text):
    try:
        v = float(text)
    except ValueError:
        raise CsvError(f"{path}:{line}: column {col}: '{text}' is not a number")
    if v != v or v in (float("inf"), float("-inf")):
        raise CsvError(f"{path}:{line}: column {col}: '{text}' is not a finite number")
    return v


def slope(xs, ys):
    """Least-squares slope of ys against xs (0 for fewer than two points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def fit_window(rows):
    """The samples exstress fits its slopes to: the reference (the last one
    before "measure") and the measured ones, so that the slopes here are
    exstress's; all samples if none are measured."""
    m = [r for r in rows if r["phase"] == "measure"]
    ref = [r for r in rows if r["phase"] != "measure"][-1:]
    return ref + m if len(m) >= 2 else rows


def series(rows, col, scale=1.0):
    return [r["iteration"] for r in rows], [r[col] / scale for r in rows]


def run_label(run, multi_file):
    role = POLICY_ROLE.get(run["policy"])
    label = f"{run['policy']}{f' ({role})' if role else ''}, {run['scenario']}"
    if multi_file:
        label += f" ({os.path.basename(run['file'])})"
    return label


def warmup_end(runs):
    ends = [max((r["iteration"] for r in run["rows"] if r["phase"] != "measure"), default=0)
            for run in runs]
    return max(ends) if ends else 0


def reference_row(run):
    """The sample the verdict compares with: the last one before "measure"."""
    ref = None
    for r in run["rows"]:
        if r["phase"] != "measure":
            ref = r
    return ref or run["rows"][0]


def kind_name(col):
    return col[3:].replace("socket_", "socket:") if col.startswith("fd_") else col


def moving_kinds(runs):
    """fd columns that change in some run (eventfd always), and those flat in
    every run, with their value."""
    cols = []
    for run in runs:
        cols += [c for c in run["fd_cols"] if c not in cols]
    moving, flat = [], []
    for c in cols:
        vals = [(run, [r[c] for r in run["rows"] if c in r]) for run in runs]
        if c == "fd_eventfd" or any(v and max(v) != min(v) for _, v in vals):
            moving.append(c)
        else:
            flat.append((c, sorted({v[0] for _, v in vals if v})))
    return moving, flat


def parse_ref_slope(text):
    """--ref-slope COLUMN:PER_ITERATION:LABEL (PER_ITERATION in the column's
    own unit: fds, or bytes for vsz_bytes/rss_bytes/heap_bytes)."""
    parts = text.split(":", 2)
    try:
        if len(parts) != 3 or not parts[0] or not parts[2]:
            raise ValueError
        return parts[0], float(parts[1]), parts[2]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not COLUMN:PER_ITERATION:LABEL (e.g. fd_eventfd:12:seed)")


def draw_ref_slopes(ax, col, scale, runs, refs):
    """Reference slopes (--ref-slope) for this column: thin black lines from
    the first run's reference sample, so a run's curve can be set beside
    a slope reported elsewhere."""
    first = next((r for r in runs if reference_row(r).get(col) is not None), None)
    if first is None:
        return
    ref = reference_row(first)
    x0, y0 = ref["iteration"], ref[col] / scale
    x1 = max(r["rows"][-1]["iteration"] for r in runs)
    for i, (c, per_iter, label) in enumerate(refs):
        if c == col:
            ax.plot([x0, x1], [y0, y0 + per_iter / scale * (x1 - x0)], color="black",
                    linewidth=1.0, linestyle=("-.", ":")[i % 2], alpha=0.8, zorder=3,
                    label=f"reference: {label}")


def draw(runs, outdir, refs=()):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {run["file"] for run in runs}
    multi_file = len(files) > 1 and len({(r["scenario"], r["policy"]) for r in runs}) < len(runs)
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    policies = [run["policy"] for run in runs]
    by_policy = len(set(policies)) == len(policies)  # one run per policy
    colors = {}
    for i, run in enumerate(runs):
        colors[id(run)] = (POLICY_COLORS.get(run["policy"]) if by_policy else None) \
            or cycle[i % len(cycle)]
    wend = warmup_end(runs)

    def panel(ax, col, scale, unit_slope, slope_scale, ylabel, title, limit=None,
              unit=""):
        """limit: "equal" (fds, heap: the reference value) or an index into
        run["slope_limit"] (VSZ 0, RSS 1: a slope from the reference)."""
        for run in runs:
            rows = [r for r in run["rows"] if r.get(col) is not None]
            if not rows:
                continue
            xs, ys = series(rows, col, scale)
            s = fitted_slope(run, rows, col) / slope_scale
            color = colors[id(run)]
            # later runs dashed, so a run lying on top of another stays visible
            ax.plot(xs, ys, color=color, linewidth=1.8,
                    linestyle=LINESTYLES[runs.index(run) % len(LINESTYLES)],
                    label=f"{run_label(run, multi_file)}: slope {s:+.3f} {unit_slope}")
            ref = reference_row(run)
            if ref.get(col) is None:
                continue
            x0, y0, x1 = ref["iteration"], ref[col] / scale, xs[-1]
            if limit == "equal":
                ax.plot([x0, x1], [y0, y0], color=color, linewidth=1.2, linestyle=(0, (4, 3)),
                        alpha=0.9, label=f"limit, {run['policy']}: {y0:.4g}{unit} exactly, its "
                        f"value at the end of warm-up (iteration {x0:g})")
            elif limit is not None:
                per_iter = run["slope_limit"][limit] / scale
                ax.plot([x0, x1], [y0, y0 + per_iter * (x1 - x0)], color=color, linewidth=1.2,
                        linestyle=":", alpha=0.9,
                        label=f"limit, {run['policy']}: slope +{run['slope_limit'][limit] / 1024:g} "
                        f"KiB/iteration from its end-of-warm-up value")
        draw_ref_slopes(ax, col, scale, runs, refs)
        if wend > 0:
            ax.axvspan(0, wend, color="0.92", zorder=0,
                       label="warm-up: not judged; a run's limits start at its end")
        ax.set_xlabel("iteration (executors created and dropped)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3)
        # "best": matplotlib keeps the legend off the lines where it can
        ax.legend(loc="best", fontsize=7 if limit in (0, 1) else 8, framealpha=0.85)

    written = []

    moving, flat = moving_kinds(runs)
    moving = moving[:3]
    fig, axes = plt.subplots(len(moving), 1, figsize=FIGSIZE, dpi=DPI, sharex=True,
                             squeeze=False)
    for ax, col in zip(axes[:, 0], moving):
        kind = kind_name(col)
        panel(ax, col, 1.0, "fds/iteration", 1.0, f"open {kind} fds",
              f"{kind} fds held after each iteration", limit="equal", unit=" fds")
        if ax.get_ylim()[1] < 4:
            ax.set_ylim(-0.5, 4)
        ax.xaxis.set_tick_params(labelbottom=True)
    note = ""
    if flat:
        # the kinds held named with their values, the zeros summed up
        held = [f"{kind_name(c)} {'/'.join(f'{v:g}' for v in vals)}"
                for c, vals in flat if any(vals) or kind_name(c) == "io_uring"]
        zeros = len(flat) - len(held)
        text = "flat in every run: " + ", ".join(held)
        if zeros:
            text += f"; the {zeros} other kinds 0"
        note = "\n" + "\n".join(textwrap.wrap(text, 140))
    without = probe_note(runs)
    title = ("exstress: fds after each iteration (from /proc/self/fd); "
             "slope = least-squares fit after warm-up" + note + without)
    fig.suptitle(title, fontsize=10, color="black")
    fig.tight_layout()
    path = os.path.join(outdir, "fd_curves.png")
    # the title also as PNG text (a reader, and the tests, can find it)
    fig.savefig(path, dpi=DPI, metadata={"Title": title.replace("\n", " ")})
    plt.close(fig)
    written.append(path)

    mib = 1024.0 * 1024.0
    heap = any(r.get("heap_bytes") is not None for run in runs for r in run["rows"])
    fig, axes = plt.subplots(3 if heap else 2, 1, figsize=FIGSIZE, dpi=DPI, sharex=True)
    panel(axes[0], "vsz_bytes", mib, "KiB/iteration", 1024.0, "VSZ (MiB)",
          "virtual memory size (VSZ) after each iteration", limit=0)
    panel(axes[1], "rss_bytes", mib, "KiB/iteration", 1024.0, "RSS (MiB)",
          "resident set size (RSS) after each iteration", limit=1)
    if heap:
        panel(axes[2], "heap_bytes", mib, "bytes/iteration", 1.0, "live heap (MiB)",
              "live heap after each iteration (exact: malloc & co. counted)", limit="equal",
              unit=" MiB")
    for ax in axes:
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
        ax.xaxis.set_tick_params(labelbottom=True)
    title = ("exstress: memory after each iteration (/proc/self/statm; heap: exstress's "
             "own count); slope = least-squares fit after warm-up\ndotted (VSZ, RSS): the "
             "steepest least-squares slope a run may have (--vsz/--rss-slope-limit), from its "
             "end-of-warm-up value" + without)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = os.path.join(outdir, "memory_curves.png")
    fig.savefig(path, dpi=DPI, metadata={"Title": title.replace("\n", " ")})
    plt.close(fig)
    written.append(path)
    return written


def main(argv):
    ap = argparse.ArgumentParser(
        prog="plot_curves.py",
        description="Plot exstress CSV files: fd_curves.png (eventfd and io_uring fds "
                    "against iteration) and memory_curves.png (VSZ and RSS in MiB against "
                    "iteration), one line per (policy, scenario) run, with the least-squares "
                    "slope over the measured iterations in the legend.",
        epilog=f"Images are {int(FIGSIZE[0] * DPI)}x{int(FIGSIZE[1] * DPI)} pixels. "
               "Exit status: 0 written, 2 usage error or missing/malformed CSV.")
    ap.add_argument("csv", nargs="+", metavar="CSV", help="exstress --csv output file(s)")
    ap.add_argument("-o", "--outdir", default=".",
                    help="directory for the PNGs (created if missing; default: .)")
    ap.add_argument("--ref-slope", action="append", default=[], type=parse_ref_slope,
                    metavar="COLUMN:PER_ITERATION:LABEL",
                    help="also draw a reference slope on COLUMN's panel (e.g. fd_eventfd or "
                         "vsz_bytes, PER_ITERATION in fds or bytes) from the first run's "
                         "reference sample; may be repeated")
    args = ap.parse_args(argv)

    runs = []
    try:
        for path in args.csv:
            runs.extend(read_runs(path))
    except CsvError as e:
        print(f"plot_curves.py: {e}", file=sys.stderr)
        return 2
    # legacy-448 first (solid), fixed over it (dashed), then the rest in order
    rank = {"legacy-448": 0, "glommio-448": 0, "close-eventfd": 1, "weak-notifier": 2,
            "fixed": 3, "glommio-fixed": 3}
    runs.sort(key=lambda r: rank.get(r["policy"], 4))
    try:
        os.makedirs(args.outdir, exist_ok=True)
    except OSError as e:
        print(f"plot_curves.py: cannot create {args.outdir}: {e.strerror}", file=sys.stderr)
        return 2
    for path in draw(runs, args.outdir, args.ref_slope):
        print(f"wrote {path}")
    for run in runs:
        rows = run["rows"]
        f = {c: fitted_slope(run, rows, c) if c in rows[0] else 0.0
             for c in ("fd_eventfd", "fd_io_uring", "vsz_bytes", "rss_bytes")}
        print(f"slope {run['policy']}, {run['scenario']}: eventfd {f['fd_eventfd']:+.3f} "
              f"io_uring {f['fd_io_uring']:+.3f} fds/iteration, VSZ {f['vsz_bytes'] / 1024:+.3f} "
              f"RSS {f['rss_bytes'] / 1024:+.3f} KiB/iteration")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
