"""saveModel: savemodel = 'modelcolumn': write MODEL_DATA of the user's MS.

    saveModel.py

The one job that writes the input MS, because the user asked for it, and only its
MODEL_DATA column, once the major cycles have stopped and every sub-MS's predicted
model is in products/parts/model/<part> (predictModel.py).  Runs on the access point
(the local universe without a shared filesystem), under the MS's own table lock:
another process holding it stops the job with a message.  The values go into a new
column first, which replaces MODEL_DATA by renaming when every row is written; a
failure before leaves the MS as it was (imaging/modelcolumn.py).  Records what it
wrote, and how long it took, in products/savemodel/record.json: a re-run with the
same model does not write the MS again.
"""
import os
import sys
import time

import dagutils
from imaging import identity, modelcolumn, partitioning, products


def main():
    params = dagutils.load_params()
    final = products.stage_dir("savemodel")
    if products.finished(final, params, "deconvolution"):
        print(f"saveModel: {final} exists: MODEL_DATA of {params['vis']} was written with "
              "this model; kept")
        return
    parts = predicted_parts(params)
    with products.building(final, params, "deconvolution") as work:
        start = time.perf_counter()
        try:
            with modelcolumn.locked(params["vis"]) as tb:
                identity.require_ms(params)
                rows = modelcolumn.write(tb, parts)
        except modelcolumn.MSLocked as e:
            sys.exit(f"saveModel: {e}")
        record = {"vis": params["vis"], "column": modelcolumn.MODEL, "rows": rows,
                  "subms": len(parts), "seconds": round(time.perf_counter() - start, 3)}
        products.write_json(os.path.join(work, "record.json"), record)
    print(f"saveModel: wrote {modelcolumn.MODEL} of {params['vis']}: {rows} rows from "
          f"{len(parts)} sub-MSes in {record['seconds']} s")


def predicted_parts(params):
    """[(the query selecting its rows of the MS, model table)] of every sub-MS, each checked to hold this run's model."""
    plan = products.read_plan(params=params)
    parts = []
    for p in plan["parts"]:
        folder = products.part_dir("model", p["part"])
        if not os.path.isdir(folder):
            sys.exit(f"saveModel: {folder} is missing: the predictModel job of {p['part']} "
                     "did not finish; submit the DAG again (it continues from what finished)")
        identity.require(folder, params, "deconvolution")
        parts.append((partitioning.row_query(p), os.path.join(folder, modelcolumn.MODEL_TABLE)))
    return parts


if __name__ == "__main__":
    dagutils.run_stage("saveModel", main)
