"""A finished run with usemask='auto-multithresh' against tclean, cycle by cycle.

    python -m tools.automask_dag_check RUNDIR WORKDIR

Runs tclean (hooked as in automask_check.py) with the run's parameters in
WORKDIR and prints, per cycle, the DAG's products/minor<c> mask against the mask
tclean's updateMask made in that cycle, the final masks, and the final images;
writes them to WORKDIR/result.json.
"""
import json, os, sys
from imaging import casaenv  # noqa
from imaging import parameters, automask
from tools.automask_check import run_tclean
import numpy as np
run = sys.argv[1]; work = sys.argv[2]
args = parameters.read_assignments(os.path.join(run, "params/imaging.py"))
for name in parameters.DECOMPOSITION:
    args.pop(name, None)
vis = args.pop("vis"); args.pop("imagename")
import shutil; shutil.rmtree(work, ignore_errors=True); os.makedirs(work)
if args.get("cfcache"):   # tclean on a copy of the run's CF cache, as the tests do
    source = os.path.join(run, args["cfcache"])
    if os.path.isdir(source):
        shutil.copytree(source, os.path.join(work, "ref.cf"))
        args["cfcache"] = os.path.join(work, "ref.cf")
    else:
        args["cfcache"] = os.path.join(work, "ref.cf")
imagename, log = run_tclean(vis, work, args)
print("tclean", log["summary"], log["iters_per_cycle"])
result = {"tclean": log["summary"], "cycles": []}
c = 0
while os.path.isdir(f"{run}/products/minor{c}"):
    rec = json.load(open(f"{run}/products/minor{c}/record.json"))
    m = f"{run}/products/minor{c}/ctb80.mask"
    snap = f"{work}/snap/c{c}.mask"
    cmp = automask.compare_masks(m, snap) if os.path.isdir(snap) and os.path.isdir(m) else None
    print(f"cycle {c}: DAG iterdone {rec['iterdone']} stop {rec['stopcode']}  mask vs tclean's updateMask of cycle {c} (diff, dag, tclean): {cmp}")
    result["cycles"].append({"cycle": c, "iterdone": rec["iterdone"], "stopcode": rec["stopcode"],
                             "mask_vs_tclean": cmp})
    c += 1
final_dag = f"{run}/products/minor{c-1}/ctb80.mask"
result["final_mask_vs_tclean"] = automask.compare_masks(final_dag, imagename + ".mask")
print("final mask DAG vs tclean (diff, dag, tclean):", result["final_mask_vs_tclean"])
for kind in ("image.tt0", "model.tt0", "residual.tt0"):
    name = kind if os.path.isdir(f"{imagename}.{kind}") else kind[:-4]   # nterms=1: no .tt0
    a = automask.pixels(f"{run}/products/final/ctb80.{name}"); b = automask.pixels(f"{imagename}.{name}")
    result[kind] = float(np.abs(a - b).max() / np.abs(b).max())
    print(kind, "max |DAG - tclean| / peak:", result[kind])
with open(os.path.join(work, "result.json"), "w") as f:
    json.dump(result, f, indent=1)
