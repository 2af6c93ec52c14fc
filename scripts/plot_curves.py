#!/usr/bin/python3
"""Draw exstress CSV runs as PNG curves.

Writes two pictures into OUTDIR:
  fd_curves.png      eventfd and io_uring fds held after each iteration
  memory_curves.png  VSZ and RSS (MiB) after each iteration
One line per run (a run = one (scenario, policy) in one CSV file). The legend
gives the least-squares slope over the measured iterations (phase "measure",
the window exstress judges): fds/iteration and KiB/iteration. Warm-up
iterations are shaded.

Exit status: 0 written, 2 usage error or a missing/malformed CSV (the message
names the file and line).
"""
import argparse
import csv
import os
import sys

# Output size in pixels = FIGSIZE * DPI (tests check the PNG header for it).
FIGSIZE = (10.0, 7.5)  # inches
DPI = 100

COLUMNS = ("scenario,policy,iteration,phase,elapsed_ms,fd_eventfd,fd_io_uring,"
           "fd_other,vsz_bytes,rss_bytes,bpf_eventfd_opens,bpf_eventfd_closes,"
           "bpf_eventfd_live,bpf_io_uring_opens,bpf_io_uring_closes,"
           "bpf_io_uring_live,bpf_lost_events").split(",")
NUMERIC = ("iteration", "elapsed_ms", "fd_eventfd", "fd_io_uring", "fd_other",
           "vsz_bytes", "rss_bytes")
OPTIONAL_NUMERIC = tuple(c for c in COLUMNS if c.startswith("bpf_"))
PHASES = ("baseline", "warmup", "measure")

# legacy-448 in red, fixed in green; anything else from the default cycle.
LINESTYLES = ("-", "--", "-.", ":")
POLICY_COLORS = {"legacy-448": "#d62728", "fixed": "#2ca02c"}


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
        idx = {c: header.index(c) for c in COLUMNS}
        try:
            for row in reader:
                line = reader.line_num
                if not row:
                    continue
                if len(row) != len(header):
                    raise CsvError(f"{path}:{line}: {len(row)} fields, expected {len(header)}")
                rec = {}
                for c in NUMERIC:
                    rec[c] = _number(path, line, c, row[idx[c]])
                for c in OPTIONAL_NUMERIC:
                    v = row[idx[c]]
                    rec[c] = None if v == "" else _number(path, line, c, v)
                phase = row[idx["phase"]]
                if phase not in PHASES:
                    raise CsvError(f"{path}:{line}: column phase: '{phase}' is not one of "
                                   f"{', '.join(PHASES)}")
                rec["phase"] = phase
                key = (row[idx["scenario"]], row[idx["policy"]])
                run = runs.setdefault(key, {"scenario": key[0], "policy": key[1],
                                            "file": path, "rows": []})
                run["rows"].append(rec)
        except csv.Error as e:
            raise CsvError(f"{path}:{reader.line_num}: {e}")
    if not runs:
        raise CsvError(f"{path}: no samples after the header")
    return list(runs.values())


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
    """The measured samples (what exstress judges); all samples if none."""
    m = [r for r in rows if r["phase"] == "measure"]
    return m if len(m) >= 2 else rows


def series(rows, col, scale=1.0):
    return [r["iteration"] for r in rows], [r[col] / scale for r in rows]


def run_label(run, multi_file):
    label = f"{run['policy']}, {run['scenario']}"
    if multi_file:
        label += f" ({os.path.basename(run['file'])})"
    return label


def warmup_end(runs):
    ends = [max((r["iteration"] for r in run["rows"] if r["phase"] != "measure"), default=0)
            for run in runs]
    return max(ends) if ends else 0


def draw(runs, outdir):
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

    def panel(ax, col, scale, unit_slope, slope_scale, ylabel, title):
        for run in runs:
            xs, ys = series(run["rows"], col, scale)
            fx, fy = series(fit_window(run["rows"]), col, 1.0)
            s = slope(fx, fy) / slope_scale
            # later runs dashed, so a run lying on top of another stays visible
            ax.plot(xs, ys, color=colors[id(run)], linewidth=1.8,
                    linestyle=LINESTYLES[runs.index(run) % len(LINESTYLES)],
                    label=f"{run_label(run, multi_file)}: slope {s:+.3f} {unit_slope}")
        if wend > 0:
            ax.axvspan(0, wend, color="0.92", zorder=0, label="warm-up (not judged)")
        ax.set_xlabel("iteration (executors created and dropped)")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.set_xlim(left=0)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=9, framealpha=0.9)

    written = []

    fig, (a1, a2) = plt.subplots(2, 1, figsize=FIGSIZE, dpi=DPI, sharex=True)
    panel(a1, "fd_eventfd", 1.0, "fds/iteration", 1.0, "open eventfd fds",
          "eventfd fds held after each iteration")
    panel(a2, "fd_io_uring", 1.0, "fds/iteration", 1.0, "open io_uring fds",
          "io_uring ring fds held after each iteration")
    for ax in (a1, a2):
        if ax.get_ylim()[1] < 4:
            ax.set_ylim(-0.5, 4)
    a1.xaxis.set_tick_params(labelbottom=True)
    fig.suptitle("exstress: fds after each iteration (from /proc/self/fd); "
                 "slope = least-squares fit after warm-up")
    fig.tight_layout()
    path = os.path.join(outdir, "fd_curves.png")
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    written.append(path)

    mib = 1024.0 * 1024.0
    fig, (a1, a2) = plt.subplots(2, 1, figsize=FIGSIZE, dpi=DPI, sharex=True)
    panel(a1, "vsz_bytes", mib, "KiB/iteration", 1024.0, "VSZ (MiB)",
          "virtual memory size (VSZ) after each iteration")
    panel(a2, "rss_bytes", mib, "KiB/iteration", 1024.0, "RSS (MiB)",
          "resident set size (RSS) after each iteration")
    for ax in (a1, a2):
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")
    a1.xaxis.set_tick_params(labelbottom=True)
    fig.suptitle("exstress: memory after each iteration (from /proc/self/statm); "
                 "slope = least-squares fit after warm-up")
    fig.tight_layout()
    path = os.path.join(outdir, "memory_curves.png")
    fig.savefig(path, dpi=DPI)
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
    args = ap.parse_args(argv)

    runs = []
    try:
        for path in args.csv:
            runs.extend(read_runs(path))
    except CsvError as e:
        print(f"plot_curves.py: {e}", file=sys.stderr)
        return 2
    # legacy-448 first (solid), fixed over it (dashed), then the rest in order
    rank = {"legacy-448": 0, "fixed": 1}
    runs.sort(key=lambda r: rank.get(r["policy"], 2))
    try:
        os.makedirs(args.outdir, exist_ok=True)
    except OSError as e:
        print(f"plot_curves.py: cannot create {args.outdir}: {e.strerror}", file=sys.stderr)
        return 2
    for path in draw(runs, args.outdir):
        print(f"wrote {path}")
    for run in runs:
        w = fit_window(run["rows"])
        f = {c: slope(*series(w, c)) for c in ("fd_eventfd", "fd_io_uring", "vsz_bytes", "rss_bytes")}
        print(f"slope {run['policy']}, {run['scenario']}: eventfd {f['fd_eventfd']:+.3f} "
              f"io_uring {f['fd_io_uring']:+.3f} fds/iteration, VSZ {f['vsz_bytes'] / 1024:+.3f} "
              f"RSS {f['rss_bytes'] / 1024:+.3f} KiB/iteration")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
