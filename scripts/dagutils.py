"""Definitions shared by the stage scripts: product names, MS partitioning, sub-DAGs.

Nothing here imports CASA at module level, so writing DAGs and planning
partitions stays fast; the functions that read an MS import casatools lazily.

Layout of one run's products (relative to the run directory):

    products/params.json                the parameters, as prepareRun validated them
    products/partitions.json            the partition plan (written last by MSpartition)
    products/subms/<ms>.n<k>.ms         sub-MS k, a time range of whole integrations
    products/allImagers.dag             the gridding sub-DAG, one node per sub-MS
    products/parts/psf/n<k>/<img>.*     un-normalized PSF, weight, sumwt of sub-MS k
    products/parts/cycle<c>/n<k>/<img>.*  un-normalized residual, sumwt of sub-MS k, cycle c
    products/psf/<img>.*                summed, normalized PSF, weight, pb (and PSF sumwt)
    products/cycle<c>/<img>.*           summed, normalized residual of major cycle c
    products/minor<c>/record.json       the minor cycle run on that residual: iteration records
    products/minor<c>/<img>.model.*     the model after it, and the mask
    products/minor<c>/predict/<img>.*   that model as the gridders predict it (divided by weight)
    products/cycle<c>.dag               the DAG of major cycle c > 0: grid, add, deconvolve
    products/majorCycles.dag            cycles 1..N, each skipped once tclean's rules said stop
    products/final/<img>.*              restored images, alpha, pb (pbcor), summary
    logs/                               per-node stdout/stderr, CASA logs
"""
import bisect
import itertools
import json
import math
import os
import pickle
import shutil
import sys

import parameters

PRODUCTS = "products"
SUBDAG = os.path.join(PRODUCTS, "allImagers.dag")
PLAN = os.path.join(PRODUCTS, "partitions.json")
MAJORCYCLES = os.path.join(PRODUCTS, "majorCycles.dag")
CFFILL = os.path.join(PRODUCTS, "cfFill.dag")
WEIGHTS = os.path.join(PRODUCTS, "weights")
COORDSYS = os.path.join(PRODUCTS, "coordsys.pickle")   # the image's coordinates (prepareRun)
PARAMS_RECORD = os.path.join(PRODUCTS, "params.json")  # the parameters prepareRun validated
GRIDDING_RETRIES = 2
SKIP_EXIT = 99
# A job that stops on a parameter or input error exits with this (sysexits' EX_DATAERR);
# every RETRY line says UNLESS-EXIT it: trying again cannot help.
INPUT_EXIT = 65


class PartitionError(ValueError):
    """The MS cannot be split as asked; the message names the parameter."""


INPUT_ERRORS = (parameters.ParameterError, PartitionError)


def run_stage(stage, main, *args):
    """Run a stage script's main; a parameter or input error (INPUT_ERRORS) ends it with
    its message and INPUT_EXIT, so DAGMan does not retry it (RETRY ... UNLESS-EXIT)."""
    try:
        return main(*args)
    except INPUT_ERRORS as e:
        print(f"{stage}: {e}", file=sys.stderr)
        sys.exit(INPUT_EXIT)


def retry(node, times):
    """A node's RETRY line: retried on failure, unless it stopped on its input."""
    return f"RETRY {node} {times} UNLESS-EXIT {INPUT_EXIT}"


# ---------------------------------------------------------------- names
def part_id(k):
    return f"n{k}"


def subms_name(vis, k):
    base = os.path.basename(os.path.normpath(vis))
    stem = base[:-3] if base.endswith(".ms") else base
    return os.path.join(PRODUCTS, "subms", f"{stem}.{part_id(k)}.ms")


def stage_dir(stage, cycle=None):
    """products/psf or products/cycle<c>: the normalized images of one stage."""
    return os.path.join(PRODUCTS, stage if cycle is None else f"cycle{cycle}")


def part_dir(stage, part, cycle=None):
    """products/parts/<stage>/<part>: the un-normalized images of one sub-MS."""
    name = stage if cycle is None else f"cycle{cycle}"
    return os.path.join(PRODUCTS, "parts", name, part)


def density_image(params):
    """products/weights/<imagename>.gridwt: the weight density of the whole MS (uniform
    and Briggs weighting), summed from the sub-MSes' products/parts/weights/<part>."""
    return image_base(WEIGHTS, params) + ".gridwt"


def minor_dir(cycle):
    return os.path.join(PRODUCTS, f"minor{cycle}")


def image_base(folder, params):
    return os.path.join(folder, os.path.basename(params["imagename"]))


def max_cycles(params):
    """How many major cycles after the first the DAG holds (nmajor, else maxmajorcycles)."""
    if params["niter"] == 0:
        return 0
    return params["nmajor"] if params["nmajor"] >= 0 else params["maxmajorcycles"]


def read_record(cycle):
    """The minor-cycle record of a cycle, or None if that cycle has not finished."""
    path = os.path.join(minor_dir(cycle), "record.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def last_cycle():
    """The cycle whose record says stop (the run's last), or None if none does yet."""
    cycle = 0
    while (record := read_record(cycle)) is not None:
        if record["stopcode"] != 0:
            return cycle
        cycle += 1
    return None


# ---------------------------------------------------------------- image sets
def link_images(source, image, kinds):
    """Symbolic links image.<kind>[.ttN] -> source.<kind>[.ttN] (relative)."""
    for kind in kinds:
        for path in image_paths(source, kind):
            target = os.path.relpath(path, os.path.dirname(image))
            os.symlink(target, image + path[len(source):])


def assemble_cycle(params, cycle, image):
    """The image set of major cycle c at `image`: its residual (copied: the minor cycle
    and restoring update it), the PSF stage's images (linked) and, after cycle 0, the
    model and mask that made the residual (copied)."""
    residual = image_base(stage_dir("cycle", cycle), params)
    copy_images(residual, image, ["residual"])
    link_images(residual, image, ["psf", "weight", "pb", "sumwt"])
    if cycle > 0:
        copy_images(image_base(minor_dir(cycle - 1), params), image, ["model", "mask"])


def copy_images(source, image, kinds):
    for kind in kinds:
        for path in image_paths(source, kind):
            shutil.copytree(path, image + path[len(source):], symlinks=False)


def image_paths(imagename, kind):
    """Existing images of one kind: a single image or its Taylor terms."""
    names = [f"{imagename}.{kind}"] if os.path.exists(f"{imagename}.{kind}") else []
    term = 0
    while os.path.exists(f"{imagename}.{kind}.tt{term}"):
        names.append(f"{imagename}.{kind}.tt{term}")
        term += 1
    return names


# ---------------------------------------------------------------- atomic products
def publish_dir(tmp, final):
    """Move a finished folder into place; an older one (from a failed try) is replaced."""
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)


def fresh_dir(path):
    """An empty folder for work in progress (removing leftovers of an earlier try)."""
    if os.path.exists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def write_json(path, data):
    """Human-readable JSON, written atomically."""
    write_text_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def write_text_atomic(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- partitioning
def plan_partitions(times, counts, bytes_per_row, overhead, maxsize):
    """Split integrations (sorted unique times, rows per time) into time ranges.

    Each part holds whole integrations and at most `maxsize` bytes
    (`overhead` + rows * `bytes_per_row`); parts are balanced by rows and as
    few as the size allows.  Returns [(first_index, last_index), ...].
    """
    capacity = maxsize - overhead
    largest = max(counts) * bytes_per_row
    if capacity < largest:
        raise PartitionError(
            f"maxsubmssize = {maxsize} bytes is smaller than one integration "
            f"({largest:.0f} bytes) plus the MS sub-tables ({overhead} bytes)")
    total = sum(counts) * bytes_per_row
    for nparts in range(max(1, math.ceil(total / capacity)), len(times) + 1):
        ranges = balanced_ranges(counts, nparts)
        if all(rows(counts, r) * bytes_per_row <= capacity for r in ranges):
            return ranges
    raise AssertionError("one integration per part always fits")


def balanced_ranges(counts, nparts):
    """Cut the integrations into nparts ranges of nearly equal row counts."""
    cum = list(itertools.accumulate(counts))
    cuts = []
    for k in range(1, nparts):
        target = cum[-1] * k / nparts
        i = bisect.bisect_left(cum, target)
        if i > 0 and target - cum[i - 1] < cum[i] - target:
            i -= 1
        lowest = cuts[-1] + 1 if cuts else 0
        cuts.append(min(max(i, lowest), len(cum) - 1 - (nparts - k)))
    return list(zip([0] + [c + 1 for c in cuts], cuts + [len(cum) - 1]))


def rows(counts, r):
    return sum(counts[r[0]:r[1] + 1])


def time_bounds(times, r):
    """Open interval (lo, hi) around integrations r, halfway to the neighbours."""
    first, last = r
    lo = (times[first - 1] + times[first]) / 2 if first > 0 else times[first] - 1.0
    hi = (times[last] + times[last + 1]) / 2 if last + 1 < len(times) else times[last] + 1.0
    return lo, hi


def ms_layout(vis):
    """Unique integration times, rows per time, bytes per row, sub-table bytes."""
    import numpy as np
    import casaenv  # noqa: F401
    from casatools import table
    tb = table()
    tb.open(vis, nomodify=True)
    try:
        times = tb.getcol("TIME")
        subtables = [kw for kw, v in tb.getkeywords().items()
                     if isinstance(v, str) and v.startswith("Table: ")]
    finally:
        tb.close()
    if len(times) == 0:
        raise PartitionError(f"vis = {vis!r}: the measurement set has no rows")
    unique, counts = np.unique(times, return_counts=True)
    main = folder_bytes(vis, skip=subtables)
    overhead = sum(folder_bytes(os.path.join(vis, s)) for s in subtables)
    return unique.tolist(), counts.tolist(), main / len(times), overhead


def folder_bytes(path, skip=()):
    total = 0
    for entry in os.scandir(path):
        if entry.name in skip:
            continue
        total += folder_bytes(entry.path) if entry.is_dir() else entry.stat().st_size
    return total


def selected_times(vis, params):
    """Sorted unique times of the rows tclean's data selection picks (None: no selection)."""
    import numpy as np
    import casaenv  # noqa: F401
    from casatools import ms
    given = parameters.selection(params)
    if not given:
        return None
    tool = ms()
    tool.open(vis)
    try:
        tool.msselect({parameters.SELECTION[k]: v for k, v in given.items()})
        return np.unique(tool.getdata(["time"])["time"]).tolist()
    finally:
        tool.close()


def write_subms(vis, bounds, out):
    """Copy the rows with lo < TIME < hi, with all sub-tables, into a new MS.

    The input MS is opened read-only; the copy is made under a temporary
    name and renamed when complete.
    """
    import casaenv  # noqa: F401
    from casatools import table
    tmp = out + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    tb = table()
    tb.open(vis, nomodify=True)
    try:
        sel = tb.query(f"TIME > {bounds[0]!r} && TIME < {bounds[1]!r}", sortlist="")
        nrows = sel.nrows()
        sel.copy(newtablename=tmp, deep=True, valuecopy=True, returnobject=False)
        sel.close()
    finally:
        tb.close()
    publish_dir(tmp, out)
    return nrows


def subms_rows(path, bounds):
    """Rows of an existing sub-MS if all its times lie within bounds, else -1."""
    if not os.path.isfile(os.path.join(path, "table.dat")):
        return -1
    import casaenv  # noqa: F401
    from casatools import table
    tb = table()
    tb.open(path, nomodify=True)
    try:
        times = tb.getcol("TIME")
    finally:
        tb.close()
    inside = len(times) and bounds[0] < times.min() and times.max() < bounds[1]
    return len(times) if inside else -1


# ---------------------------------------------------------------- the gridding sub-DAG
def gridding_subdag(plan, cycle=0, density=False, transfer=False):
    """Text of allImagers.dag: one gridding node per sub-MS, each with a RETRY; with
    density (uniform, Briggs), first the weight density of each sub-MS and their sum;
    with transfer (no shared filesystem), each job's files staged in and out."""
    lines = ["# Written by scripts/MSpartition.py: one gridding job per sub-MS.",
             f"# {len(plan['parts'])} sub-MSes of {plan['vis']}", ""]
    for p in plan["parts"]:
        node = f"allImagers_c{cycle}_{p['part']}"
        lines += [f"JOB {node} htc/allImagers.htc",
                  f'VARS {node} part="{p["part"]}" subms="{p["subms"]}" cycle="{cycle}"',
                  retry(node, GRIDDING_RETRIES),
                  *staging(transfer, node, "allImagers.py", p["part"], p["subms"], cycle), ""]
    return "\n".join(lines) + (density_nodes(plan, cycle, transfer) if density else "")


def density_nodes(plan, cycle, transfer=False):
    """weights_<part> per sub-MS, then weightsSum, before the gridding of the cycle."""
    weights = [f"weights_{p['part']}" for p in plan["parts"]]
    gridding = [f"allImagers_c{cycle}_{p['part']}" for p in plan["parts"]]
    lines = ["", "# The whole MS's weight density, as tclean(parallel=True) gathers it", ""]
    for node, p in zip(weights, plan["parts"]):
        lines += [f"JOB {node} htc/weightDensity.htc",
                  f'VARS {node} mode="part" part="{p["part"]}" subms="{p["subms"]}"',
                  retry(node, GRIDDING_RETRIES),
                  *staging(transfer, node, "weightDensity.py", "part", p["part"], p["subms"]), ""]
    lines += ["JOB weightsSum htc/weightDensity.htc", 'VARS weightsSum mode="sum"',
              retry("weightsSum", 1), *staging(transfer, "weightsSum", "weightDensity.py", "sum"), "",
              f"PARENT {' '.join(weights)} CHILD weightsSum",
              f"PARENT weightsSum CHILD {' '.join(gridding)}", ""]
    return "\n".join(lines)


def cycle_subdag(plan, cycle, transfer=False):
    """Text of products/cycle<c>.dag: grid every sub-MS, add, then deconvolve."""
    gridding = [f"allImagers_c{cycle}_{p['part']}" for p in plan["parts"]]
    add, deconvolve = f"addImages_c{cycle}", f"deconvolve_c{cycle}"
    lines = [gridding_subdag(plan, cycle, transfer=transfer),
             f"JOB {add} htc/addImages.htc",
             f'VARS {add} cycle="{cycle}"',
             retry(add, 1), *staging(transfer, add, "addImages.py", cycle), "",
             f"JOB {deconvolve} htc/deconvolve.htc",
             f'VARS {deconvolve} cycle="{cycle}"',
             retry(deconvolve, 1), *staging(transfer, deconvolve, "deconvolve.py", cycle), "",
             f"PARENT {' '.join(gridding)} CHILD {add}",
             f"PARENT {add} CHILD {deconvolve}", ""]
    return "\n".join(lines)


def staging(transfer, node, script, *args):
    """A remote job's PRE and POST scripts without a shared filesystem (transfer.py)."""
    if not transfer:
        return []
    words = " ".join(str(a) for a in args)
    return [f"SCRIPT DEBUG logs/{node}.pre.log ALL PRE {node} scripts/runjob stageIn.py {node} "
            f"{script} {words}".rstrip(),
            f"SCRIPT DEBUG logs/{node}.post.log ALL POST {node} scripts/runjob stageOut.py {node} "
            "$RETURN"]


def major_cycles_dag(ncycles):
    """Text of products/majorCycles.dag: cycles 1..n in a chain, each skipped once stopped."""
    lines = ["# Written by scripts/MSpartition.py: the major cycles after the first.",
             "# A cycle's PRE script exits 99 (PRE_SKIP: the cycle counts as done) once",
             "# the deconvolve job of the cycle before it found tclean's stopping rules met.", ""]
    for c in range(1, ncycles + 1):
        lines += [f"SUBDAG EXTERNAL cycle{c} {PRODUCTS}/cycle{c}.dag",
                  f"SCRIPT DEBUG logs/cycle{c}.pre.log ALL PRE cycle{c} scripts/runjob skipCycle.py {c}",
                  f"PRE_SKIP cycle{c} {SKIP_EXIT}", ""]
    lines += [f"PARENT cycle{c} CHILD cycle{c + 1}" for c in range(1, ncycles)]
    if ncycles == 0:  # DAGMan wants at least one node
        lines.append("# niter = 0 or nmajor = 0: no major cycle after the first.\n"
                     "JOB noMajorCycles htc/deconvolve.htc NOOP")
    return "\n".join(lines) + "\n"


def cf_fill_dag(njobs):
    """Text of products/cfFill.dag: one job per share of the CFs (none: a NOOP node)."""
    lines = ["# Written by scripts/makeCFs.py dry: the CF fill jobs, each into a folder of its own.", ""]
    for k in range(1, njobs + 1):
        lines += [f"JOB CFfill_{k} htc/makeCFs.htc", f'VARS CFfill_{k} mode="fill" part="{k}"',
                  retry(f"CFfill_{k}", 1), ""]
    if njobs == 0:  # DAGMan wants at least one node
        lines.append("# The CF cache is up to date, or the gridder needs none.\n"
                     "JOB CFfill_none htc/makeCFs.htc NOOP")
    return "\n".join(lines) + "\n"


RUN_FILES = ("Makefile", "requirements.txt", "scripts", "htc", "dag", "params")


def copy_run(root, folder, overrides, why="overrides"):
    """A run directory as a user makes one: a copy of root's, overrides appended to
    params/imaging.py (later assignments win)."""
    os.makedirs(folder)
    for name in RUN_FILES:
        src = os.path.join(root, name)
        if os.path.isdir(src):   # (not DAGMan's files beside the DAGs, nor Python's caches)
            shutil.copytree(src, os.path.join(folder, name),
                            ignore=shutil.ignore_patterns("*.dag.*", "__pycache__"))
        else:
            shutil.copy2(src, os.path.join(folder, name))
    with open(os.path.join(folder, "params", "imaging.py"), "a") as f:
        f.write(f"\n# {why}\n")
        f.writelines(f"{k} = {v!r}\n" for k, v in overrides.items())
    return folder


def size_for(nparts, ms):
    """A maxsubmssize that fits the MS in nparts sub-MSes (sub-tables plus rows/nparts)."""
    _, counts, bytes_per_row, overhead = ms_layout(str(ms))
    return int(overhead + bytes_per_row * sum(counts) / nparts * 1.02)


def write_coordsys(csys):
    """The whole MS's image coordinate system (a CASA record), for every job."""
    tmp = COORDSYS + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump(csys, f)
    os.replace(tmp, COORDSYS)


def read_coordsys():
    """The record write_coordsys wrote (a product of this run; numpy types kept)."""
    if not os.path.isfile(COORDSYS):
        raise FileNotFoundError(f"{COORDSYS} is missing: MSpartition writes it; run "
                                "`scripts/runjob MSpartition.py`, then submit again")
    with open(COORDSYS, "rb") as f:
        return pickle.load(f)


def read_json(path):
    """The JSON in a file, or None if there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_plan(path=PLAN):
    with open(path) as f:
        return json.load(f)


def write_plan(plan, path=PLAN):
    write_json(path, plan)


def load_params():
    """The run's parameters: as prepareRun validated and recorded them, unless
    params/imaging.py changed since (or no DAG ran yet); then validated now.
    Reading the record spares each job the validation's import of every casatasks
    task (1.5 s of a job's start-up)."""
    record = read_json(PARAMS_RECORD)
    if record is None or newer(parameters.DEFAULT_FILE, PARAMS_RECORD):
        return parameters.load()
    return record           # (a remote job's scratch has the record only)


def newer(path, than):
    return os.path.exists(path) and os.path.getmtime(path) > os.path.getmtime(than)
