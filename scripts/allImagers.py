"""allImagers: grid one sub-MS into un-normalized images (one DAG node per sub-MS).

    allImagers.py PART SUBMS CYCLE

Cycle 0 makes the sub-MS's PSF, weight and sum of weights
(products/parts/psf/PART) and its first residual (products/parts/cycle0/PART).
Images are made in a scratch folder and moved into place when complete, so a
retried job starts clean and a finished product is never half-written.  The
CF cache is only read.
"""
import os
import sys

import dagutils
import synthesis


def main(part, subms, cycle):
    params = dagutils.load_params()
    cycle = int(cycle)
    if cycle == 0:
        grid_part(params, subms, dagutils.part_dir("psf", part), synthesis.grid_psf)
    grid_part(params, subms, dagutils.part_dir("cycle", part, cycle), synthesis.grid_residual)


def grid_part(params, subms, final, grid):
    if os.path.isdir(final):
        print(f"allImagers: {final} exists from an earlier try; kept")
        return
    work = dagutils.fresh_dir(final + ".tmp")
    grid(params, subms, dagutils.image_base(work, params))
    dagutils.publish_dir(work, final)
    print(f"allImagers: wrote {final}")


if __name__ == "__main__":
    main(*sys.argv[1:])
