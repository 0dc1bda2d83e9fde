"""addImages: add the sub-images of all sub-MSes and normalize them once.

    addImages.py CYCLE

Cycle 0 first makes products/psf (PSF, weight, primary beam and the PSF's sum
of weights); every cycle makes products/cycle<CYCLE> (the residual, with the
sum of weights of that cycle's gridding), from every sub-MS's residual or, with
more sub-MSes than products.GATHER_FANIN, from the sums of groups of them
(addParts.py).  With a start model, CYCLE 'psf' makes products/psf, then
products/startmodel (imaging/startmodel.py), before the first residual is
gridded.  Each stage is built in a scratch
folder and moved into place when complete; one that exists is kept, so a
re-run continues from what finished.
"""
import os
import sys

import dagutils
from imaging import products, startmodel, synthesis
from imaging.modes import PSF_ONLY


def main(cycle):
    params = dagutils.load_params()
    parts = [p["part"] for p in products.read_plan(params=params)["parts"]]
    cycle = str(cycle)
    if cycle in (PSF_ONLY, "0") and not products.finished(products.stage_dir("psf"), params,
                                                          "gridding"):
        add_psf(params, parts)
    if cycle == PSF_ONLY:
        return add_startmodel(params)
    add_residual(params, parts, int(cycle))


def add_psf(params, parts):
    final = products.stage_dir("psf")
    with products.building(final, params, "gridding") as work:
        partnames = products.checked_images([products.part_dir("psf", p) for p in parts],
                                            params, "gridding")
        synthesis.normalize_psf(params, products.image_base(work, params), partnames)
        synthesis.sign_odd_weights(products.image_base(work, params), partnames)
    print(f"addImages: wrote {final}")


def add_startmodel(params):
    """products/startmodel: the start model in the run's images, and divided by the
    weight for the first residual's prediction (predict/), as a minor cycle leaves its
    model (imaging/startmodel.py)."""
    final = products.STARTMODEL
    if products.finished(final, params, "gridding"):
        print(f"addImages: {final} exists from an earlier try; kept")
        return
    with products.building(final, params, "gridding") as work:
        image = products.image_base(work, params)
        startmodel.install(params, psf_image(params), image)
        predict = products.image_base(os.path.join(work, "predict"), params)
        synthesis.write_predict_model(params, image, psf_image(params), predict)
    print(f"addImages: wrote {final}")


def add_residual(params, parts, cycle):
    final, stage = products.stage_dir("cycle", cycle), products.cycle_stage(cycle)
    if products.finished(final, params, stage):
        print(f"addImages: {final} exists from an earlier try; kept")
        return
    with products.building(final, params, stage) as work:
        image = products.image_base(work, params)
        partnames = products.checked_images(      # (the groups' sums: addParts.py)
            [products.part_dir("cycle", p, cycle) for p in products.gathered(parts)],
            params, stage)
        products.link_images(psf_image(params), image, ["psf", "weight", "pb"])
        # tclean's residual carries the sum of weights of its own gridding, which
        # differs from the PSF's for awproject: keep the PSF's only where the
        # residual gridding has no term of its own.
        products.copy_images(psf_image(params), image, ["sumwt"])
        synthesis.sum_images(partnames, image, "sumwt")
        synthesis.normalize_residual(params, image, partnames)
    print(f"addImages: wrote {final}")


def psf_image(params):
    return products.image_base(products.stage_dir("psf"), params)


if __name__ == "__main__":
    dagutils.run_stage("addImages", main, *sys.argv[1:])
