"""PRE script of a major-cycle node: skip the cycle once the run has stopped.

    skipCycle.py CYCLE

Exits 99 (the cycle's PRE_SKIP value: DAGMan marks the node done without
running it) if the deconvolve job of cycle CYCLE-1 or of any earlier cycle
found tclean's stopping rules met; 0 to run the cycle; 1 if the cycle before
has no record (it did not finish).
"""
import sys

import dagutils


def main(cycle):
    cycle = int(cycle)
    for k in range(cycle):
        record = dagutils.read_record(k)
        if record is None:
            sys.exit(f"skipCycle: cycle {k} has no record in {dagutils.minor_dir(k)}")
        if record["stopcode"] != 0:
            print(f"skipCycle: cycle {cycle} skipped: stopped after cycle {k} "
                  f"({record['stopreason']})")
            sys.exit(dagutils.SKIP_EXIT)
    print(f"skipCycle: cycle {cycle} runs")


if __name__ == "__main__":
    main(*sys.argv[1:])
