"""A finished run with usemask='auto-multithresh' against tclean, cycle by cycle.

    python -m tools.automask_dag_check RUNDIR WORKDIR

Runs tclean (hooked as in automask_check.py, to keep the mask of every
updateMask) with the run's parameters in WORKDIR, then compares, per cycle, the
DAG's products/minor<c> mask with the mask tclean's updateMask made in that
cycle, the final masks, and the final images; prints the comparison and writes
it to WORKDIR/result.json (what tests/test_automask.py asserts on).
"""
import json
import os
import shutil
import sys

import numpy as np

from imaging import casaenv  # noqa: F401  (before casatools: the offline CASA set-up)
from imaging import automask, parameters
from tools.automask_check import run_tclean


def main(rundir, work):
    args = tclean_arguments(rundir, work)
    vis, base = args.pop("vis"), os.path.basename(args.pop("imagename"))
    imagename, log = run_tclean(vis, work, args)
    print("tclean", log["summary"], log["iters_per_cycle"])
    cycles = compare_cycles(rundir, work, base)
    last_mask = os.path.join(rundir, "products", f"minor{len(cycles) - 1}", f"{base}.mask")
    result = {"tclean": log["summary"], "cycles": cycles,
              "final_mask_vs_tclean": automask.compare_masks(last_mask, imagename + ".mask"),
              **compare_images(os.path.join(rundir, "products", "final", base), imagename)}
    print("final mask DAG vs tclean (differing, DAG, tclean):", result["final_mask_vs_tclean"])
    with open(os.path.join(work, "result.json"), "w") as f:
        json.dump(result, f, indent=1)


def tclean_arguments(rundir, work):
    """The run's tclean parameters (without the decomposition's own), in a fresh
    WORKDIR; a CF cache is given to tclean as a copy, as the tests do."""
    args = parameters.read_assignments(os.path.join(rundir, parameters.DEFAULT_FILE))
    for name in parameters.DECOMPOSITION:
        args.pop(name, None)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    if args.get("cfcache"):
        source = os.path.join(rundir, args["cfcache"])
        args["cfcache"] = os.path.join(work, "ref.cf")
        if os.path.isdir(source):
            shutil.copytree(source, args["cfcache"])
    return args


def compare_cycles(rundir, work, base):
    """Per cycle of the run: its iterations, stop code, and its mask against the mask
    tclean's updateMask made in the same cycle (differing pixels, DAG's, tclean's)."""
    cycles, c = [], 0
    while os.path.isdir(minor := os.path.join(rundir, "products", f"minor{c}")):
        with open(os.path.join(minor, "record.json")) as f:
            record = json.load(f)
        ours, theirs = os.path.join(minor, f"{base}.mask"), os.path.join(work, "snap", f"c{c}.mask")
        both = os.path.isdir(ours) and os.path.isdir(theirs)
        cycles.append({"cycle": c, "iterdone": record["iterdone"], "stopcode": record["stopcode"],
                       "mask_vs_tclean": automask.compare_masks(ours, theirs) if both else None})
        print(f"cycle {c}: {cycles[-1]}")
        c += 1
    return cycles


def compare_images(ours, theirs):
    """max |DAG - tclean| / tclean's peak of the restored image, model and residual."""
    result = {}
    for kind in ("image.tt0", "model.tt0", "residual.tt0"):
        name = kind if os.path.isdir(f"{theirs}.{kind}") else kind[:-4]   # nterms=1: no .tt0
        a, b = automask.pixels(f"{ours}.{name}"), automask.pixels(f"{theirs}.{name}")
        result[kind] = float(np.abs(a - b).max() / np.abs(b).max())
        print(kind, "max |DAG - tclean| / peak:", result[kind])
    return result


if __name__ == "__main__":
    main(*sys.argv[1:3])
