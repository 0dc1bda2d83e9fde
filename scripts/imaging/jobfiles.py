"""What each job kind reads and writes: run-directory paths, from the job's parameters
and its arguments (a node's VARS, as its .htc passes them).  jobkinds.py names the
functions in its table.

`reads`: the products a remote job is sent without a shared filesystem (transfer.py),
besides the parameters, its sub-MS and the CF cache; the local kinds (MSpartition, the
CF steps) read the run directory in place and have none.  `writes`: the products the
job publishes, each complete or absent.
"""
import os

from imaging import cfcache, identity, modelcolumn, parameters, products, startmodel
from imaging.modes import PSF_ONLY, CFStep, DensityStep


# ---------------------------------------------------------------- what each kind reads
def gridding_inputs(params, part, subms, cycle):
    paths = [products.COORDSYS, products.PLAN]
    if params["weighting"] in parameters.DENSITY_WEIGHTINGS:
        paths.append(products.WEIGHTS)
    if cycle == PSF_ONLY or (model := predicted_model(params, int(cycle))) is None:
        return paths
    paths += [os.path.join(model, name) for name in ("predict", identity.RECORD)]
    if params["gridder"] in parameters.CF_GRIDDERS:
        paths += images(products.part_dir("psf", part), params, "weight")
    return paths


def predicted_model(params, cycle):
    """The folder whose predict/ the residual of `cycle` is gridded with (allImagers.py)."""
    if cycle > 0:
        return products.minor_dir(cycle - 1)
    return products.STARTMODEL if startmodel.enabled(params) else None


def density_inputs(params, mode, part="", subms=""):
    if mode == DensityStep.PART:
        return [products.COORDSYS]
    return [products.PLAN] + [products.part_dir("weights", p) for p in parts()]


def group_inputs(params, cycle, group):
    """addParts: the residuals of its group's sub-MSes."""
    members = products.gather_groups(parts())[group]
    return [products.PLAN] + [products.part_dir("cycle", p, int(cycle)) for p in members]


def adding_inputs(params, cycle):
    psfs = [products.part_dir("psf", p) for p in parts()]
    if cycle == PSF_ONLY:
        return [products.PLAN, *psfs, *startmodel.names(params)]
    cycle = int(cycle)
    paths = [products.PLAN] + [products.part_dir("cycle", p, cycle)
                               for p in products.gathered(parts())]
    if cycle == 0 and not startmodel.enabled(params):
        return paths + psfs
    return paths + [products.stage_dir("psf")]


def minor_cycle_inputs(params, cycle):
    cycle = int(cycle)
    return ([products.stage_dir("cycle", cycle)] + earlier_cycles(params, cycle)
            + user_mask(params) + automask_state(params, cycle))


def automask_state(params, cycle):
    """With automasking, the state the minor cycle before left (imaging/automask.py)."""
    if cycle == 0 or params.get("usemask") != "auto-multithresh":
        return []
    return [os.path.join(products.minor_dir(cycle - 1), "automask.json")]


def user_mask(params):
    """A mask image or region file named by `mask`, inside the run directory."""
    mask = params["mask"]
    named = isinstance(mask, str) and mask and parameters.inside_run(mask)
    return [mask] if named and os.path.exists(mask) else []


def restore_inputs(params):
    last = products.last_cycle()
    if last is None:      # restore.py says why
        return []
    return [products.stage_dir("cycle", last), *record_files(last)] + earlier_cycles(params, last)


def prediction_inputs(params, part, subms):
    """savemodel: what the gridding of the last cycle reads (the final model), and the
    records that say which cycle was the last."""
    last = products.last_cycle()
    if last is None:      # predictModel.py says why
        return []
    records = [products.read_record(k) for k in range(last + 1)]
    cycle = modelcolumn.predicted_cycle(params, records) or 0
    paths = gridding_inputs(params, part, subms, cycle) + [
        path for k in range(last + 1) for path in record_files(k)]
    return list(dict.fromkeys(paths))         # (each sent once)


def earlier_cycles(params, cycle):
    """The records of the cycles before `cycle` and the model and mask of the last one
    (before cycle 0: the start model's, if any)."""
    paths = [path for k in range(cycle) for path in record_files(k)]
    if cycle > 0:
        paths += images(products.minor_dir(cycle - 1), params, "model", "mask")
    elif startmodel.enabled(params):
        paths += images(products.STARTMODEL, params, "model")
    return paths


def record_files(cycle):
    """A minor cycle's record and the identity it was made with."""
    return [os.path.join(products.minor_dir(cycle), name) for name in ("record.json", identity.RECORD)]


def images(folder, params, *kinds):
    base = products.image_base(folder, params)
    return [path for kind in kinds for path in products.image_paths(base, kind)]


def parts():
    return [p["part"] for p in products.read_plan()["parts"]]


# ---------------------------------------------------------------- what each kind writes
def cf_outputs(params, mode, part=""):
    """The CF steps: the empty cache, its plan and the fill sub-DAG; one share filled;
    the cache and its record."""
    if mode == CFStep.DRY:
        return [cfcache.dry_dir(params), cfcache.plan_path(params), products.CFFILL]
    if mode == CFStep.FILL:
        return [cfcache.fill_dir(params, int(part))]
    return [os.path.normpath(params["cfcache"]), cfcache.recorded_path(params)]


def partition_outputs(params):
    subms = os.path.dirname(products.subms_name(params["vis"], 1))
    return [subms, products.PLAN, products.COORDSYS, products.SUBDAG]


def density_outputs(params, mode, part="", subms=""):
    if mode == DensityStep.PART:
        return [products.part_dir("weights", part)]
    return [products.WEIGHTS]


def gridding_outputs(params, part, subms, cycle):
    if cycle == PSF_ONLY:
        return [products.part_dir("psf", part)]
    cycle = int(cycle)
    first = [products.part_dir("psf", part)] if cycle == 0 and not startmodel.enabled(params) else []
    return first + [products.part_dir("cycle", part, cycle)]


def group_outputs(params, cycle, group):
    return [products.part_dir("cycle", group, int(cycle))]


def adding_outputs(params, cycle):
    if cycle == PSF_ONLY:
        return [products.stage_dir("psf"), products.STARTMODEL]
    cycle = int(cycle)
    first = cycle == 0 and not startmodel.enabled(params)
    return ([products.stage_dir("psf")] if first else []) + [products.stage_dir("cycle", cycle)]


def minor_cycle_outputs(params, cycle):
    return [products.minor_dir(int(cycle))]


def restore_outputs(params):
    return [products.stage_dir("final")]


def prediction_outputs(params, part, subms):
    return [products.part_dir("model", part)]


def model_column_outputs(params):
    """The record of the write (and MODEL_DATA of the MS, written in place)."""
    return [products.stage_dir("savemodel")]
