"""restore: the final images, once the major cycles have stopped.

    restore.py

Takes the residual of the last major cycle and the model that made it,
restores them with the PSF's beam (every Taylor term, alpha and alpha.error
for mtmfs, pbcor images when pbcor=True) and writes products/final with FITS
copies of the images a user keeps (exportfits = True: imaging/fitsfiles.py), a
summary of the run (summary.json, summary.txt), the quick-look sheet of the
images (quicklook.png: imaging/quicklook.py) and a plot of the peak residual
against major cycle (peak_residual.png).  The summary ends with the
guards' warnings (imaging/guards.py: an empty model, divergence, an empty
automask, model flux outside the mask, Taylor terms on too narrow a band),
which are printed too: the images are made all the same.
"""
import os
import sys

import dagutils
from imaging import fitsfiles, guards, plots, products, quicklook, synthesis


def main():
    params = dagutils.load_params()
    last = products.last_cycle(params)
    if last is None:
        sys.exit("restore: no major cycle has stopped yet (see products/minor*/record.json)")
    final = products.stage_dir("final")
    with products.building(final, params, "restore") as work:
        image = products.image_base(work, params)
        products.assemble_cycle(params, last, image)
        synthesis.restore(params, image)
        if params["exportfits"]:
            fitsfiles.export(image)
        records = [products.read_record(c, params) for c in range(last + 1)]
        run = summary(last, records)
        run["warnings"] = guards.warnings(params, records, guards.image_facts(params, image))
        run["quicklook"] = pictures(params, image, run, work)
        write_summary(work, run)
    print(f"restore: wrote {final}")
    for line in run["warnings"]:
        print(f"warning: {line}")


def summary(last, records):
    return {"majorcycles": last, "iterdone": records[-1]["iterdone"],
            "stopcode": records[-1]["stopcode"], "stopreason": records[-1]["stopreason"],
            "cycles": [{"cycle": r["cycle"], "peakresidual": r["peakresidual"],
                        "iterdone": r["iterdone"]} for r in records]}


def pictures(params, image, run, folder):
    """quicklook.png and peak_residual.png; returns the numbers the sheet shows."""
    threshold = guards.threshold_jy(params) or None
    name = params["imagename"]
    plots.plot_peak_residuals(run["cycles"], os.path.join(folder, "peak_residual.png"),
                              threshold, f"{name}: peak residual per major cycle")
    title = (f"{name}: {run['majorcycles']} major cycles after the first, "
             f"{run['iterdone']} iterations, stopped: {run['stopreason']}")
    return quicklook.sheet(image, params, run["cycles"], os.path.join(folder, "quicklook.png"),
                           title, threshold)


def write_summary(folder, s):
    products.write_json(os.path.join(folder, "summary.json"), s)
    lines = [f"major cycles after the first: {s['majorcycles']}",
             f"minor-cycle iterations: {s['iterdone']}",
             f"stopped: {s['stopreason']} (tclean stop code {s['stopcode']})",
             "", "cycle  peak residual before its minor cycle  iterations done after it"]
    lines += [f"{c['cycle']:5d}  {c['peakresidual'] if c['peakresidual'] is not None else '-':>36}"
              f"  {c['iterdone']:>24}" for c in s["cycles"]]
    if s.get("warnings"):
        lines += [""] + [f"warning: {w}" for w in s["warnings"]]
    with open(os.path.join(folder, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    dagutils.run_stage("restore", main)
