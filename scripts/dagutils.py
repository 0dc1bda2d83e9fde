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

import identity
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


def stopped_before(cycle, params=None):
    """The record of the first cycle before `cycle` whose minor cycle found tclean's
    stopping rules met (None: none did); RuntimeError if a cycle before it has no
    record (it did not finish)."""
    for k in range(cycle):
        record = read_record(k, params)
        if record is None:
            raise RuntimeError(f"cycle {k} has no record in {minor_dir(k)}: it did not finish")
        if record["stopcode"] != 0:
            return record
    return None


def read_record(cycle, params=None):
    """The minor-cycle record of a cycle, or None if that cycle has not finished;
    with `params`, one made from other inputs than the run's stops the job."""
    path = os.path.join(minor_dir(cycle), "record.json")
    if not os.path.exists(path):
        return None
    if params is not None:
        identity.require(minor_dir(cycle), params, "deconvolution")
    with open(path) as f:
        return json.load(f)


def last_cycle(params=None):
    """The cycle whose record says stop (the run's last), or None if none does yet."""
    cycle = 0
    while (record := read_record(cycle, params)) is not None:
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


def cycle_stage(cycle):
    """The identity stage of a major cycle's products: the first residual is the
    gridding's; every later one is made from a minor cycle's model."""
    return "gridding" if cycle == 0 else "deconvolution"


# ---------------------------------------------------------------- atomic products
def publish(work, final, params, stage):
    """Stamp a finished product with its stage's identity (identity.py) and move it
    into place."""
    identity.stamp(work, params, stage)
    publish_dir(work, final)


def finished(final, params, stage):
    """Whether a product exists from an earlier try, to be kept; one made from other
    inputs than the run's stops the job (identity.StaleProduct)."""
    if not os.path.exists(final):
        return False
    identity.require(final, params, stage)
    return True


def checked_images(folders, params, stage):
    """The image names in product folders (one per sub-MS), each folder checked to
    carry the run's identity of `stage` (identity.StaleProduct otherwise)."""
    for folder in folders:
        identity.require(folder, params, stage)
    return [image_base(folder, params) for folder in folders]


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
def plan_partitions(counts, bytes_per_row, overhead, maxsize, max_rows=math.inf):
    """Split integrations (rows per integration, in time order) into ranges.

    Each part holds whole integrations, at most `maxsize` bytes as estimated
    (`overhead` + rows * `bytes_per_row`) and at most `max_rows` rows (what the
    sub-MSes written show: see MSpartition.fitting_parts); parts are balanced by
    rows and as few as that allows.  Returns [(first_index, last_index), ...].
    """
    capacity = min(maxsize - overhead, max_rows * bytes_per_row)
    largest = max(counts) * bytes_per_row
    if maxsize - overhead < largest:
        raise PartitionError(
            f"maxsubmssize = {maxsize} bytes is below the smallest possible sub-MS, "
            f"{math.ceil(overhead + largest)} bytes: one integration ({largest:.0f} bytes) "
            f"plus the sub-tables ({overhead:.0f} bytes)")
    assert max(counts) <= max_rows, "the caller checks that one integration fits"
    total = sum(counts) * bytes_per_row
    for nparts in range(max(1, math.ceil(total / capacity)), len(counts) + 1):
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


def time_bounds(spans, r):
    """Open interval (lo, hi) around integrations r, halfway to the neighbours.

    spans[i] is (first, last) TIME of integration i; the bounds lie halfway
    between the last time of one integration and the first of the next, so
    lo < TIME < hi selects every row of integrations r and no other."""
    first, last = r
    lo = (spans[first - 1][1] + spans[first][0]) / 2 if first > 0 else spans[first][0] - 1.0
    hi = ((spans[last][1] + spans[last + 1][0]) / 2 if last + 1 < len(spans)
          else spans[last][1] + 1.0)
    return lo, hi


def integrations(times, baselines, interval):
    """Group rows into integrations: [(first TIME, last TIME)], rows of each.

    The rows of one integration need not share one TIME: in real EVLA data
    (the 2010 Ka-band observation of tests/test_real_evla.py) each baseline's
    row of a 10 s integration has a TIME of its own, the distinct times of one
    integration up to 1.5 s apart in steps of 0.04 to 0.5 s, while consecutive
    integrations are 8.5 to 10 s apart; INTERVAL says 0.04 s there.  The rule:
    the integration time T is the median step between consecutive rows of the
    same baseline (ANTENNA1, ANTENNA2, DATA_DESC_ID), or INTERVAL (its median)
    if larger; sorted distinct times are cut into integrations only where two
    consecutive ones are more than T/2 apart (there: T = 10.001 s, at most
    0.4995 s inside an integration, at least 8.502 s across).  A cut too few
    only merges integrations; a cut too many would split one.
    """
    import numpy as np
    unique, counts = np.unique(times, return_counts=True)
    gap = integration_time(times, baselines, interval) / 2
    starts = np.r_[0, np.flatnonzero(np.diff(unique) > gap) + 1]
    ends = np.r_[starts[1:], len(unique)] - 1
    spans = [(float(unique[s]), float(unique[e])) for s, e in zip(starts, ends)]
    return spans, np.add.reduceat(counts, starts).tolist()


def integration_time(times, baselines, interval):
    """The median step in TIME between rows of one baseline, or interval if larger.
    (Temporaries are dropped as soon as used: this runs on every row of the MS.)"""
    import numpy as np
    order = np.lexsort((times, baselines))
    ordered = baselines[order]
    same = ordered[1:] == ordered[:-1]
    del ordered
    steps = np.diff(times[order])[same]
    del order, same
    steps = steps[steps > 0]
    return max(float(np.median(steps)) if len(steps) else 0.0, interval)


def ms_layout(vis):
    """Integrations ((first, last) TIME), rows of each, bytes per row, sub-table bytes."""
    import numpy as np
    import casaenv  # noqa: F401
    from casatools import table
    tb = table()
    tb.open(vis, nomodify=True)
    try:
        nrows = tb.nrows()
        if nrows:
            times, baselines = tb.getcol("TIME"), baseline_ids(tb)
            interval = float(np.median(tb.getcol("INTERVAL")))
        subtables = [kw for kw, v in tb.getkeywords().items()
                     if isinstance(v, str) and v.startswith("Table: ")]
    finally:
        tb.close()
    if not nrows:
        raise PartitionError(f"vis = {vis!r}: the measurement set has no rows")
    spans, counts = integrations(times, baselines, interval)
    main = folder_bytes(vis, skip=subtables)
    overhead = sum(folder_bytes(os.path.join(vis, s)) for s in subtables)
    return spans, counts, main / nrows, overhead


def baseline_ids(tb):
    """One integer per row for (ANTENNA1, ANTENNA2, DATA_DESC_ID), read a column at a time."""
    import numpy as np
    ids = tb.getcol("DATA_DESC_ID").astype(np.int64) << 40
    ids |= tb.getcol("ANTENNA1").astype(np.int64) << 20
    ids |= tb.getcol("ANTENNA2").astype(np.int64)
    return ids


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


def cycle_batch(first, params):
    """The major cycles of the batch starting at `first`: majorcyclebatch of them,
    none past nmajor (when set)."""
    last = first + params["majorcyclebatch"] - 1
    if params["nmajor"] >= 0:
        last = min(last, params["nmajor"])
    return list(range(first, last + 1))


def batch_path(first):
    """products/majorCycles.dag (the batch from cycle 1), products/majorCycles<first>.dag."""
    return MAJORCYCLES if first == 1 else os.path.join(PRODUCTS, f"majorCycles{first}.dag")


def batch_node(first):
    return "majorCycles" if first == 1 else f"majorCycles{first}"


def batch_dag(cycles, more):
    """Text of a batch of major cycles (nextCycles.py writes it when the batch is due):
    the cycles in a chain, each skipped once the run stopped, then, if `more`, the node
    of the next batch, whose PRE script writes its DAG in turn."""
    lines = ["# Written by scripts/nextCycles.py: a batch of major cycles.",
             "# A cycle's PRE script exits 99 (PRE_SKIP: the cycle counts as done) once",
             "# the deconvolve job of a cycle before it found tclean's stopping rules met.", ""]
    chain = [f"cycle{c}" for c in cycles]
    for c in cycles:
        lines += [f"SUBDAG EXTERNAL cycle{c} {PRODUCTS}/cycle{c}.dag",
                  f"SCRIPT DEBUG logs/cycle{c}.pre.log ALL PRE cycle{c} scripts/runjob skipCycle.py {c}",
                  f"PRE_SKIP cycle{c} {SKIP_EXIT}", ""]
    if more:
        first = cycles[-1] + 1
        chain.append(batch_node(first))
        lines += [f"# The next batch: its PRE script writes {batch_path(first)}, or skips it.",
                  f"SUBDAG EXTERNAL {chain[-1]} {batch_path(first)}",
                  f"SCRIPT DEBUG logs/{chain[-1]}.pre.log ALL PRE {chain[-1]} scripts/runjob "
                  f"nextCycles.py {first}", f"PRE_SKIP {chain[-1]} {SKIP_EXIT}", ""]
    lines += [f"PARENT {a} CHILD {b}" for a, b in zip(chain, chain[1:])]
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


def write_coordsys(csys, params):
    """The whole MS's image coordinate system (a CASA record), for every job, with the
    identity of the gridding stage it belongs to."""
    tmp = COORDSYS + ".tmp"
    with open(tmp, "wb") as f:
        pickle.dump({"digest": identity.digest(params, "gridding"), "csys": csys}, f)
    os.replace(tmp, COORDSYS)


def coordsys_digest():
    """The identity digest the coordinate system was written with (None: none yet)."""
    if not os.path.isfile(COORDSYS):
        return None
    with open(COORDSYS, "rb") as f:
        return pickle.load(f).get("digest")


def read_coordsys(params):
    """The record write_coordsys wrote (a product of this run; numpy types kept)."""
    if not os.path.isfile(COORDSYS):
        raise FileNotFoundError(f"{COORDSYS} is missing: MSpartition writes it; run "
                                "`scripts/runjob MSpartition.py`, then submit again")
    with open(COORDSYS, "rb") as f:
        saved = pickle.load(f)
    if saved.get("digest") != identity.digest(params, "gridding"):
        raise identity.StaleProduct(f"{COORDSYS} was written for other parameters or another "
                                    "MS: run `make run` or `make submit` again")
    return saved["csys"]


def read_json(path):
    """The JSON in a file, or None if there is no such file."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_plan(path=PLAN, params=None):
    """The partition plan; with `params`, one made for other inputs stops the job."""
    with open(path) as f:
        plan = json.load(f)
    if params is not None and plan.get("identity") != identity.digest(params, "partition"):
        raise identity.StaleProduct(f"{path} and its sub-MSes were made from another MS or "
                                    "other partition parameters: run `make run` or `make "
                                    "submit` again, which says what changed")
    return plan


def write_plan(plan, path=PLAN):
    write_json(path, plan)


def load_params():
    """The run's parameters as prepareRun validated and recorded them, with the
    identity of each stage (identity.py).  Reading the record spares each job the
    validation's import of every casatasks task (1.5 s of a job's start-up).  If
    params/imaging.py was edited since in a way that changes a product, the job stops:
    prepareRun (`make run`, `make submit`) must first check what finished still fits.
    Without a record (a stage script run by hand) the parameters are validated now."""
    record = read_json(PARAMS_RECORD)
    if record is None:
        params = parameters.load()
        params["identity"] = identity.of_run(params, identity.ms_content(params["vis"]))
        return params
    if newer(parameters.DEFAULT_FILE, PARAMS_RECORD):
        edited = identity.edited(parameters.load(), record)
        if edited:
            raise identity.StaleProduct(
                f"{parameters.DEFAULT_FILE} was edited since this run was checked ({edited} "
                "changed): run `make run` or `make submit` again, which checks that what "
                "finished still fits the new values")
    return record           # (a remote job's scratch has the record only)


def newer(path, than):
    return os.path.exists(path) and os.path.getmtime(path) > os.path.getmtime(than)
