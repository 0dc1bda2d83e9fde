"""PRE script of a major-cycle node: skip the cycle once the run has stopped.

    skipCycle.py CYCLE

Exits 99 (the cycle's PRE_SKIP value: DAGMan marks the node done without
running it) if the deconvolve job of cycle CYCLE-1 or of any earlier cycle
found tclean's stopping rules met; 0 to run the cycle; 1 if a cycle before
has no record (it did not finish) or one made from other inputs.
"""
import sys

import dagutils
from imaging import products


def main(cycle):
    cycle = int(cycle)
    try:
        stopped = products.stopped_before(cycle, dagutils.load_params())
    except (RuntimeError, *dagutils.INPUT_ERRORS) as e:
        sys.exit(f"skipCycle: {e}")
    if stopped:
        print(f"skipCycle: cycle {cycle} skipped: stopped after cycle {stopped['cycle']} "
              f"({stopped['stopreason']})")
        sys.exit(dagutils.SKIP_EXIT)
    print(f"skipCycle: cycle {cycle} runs")


if __name__ == "__main__":
    main(*sys.argv[1:])
