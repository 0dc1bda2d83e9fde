"""allImagers: grid one sub-MS into un-normalized images (one DAG node per sub-MS).

    allImagers.py PART SUBMS CYCLE

Cycle 0 makes the sub-MS's PSF, weight and sum of weights
(products/parts/psf/PART) and its first residual (products/parts/cycle0/PART);
with a start model, CYCLE 'psf' makes the first of them, and cycle 0, after
addImages psf, the residual of the data minus the start model
(products/startmodel/predict; imaging/startmodel.py).
Cycle c > 0 predicts the model of the minor cycle before (a copy of
products/minor<c-1>/predict, which stays untouched) and makes the residual
(products/parts/cycle<c>/PART).
Every job images with the coordinate system of the whole MS
(products/coordsys.pickle, MSpartition.py); with uniform or Briggs weighting it weights with the whole MS's weight
density (products/weights, weightDensity.py).
Images are made in a scratch folder and moved into place when complete, so a
retried job starts clean and a finished product is never half-written.  The
CF cache is only read, and so is the sub-MS's weight (products/parts/psf/PART),
which the AW-projection gridders are given so that they do not accumulate it
again on their first gridding (about 3 s per job; the residual is the same).
"""
import functools
import os
import shutil
import sys

import dagutils
from imaging import cfcache, identity, parameters, products, startmodel, synthesis, transfer
from imaging.cfcache import Status
from imaging.modes import PSF_ONLY



def main(part, subms, cycle):
    params = dagutils.load_params()
    if not os.path.isdir(subms):
        sys.exit(f"allImagers: sub-MS {subms} does not exist: MSpartition wrote it, so it was "
                 f"removed since; run `scripts/runjob MSpartition.py` in the run directory to "
                 f"write the missing sub-MSes again, then submit again (the run continues)")
    params = check_cfcache(params, part)
    products.read_plan(params=params)               # (the sub-MS is of this run's MS)
    setup = {"density": check_density(params), "csys": products.read_coordsys(params)}
    cycle = str(cycle)
    if cycle in (PSF_ONLY, "0"):
        grid_psf = functools.partial(synthesis.grid_psf, makepb=part == products.part_id(1),
                                     **setup)
        grid_part(params, subms, products.part_dir("psf", part), grid_psf, stage="gridding")
    if cycle == PSF_ONLY:
        return
    cycle = int(cycle)
    weight = products.image_base(products.part_dir("psf", part), params) \
        if params["gridder"] in parameters.CF_GRIDDERS else None
    grid_residual = functools.partial(synthesis.grid_residual, **setup)
    grid_part(params, subms, products.part_dir("cycle", part, cycle), grid_residual,
              predicted_model(params, cycle), weight, products.cycle_stage(cycle))


def predicted_model(params, cycle):
    """The model the residual of `cycle` is the data minus, as the gridders predict it
    (divided by the weight): the minor cycle's before; in cycle 0, the start model's
    (made by addImages psf, imaging/startmodel.py) or none."""
    if cycle > 0:
        identity.require(products.minor_dir(cycle - 1), params, "deconvolution")
        folder = products.minor_dir(cycle - 1)
    elif startmodel.enabled(params):
        identity.require(products.STARTMODEL, params, "gridding")
        folder = products.STARTMODEL
    else:
        return None
    return products.image_base(os.path.join(folder, "predict"), params)


def check_cfcache(params, part):
    """Grid only with a whole cache made for this run's parameters (it is only read).
    Returns the parameters to grid with: with SPW groups (partitionby), cfcache names
    the cache of the CFs the part uses only (cfcache.for_part)."""
    state = cfcache.status(params)
    if state not in (Status.UNUSED, Status.OK):
        detail = {Status.MISSING: "does not exist (or has no record of its parameters)",
                  Status.INCOMPLETE: f"has CFs that were never filled: {cfcache.empty_cfs(params['cfcache'])[:3]}",
                  Status.STALE: f"was made for other parameters: {cfcache.differences(params)}"}[state]
        sys.exit(f"allImagers: cfcache = {params['cfcache']!r} {detail}; `make cfs` makes it "
                 f"for these parameters (or point cfcache at another path), then submit again")
    if state == Status.OK and params["partitionby"] != "time":
        entry = products.plan_part(products.read_plan(params=params), part)
        params = cfcache.for_part(params, entry, products.read_coordsys(params),
                                  remote=transfer.enabled(params))
    if state == Status.OK and (why := cfcache.too_small_grid(params, params["cfcache"])):
        sys.exit(f"allImagers: {why}")
    return params


def check_density(params):
    """The whole MS's weight density for uniform and Briggs weighting (else None)."""
    if params["weighting"] not in parameters.DENSITY_WEIGHTINGS:
        return None
    density = products.density_image(params)
    if not products.finished(os.path.dirname(density), params, "gridding"):
        sys.exit(f"allImagers: weighting = {params['weighting']!r} needs the weight density "
                 f"{density}, which the weightDensity jobs write before the first gridding: "
                 f"submit the DAG again (it continues from what finished)")
    return density


def grid_part(params, subms, final, grid, model=None, weight=None, stage="gridding"):
    if products.finished(final, params, stage):
        print(f"allImagers: {final} exists from an earlier try; kept")
        return
    with products.building(final, params, stage) as work:
        image = products.image_base(work, params)
        if model:  # copied, as tclean's scattermodel does: the imager rewrites its table.dat
            products.copy_images(model, image, ["model"])
        if weight:  # only read: with it the AW gridder skips accumulating the sensitivity
            products.link_images(weight, image, ["weight"])  # again (3 s a job; same residual)
        grid(params, subms, image)
        for path in products.image_paths(image, "weight") if weight else []:
            os.remove(path)                               # the links: not part of the product
        for path in products.image_paths(image, "model") if model else []:
            shutil.rmtree(path)    # (read by no later stage: 32 MB a job at 2048^2, nterms 2)
    print(f"allImagers: wrote {final}")


if __name__ == "__main__":
    dagutils.run_stage("allImagers", main, *sys.argv[1:])
