"""Experiment for docs/automask.md: tclean's auto-mask per cycle against a fresh
deconvolver per cycle (as the DAG's deconvolve jobs make it), with and without
the carried state of imaging/automask.py.

    python -m tools.automask_check VIS WORKDIR [name=value ...]

1. tclean (serial) with usemask='auto-multithresh', hooked: before each
   updateMask the whole image set is copied to WORKDIR/snap/c<k>/ (the residual
   of major cycle k, model, psf, pb, ...), after it the mask to
   WORKDIR/snap/c<k>.mask, and the minor-cycle controls of each cycle kept.
2. For each cycle k, on a copy of snapshot k whose mask is the emulation's own
   mask of cycle k-1 (for k=0: tclean's, i.e. none or empty), a fresh
   synthesisdeconvolver: initminorcycle, then
     'fresh':    setupmask                      (no carried state)
     'restored': automask.restore + update_mask (carried state)
   and each variant's mask is compared pixel by pixel with tclean's of cycle k.
Writes WORKDIR/result.json and prints a table.
"""
import ast
import json
import os
import shutil
import sys

from imaging import casaenv  # noqa: F401  (before casatools)
from imaging import automask

DEFAULTS = dict(
    imsize=128, cell="4arcsec", specmode="mfs", deconvolver="mtmfs", nterms=2,
    gridder="standard", weighting="briggs", robust=0.5, niter=400, cycleniter=60,
    gain=0.1, threshold="0mJy", usemask="auto-multithresh", sidelobethreshold=2.0,
    noisethreshold=4.25, lownoisethreshold=1.5, minbeamfrac=0.3, negativethreshold=0.0,
    growiterations=75, pbmask=0.0, minpercentchange=-1.0, fastnoise=True, nsigma=0.0,
    interactive=False, savemodel="none", pblimit=0.2,
)


def image_files(imagename):
    d, base = os.path.split(imagename)
    return [os.path.join(d, f) for f in sorted(os.listdir(d or "."))
            if f.startswith(base + ".") and not f.endswith((".json", ".log"))]


def copy_set(imagename, dest_prefix):
    for path in image_files(imagename):
        suffix = os.path.basename(path)[len(os.path.basename(imagename)):]
        shutil.copytree(path, dest_prefix + suffix)


def run_tclean(vis, workdir, args):
    from casatasks import tclean
    from casatasks.private.imagerhelpers import imager_base
    cls = imager_base.PySynthesisImager
    snap = os.path.join(workdir, "snap")
    os.makedirs(snap, exist_ok=True)
    imagename = os.path.join(workdir, "tclean", "img")
    os.makedirs(os.path.dirname(imagename), exist_ok=True)
    log = {"controls": [], "cycles": 0, "stops": [], "files_after": []}
    orig_update, orig_init_ib, orig_conv = (cls.updateMask, cls.initializeIterationControl,
                                            cls.hasConverged)

    def update(self):
        k = log["cycles"]
        copy_set(imagename, os.path.join(snap, f"c{k}", "img"))
        out = orig_update(self)
        shutil.copytree(imagename + ".mask", os.path.join(snap, f"c{k}.mask"))
        log["cycles"] += 1
        return out

    class Proxy:
        def __init__(self, ib):
            self.ib = ib

        def getminorcyclecontrols(self):
            rec = self.ib.getminorcyclecontrols()
            log["controls"].append({k: (bool(v) if k == "thresholdreached" else
                                        v.item() if hasattr(v, "item") else v)
                                    for k, v in rec.items()})
            return rec

        def __getattr__(self, name):
            return getattr(self.ib, name)

    def init_ib(self):
        orig_init_ib(self)
        self.IBtool = Proxy(self.IBtool)

    def converged(self):
        stop = orig_conv(self)
        log["stops"].append([log["cycles"], bool(stop)])
        return stop

    cls.updateMask, cls.initializeIterationControl, cls.hasConverged = update, init_ib, converged
    try:
        summary = tclean(vis=vis, imagename=imagename, **args)
    finally:
        cls.updateMask, cls.initializeIterationControl, cls.hasConverged = (
            orig_update, orig_init_ib, orig_conv)
    log["files_after"] = [os.path.basename(p) for p in image_files(imagename)]
    log["summary"] = {k: int(summary[k]) for k in ("iterdone", "nmajordone", "stopcode")
                      if k in summary}
    minor = summary.get("summaryminor", {})
    log["iters_per_cycle"] = iterations_per_cycle(minor)
    return imagename, log


def iterations_per_cycle(summaryminor):
    """Iterations of each minor cycle, from tclean's summaryminor (field 0, chan 0, pol 0)."""
    try:
        rec = summaryminor[0][0][0]
        return [int(x) for x in rec["iterDone"]]
    except (KeyError, IndexError, TypeError):
        return None


def decpars(vis, imagename, args):
    from imaging.synthesis import imager_parameters
    return imager_parameters({**args, "vis": vis, "imagename": imagename}).getDecPars()["0"]


def emulate(vis, workdir, args, log, variant):
    from casatools import synthesisdeconvolver
    ncyc = log["cycles"]
    out = os.path.join(workdir, variant)
    os.makedirs(out, exist_ok=True)
    state = automask.initial_state()
    results = []
    prev_mask = None
    for k in range(ncyc):
        job = os.path.join(out, f"job{k}")
        shutil.rmtree(job, ignore_errors=True)
        os.makedirs(job)
        image = os.path.join(job, "img")
        copy_set(os.path.join(workdir, "snap", f"c{k}", "img"), image)
        shutil.rmtree(image + ".prev.mask", ignore_errors=True)
        if prev_mask:
            shutil.rmtree(image + ".mask", ignore_errors=True)
            shutil.copytree(prev_mask, image + ".mask")
        sd = synthesisdeconvolver()
        sd.setupdeconvolution(decpars=decpars(vis, image, args))
        sd.initminorcycle()
        if variant in ("restored", "iterdone-only"):
            if k > 0:
                state = automask.after_minor_cycle(state, log["controls"][k - 1],
                                                   log["iters_per_cycle"][k - 1]
                                                   if log["iters_per_cycle"] else 1)
            if variant == "iterdone-only":  # neither thresholdreached nor chanflag carried
                state = {**state, "thresholdreached": False, "chanflag": [False]}
            before = {kind: automask.pixels(image + "." + kind) for kind in
                      ("model.tt0", "model.tt1", "residual.tt0", "residual.tt1")
                      if os.path.exists(image + "." + kind)}
            automask.restore(sd, state, image)
            after = {kind: automask.pixels(image + "." + kind) for kind in before}
            unchanged = all((before[kind] == after[kind]).all() for kind in before)
            state = automask.update_mask(sd, state)
        else:
            unchanged = True
            sd.setupmask()
        sd.done()
        ndiff, n_emul, n_tclean = automask.compare_masks(
            image + ".mask", os.path.join(workdir, "snap", f"c{k}.mask"))
        results.append({"cycle": k, "differing_pixels": ndiff, "mask_pixels": n_emul,
                        "tclean_mask_pixels": n_tclean, "restoring_step_left_images_unchanged":
                        bool(unchanged), "chanflag": list(state["chanflag"])})
        prev_mask = image + ".mask"
    return results


def main(vis, workdir, *overrides):
    args = dict(DEFAULTS)
    for item in overrides:
        name, value = item.split("=", 1)
        args[name] = ast.literal_eval(value)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    imagename, log = run_tclean(vis, workdir, args)
    result = {"args": args, "tclean": log}
    for variant in ("fresh", "iterdone-only", "restored"):
        result[variant] = emulate(vis, workdir, args, log, variant)
    # tclean's output mask: at the stop it puts back the mask of its last minor cycle
    last = len(log["iters_per_cycle"] or []) - 1
    if last >= 0:
        result["final_mask_vs_last_minor_cycle_mask"] = automask.compare_masks(
            imagename + ".mask", os.path.join(workdir, "snap", f"c{last}.mask"))
    with open(os.path.join(workdir, "result.json"), "w") as f:
        json.dump(result, f, indent=1, default=str)
    print("tclean:", log["summary"], "iterations per cycle:", log["iters_per_cycle"])
    print("thresholdreached per cycle:", [c["thresholdreached"] for c in log["controls"]])
    print("final mask vs mask of the last minor cycle (differing, final, last):",
          result.get("final_mask_vs_last_minor_cycle_mask"))
    print(f"{'cycle':>5} {'tclean px':>9} | {'fresh px':>8} {'diff':>5} | "
          f"{'iterdone-only px':>16} {'diff':>5} | "
          f"{'restored px':>11} {'diff':>5} {'model/res same':>14} chanflag")
    for f, i, r in zip(result["fresh"], result["iterdone-only"], result["restored"]):
        print(f"{f['cycle']:>5} {f['tclean_mask_pixels']:>9} | {f['mask_pixels']:>8} "
              f"{f['differing_pixels']:>5} | {i['mask_pixels']:>16} {i['differing_pixels']:>5} | "
              f"{r['mask_pixels']:>11} {r['differing_pixels']:>5} "
              f"{str(r['restoring_step_left_images_unchanged']):>14} {r['chanflag']}")


if __name__ == "__main__":
    main(*sys.argv[1:])
