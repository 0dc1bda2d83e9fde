"""predictModel: savemodel = 'modelcolumn': the final model's visibilities of one sub-MS.

    predictModel.py PART SUBMS

Once the major cycles have stopped, predicts the model tclean's savemodel leaves (as a
rule the final one, which made the last residual: products/minor<last-1>/predict,
divided by the weight as tclean predicts it; the one of an earlier major cycle, or
none, when tclean's last major cycle was not foreseen as the last, e.g. a stop by
nmajor: modelcolumn.predicted_cycle) into MODEL_DATA of a scratch copy of the
sub-MS, as tclean's major cycle writes it
(synthesis.save_model_column), and keeps that column and the rows' keys as
products/parts/model/PART/model.table (imaging/modelcolumn.py).  The sub-MS is only
read: later runs grid it again.  saveModel.py writes the MS from these products.
"""
import os
import shutil
import sys

import allImagers
import dagutils
from imaging import modelcolumn, parameters, products, synthesis, timing


def main(part, subms):
    params = dagutils.load_params()
    final = products.part_dir("model", part)
    if products.finished(final, params, "deconvolution"):
        print(f"predictModel: {final} exists from an earlier try; kept")
        return
    if not os.path.isdir(subms):
        sys.exit(f"predictModel: sub-MS {subms} does not exist: run `scripts/runjob "
                 "MSpartition.py` in the run directory to write it again, then submit again")
    params = allImagers.check_cfcache(params, part)
    products.read_plan(params=params)
    setup = {"density": allImagers.check_density(params), "csys": products.read_coordsys(params)}
    cycle = saved_cycle(params)      # (its model: the minor cycle's before, or a start model's)
    model = allImagers.predicted_model(params, cycle) if cycle is not None else None
    weight = products.image_base(products.part_dir("psf", part), params) \
        if params["gridder"] in parameters.CF_GRIDDERS else None
    with products.building(final, params, "deconvolution") as work:
        predict(params, subms, work, model, weight, setup, cycle is not None)
    print(f"predictModel: wrote {final}"
          + (f" (the prediction of major cycle {cycle})" if cycle is not None else
             ": nothing predicted (tclean writes no model when its last major cycle was not "
             "foreseen as the last, e.g. stopped by nmajor)"))


def saved_cycle(params):
    """The major cycle whose prediction tclean leaves in MODEL_DATA (modelcolumn.py); its
    model is the minor cycle's before it (none for cycle 0)."""
    last = products.last_cycle(params)
    if last is None:
        sys.exit("predictModel: the major cycles have not stopped yet "
                 "(see products/minor*/record.json)")
    records = [products.read_record(k, params) for k in range(last + 1)]
    return modelcolumn.predicted_cycle(params, records)


def predict(params, subms, work, model, weight, setup, saves=True):
    """Predict into a scratch copy of the sub-MS; keep only the model column (all NaN,
    written nowhere, when tclean saves no prediction: not `saves`)."""
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
        if saves:
            synthesis.save_model_column(params, copy, image, **setup)
        modelcolumn.keep_model_table(copy, os.path.join(work, modelcolumn.MODEL_TABLE))
    finally:
        shutil.rmtree(scratch)


if __name__ == "__main__":
    dagutils.run_stage("predictModel", main, *sys.argv[1:])
