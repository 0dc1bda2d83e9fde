"""weightDensity: the whole MS's weight density for uniform and Briggs weighting.

    weightDensity.py part PART SUBMS     one sub-MS's gridded weights
                                         (products/parts/weights/PART)
    weightDensity.py sum                 their sum (products/weights), which every
                                         gridding job then weights with

Imaging weights depend on the weights of all the visibilities in a uv cell,
so a sub-MS cannot be weighted alone: as tclean(parallel=True) does
(getweightdensity, gatherweightdensity, scatterweightdensity,
setweightdensity), each sub-MS's density is gridded, the sum made once, and
each gridding job given the sum.  Products are made in scratch folders and
moved into place when complete.
"""
import os
import shutil
import sys

import dagutils
from imaging import cfcache, products, synthesis, transfer
from imaging.modes import DensityStep


def main(mode, part="", subms=""):
    params = dagutils.load_params()
    if mode == DensityStep.PART:
        final = products.part_dir("weights", part)
        csys = products.read_coordsys(params)
        if params["partitionby"] != "time":     # (with a CF cache: its group's CFs only)
            entry = products.plan_part(products.read_plan(params=params), part)
            params = cfcache.for_part(params, entry, csys, remote=transfer.enabled(params))
        make(final, lambda image: synthesis.weight_density(params, subms, image, csys), params)
    elif mode == DensityStep.SUM:
        plan = products.read_plan(params=params)
        parts = products.checked_images([products.part_dir("weights", p["part"])
                                         for p in plan["parts"]], params, "gridding")
        final = os.path.dirname(products.density_image(params))
        make(final, lambda image: synthesis.gather_density(params, image, parts), params)
    else:
        sys.exit(f"weightDensity: unknown mode {mode!r}: 'part PART SUBMS' or 'sum'")


def make(final, compute, params):
    """Run compute(image) in a scratch folder; keep only the .gridwt; publish."""
    if products.finished(final, params, "gridding"):
        print(f"weightDensity: {final} exists from an earlier try; kept")
        return
    with products.building(final, params, "gridding") as work:
        compute(products.image_base(work, params))
        for name in os.listdir(work):          # (the normalizer also leaves an empty PSF)
            if not name.endswith(".gridwt"):
                shutil.rmtree(os.path.join(work, name))
    print(f"weightDensity: wrote {final}")


if __name__ == "__main__":
    dagutils.run_stage("weightDensity", main, *sys.argv[1:])
