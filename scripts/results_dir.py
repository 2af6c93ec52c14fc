"""Where a script's run writes its outputs (make compare, make
compare-runtimes): the folder the user named, or a new
results/PREFIX-YYYYMMDD-HHMMSS/ (with -2, -3, ... if that one exists)."""

import datetime
import os


def results_dir(outdir, prefix):
    """OUTDIR, created, refused if it already holds files; without it a new
    results/PREFIX-* folder. Raises ValueError saying why not."""
    if outdir:
        if os.path.isdir(outdir) and os.listdir(outdir):
            raise ValueError(f"{outdir} exists and is not empty; not overwriting it")
        os.makedirs(outdir, exist_ok=True)
        return outdir
    base = os.path.join("results", prefix + "-" +
                        datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    for n in range(1, 100):
        path = base if n == 1 else f"{base}-{n}"
        try:
            os.makedirs(path)
            return path
        except FileExistsError:
            continue
    raise ValueError(f"cannot create a new folder next to {base}")
