"""predictModel: savemodel = 'modelcolumn': the final model's visibilities of one sub-MS.

    predictModel.py PART SUBMS

Once the major cycles have stopped, predicts the final model (the one that made the
last residual: products/minor<last-1>/predict, divided by the weight as tclean
predicts it; none if the run stopped in its first cycle) into MODEL_DATA of a
scratch copy of the sub-MS, as tclean's last major cycle writes it
(synthesis.save_model_column), and keeps that column and the rows' keys as
products/parts/model/PART/model.table (imaging/modelcolumn.py).  The sub-MS is only
read: later runs grid it again.  saveModel.py writes the MS from these products.
"""
import os
import shutil
import sys

import allImagers
import dagutils
from imaging import identity, modelcolumn, parameters, products, synthesis, timing


def main(part, subms):
    params = dagutils.load_params()
    final = products.part_dir("model", part)
    if products.finished(final, params, "deconvolution"):
        print(f"predictModel: {final} exists from an earlier try; kept")
        return
    if not os.path.isdir(subms):
        sys.exit(f"predictModel: sub-MS {subms} does not exist: run `scripts/runjob "
                 "MSpartition.py` in the run directory to write it again, then submit again")
    allImagers.check_cfcache(params)
    products.read_plan(params=params)
    setup = {"density": allImagers.check_density(params), "csys": products.read_coordsys(params)}
    model, weight = final_model(params, part)
    with products.building(final, params, "deconvolution") as work:
        predict(params, subms, work, model, weight, setup)
    print(f"predictModel: wrote {final}")


def final_model(params, part):
    """The model image set to predict (None: the run stopped before any minor cycle) and,
    for the AW gridders, the sub-MS's weight (as the gridding jobs are given it)."""
    last = products.last_cycle(params)
    if last is None:
        sys.exit("predictModel: the major cycles have not stopped yet "
                 "(see products/minor*/record.json)")
    model = None
    if last > 0:
        identity.require(products.minor_dir(last - 1), params, "deconvolution")
        model = products.image_base(os.path.join(products.minor_dir(last - 1), "predict"), params)
    weight = products.image_base(products.part_dir("psf", part), params) \
        if params["gridder"] in parameters.CF_GRIDDERS else None
    return model, weight


def predict(params, subms, work, model, weight, setup):
    """Predict into a scratch copy of the sub-MS; keep only the model column."""
    scratch = os.path.join(work, "scratch")
    image = products.image_base(scratch, params)
    os.makedirs(scratch)
    try:
        copy = os.path.join(scratch, os.path.basename(subms))
        with timing.timed("copy_subms"):
            modelcolumn.copy_for_prediction(subms, copy)
        if model:     # copied, as tclean's scattermodel does
            products.copy_images(model, image, ["model"])
        if weight:    # only read
            products.link_images(weight, image, ["weight"])
        synthesis.save_model_column(params, copy, image, **setup)
        modelcolumn.keep_model_table(copy, os.path.join(work, modelcolumn.MODEL_TABLE))
    finally:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    dagutils.run_stage("predictModel", main, *sys.argv[1:])
