"""PRE script of the node modelColumn: write its DAG when savemodel = 'modelcolumn',
else skip it.

    saveModelDag.py

Writes products/modelColumn.dag: one predictModel job per sub-MS, then the one
saveModel job that writes MODEL_DATA of the MS (dagutils.model_column_dag).  Exits 99
(the node's PRE_SKIP value: DAGMan marks it done) with savemodel = 'none'.  Runs after
the major cycles, when the final model is known.
"""
import sys

import dagutils
from imaging import products, transfer


def main():
    try:
        params = dagutils.load_params()
        plan = products.read_plan(params=params)
    except (RuntimeError, *dagutils.INPUT_ERRORS) as e:
        sys.exit(f"saveModelDag: {e}")
    if params["savemodel"] != "modelcolumn":
        print(f"saveModelDag: savemodel = {params['savemodel']!r}: the MS is not written")
        sys.exit(dagutils.SKIP_EXIT)
    products.write_text_atomic(products.MODELCOLUMN,
                               dagutils.model_column_dag(plan, transfer.enabled(params)))
    print(f"saveModelDag: wrote {products.MODELCOLUMN}")


if __name__ == "__main__":
    main(*sys.argv[1:])
