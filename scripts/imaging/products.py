"""The run's products: their names, reading them, and publishing them atomically.

Every product is built under a temporary name and moved into place only when
complete, stamped with the identity of the stage that made it (identity.py).

The layout of a run's products (products/, logs/, the CF cache) is documented
once, for users: README.md, section Products.  The names are made here (PLAN,
SUBDAG, stage_dir, part_dir, minor_dir, subms_name, ...); a product added here
gets its row there.
"""
import contextlib
import json
import math
import os
import pickle
import shutil

from imaging import identity

PRODUCTS = "products"
SUBDAG = os.path.join(PRODUCTS, "allImagers.dag")
PLAN = os.path.join(PRODUCTS, "partitions.json")
MAJORCYCLES = os.path.join(PRODUCTS, "majorCycles.dag")
CFFILL = os.path.join(PRODUCTS, "cfFill.dag")
MODELCOLUMN = os.path.join(PRODUCTS, "modelColumn.dag")   # savemodel = 'modelcolumn'

WEIGHTS = os.path.join(PRODUCTS, "weights")
STARTMODEL = os.path.join(PRODUCTS, "startmodel")      # the start model in the run's images
COORDSYS = os.path.join(PRODUCTS, "coordsys.pickle")   # the image's coordinates (prepareRun)
PARAMS_RECORD = os.path.join(PRODUCTS, "params.json")  # the parameters prepareRun validated


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
    """products/parts/<stage>/<part>: the un-normalized images of one sub-MS (part n<k>),
    or of a group of them summed (g<k>: gather_groups)."""
    name = stage if cycle is None else f"cycle{cycle}"
    return os.path.join(PRODUCTS, "parts", name, part)


# Sub-MSes whose residuals one addImages job gathers itself; with more, addParts jobs
# first sum groups of them (gather_groups), so the serial gather of a major cycle reads
# about 2 sqrt(P) image sets, not P.
GATHER_FANIN = 8


def gather_groups(parts):
    """{group id: its part ids} for the addParts jobs of a run with these sub-MSes (part
    ids, in plan order): none up to GATHER_FANIN; else ceil(P / size) groups of
    consecutive sub-MSes, balanced, size = max(GATHER_FANIN, ceil(sqrt(P)))."""
    if len(parts) <= GATHER_FANIN:
        return {}
    size = max(GATHER_FANIN, math.isqrt(len(parts) - 1) + 1)
    ngroups = -(-len(parts) // size)
    cuts = [round(k * len(parts) / ngroups) for k in range(ngroups + 1)]
    return {f"g{k + 1}": list(parts[a:b]) for k, (a, b) in enumerate(zip(cuts, cuts[1:]))}


def gathered(parts):
    """What addImages gathers a residual from: the groups' sums, or every sub-MS."""
    return list(gather_groups(parts)) or list(parts)


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


def link_images(source, image, kinds):
    """Symbolic links image.<kind>[.ttN] -> source.<kind>[.ttN] (relative)."""
    for kind in kinds:
        for path in image_paths(source, kind):
            target = os.path.relpath(path, os.path.dirname(image))
            os.symlink(target, image + path[len(source):])


def assemble_cycle(params, cycle, image):
    """The image set of major cycle c at `image`: its residual (copied: the minor cycle
    and restoring update it), the PSF stage's images (linked) and the model that made
    the residual (copied): after cycle 0, the minor cycle's before, with its mask; in
    cycle 0, the start model if there is one (imaging/startmodel.py)."""
    residual = image_base(stage_dir("cycle", cycle), params)
    copy_images(residual, image, ["residual"])
    link_images(residual, image, ["psf", "weight", "pb", "sumwt"])
    if cycle > 0:
        copy_images(image_base(minor_dir(cycle - 1), params), image, ["model", "mask"])
    elif params.get("startmodel"):
        copy_images(image_base(STARTMODEL, params), image, ["model"])


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


@contextlib.contextmanager
def building(final, params=None, stage=None):
    """A fresh folder <final>.tmp (leftovers of an earlier try removed) to build a
    product in; when the block ends normally, the product is stamped with its stage's
    identity (identity.py; none without params) and moved into place.  A block that
    raises leaves the folder where it is: nothing half-made is ever published."""
    work = fresh_dir(final + ".tmp")
    yield work
    if params is not None:
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


def plan_part(plan, part):
    """A part's entry of the plan (its sub-MS, time bounds and, with SPW groups, SPWs)."""
    return next(p for p in plan["parts"] if p["part"] == part)


def write_plan(plan, path=PLAN):
    write_json(path, plan)


def newer(path, than):
    return os.path.exists(path) and os.path.getmtime(path) > os.path.getmtime(than)
