"""PRE script of a batch of major cycles: write its DAG when it is due, or skip it.

    nextCycles.py FIRST

DAGMan cannot loop, so the major cycles after the first run in batches of
`majorcyclebatch` unrolled cycles (dagutils.batch_dag).  The last node of each
batch is the next batch, a SUBDAG node whose DAG file this PRE script writes
when the node is ready to run: products/cycle<c>.dag for each of its cycles,
and its own products/majorCycles<FIRST>.dag (products/majorCycles.dag for
FIRST = 1, the top DAG's node majorCycles).  So the run holds as many major
cycles as tclean's own rules take, with no cap of the DAG's: with nmajor = -1
a batch always ends with the next one; with nmajor set, none goes past it.
Exits 99 (the node's PRE_SKIP value: DAGMan marks it done) once the minor cycle
of a cycle before FIRST found tclean's stopping rules met.
"""
import os
import sys

import dagutils
from imaging import products, transfer


def main(first):
    first = int(first)
    try:
        params = dagutils.load_params()
        stopped = products.stopped_before(first, params)
    except (RuntimeError, *dagutils.INPUT_ERRORS) as e:
        sys.exit(f"nextCycles: {e}")
    cycles = dagutils.cycle_batch(first, params)
    if stopped or not cycles:
        print(f"nextCycles: cycles from {first} on skipped: "
              + (f"stopped after cycle {stopped['cycle']} ({stopped['stopreason']})"
                 if stopped else f"nmajor = {params['nmajor']}"))
        sys.exit(dagutils.SKIP_EXIT)
    write_batch(params, cycles)
    print(f"nextCycles: wrote {dagutils.batch_path(first)}: cycles {cycles[0]} to {cycles[-1]}")


def write_batch(params, cycles):
    plan = products.read_plan(params=params)
    for c in cycles:
        path = os.path.join(products.PRODUCTS, f"cycle{c}.dag")
        products.write_text_atomic(path, dagutils.cycle_subdag(plan, c, transfer.enabled(params)))
    more = params["nmajor"] < 0 or cycles[-1] < params["nmajor"]
    products.write_text_atomic(dagutils.batch_path(cycles[0]), dagutils.batch_dag(cycles, more))


if __name__ == "__main__":
    main(*sys.argv[1:])
