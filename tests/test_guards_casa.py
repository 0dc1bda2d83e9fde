"""The guards (scripts/imaging/guards.py) on real runs and real images: small runs
(64 px, the standard gridder, a few iterations) that went wrong in a known way, and
images made with CASA's image tool whose model lies partly outside the mask.

- a threshold above the first peak residual: nothing is cleaned, and `make run` ends
  with that warning, which summary.txt and `make status` give too; the peak it names is
  the largest |pixel| of the first residual, read with CASA's image tool;
- nterms = 2 on two 64 MHz channels just above reffreq 3 GHz: the Taylor term tt1 is
  meaningless; b/2 is worked out from the MS's channel frequencies and widths (CASA's
  table tool) as the farthest selected frequency from reffreq over reffreq;
- a loop gain of 2.5: the minor cycle overshoots and tclean stops for divergence (code 5)
  after the second major cycle; the peaks named are those of the two residuals, read
  with CASA's image tool;
- automasking with thresholds no source reaches: the automask is empty, tclean stops
  (zero mask) and nothing is cleaned;
- a model with 1 % of its flux outside the mask (made with CASA's image tool);
- and a run that went right (a user mask, nterms = 2 on the whole 2-4 GHz band, cleaned
  to its iteration limit): no warning, and its model has no flux outside its mask.
"""
import html
import json
import re

import numpy as np
import pytest

from helpers import PYTHON, STANDARD, new_run, run, status
from imaging import casaenv  # noqa: F401  (the offline CASA set-up, before casatools)

pytestmark = pytest.mark.casa

SMALL = {**STANDARD, "imsize": [64, 64], "cell": "8arcsec", "niter": 40, "cycleniter": 20,
         "maxsubmssize": "100MB", "pbcor": False}


def test_a_threshold_above_the_peak_ends_make_run_with_nothing_was_cleaned(session_dir,
                                                                           sim_ms):
    rundir = new_run(session_dir / "guard_empty", {"vis": str(sim_ms), **SMALL,
                                                   "threshold": "2Jy"})
    # (-o: the linked environment is set up, whatever the age of this copy's requirements.txt)
    out = run(["make", "-s", "-o", ".venv/.installed", "run"], cwd=rundir).stdout
    out = out.strip().splitlines()
    peak = largest_abs(rundir / "products" / "cycle0" / "ctb80.residual.tt0")
    expected = (f"warning: nothing was cleaned: the model is empty (0 iterations; the first "
                f"peak residual {peak:.4g} Jy/beam was already below threshold 2 Jy: lower "
                f"threshold)")
    assert out[-1] == expected
    # the console: one line per stage seen (polled every 2 s: a 1-second job's stage may
    # pass unseen), the last one after the engine ended; not a line per node (those are in
    # logs/dagrunner.log)
    assert out[-2].startswith("finished: images in products/final") and len(out) < 25, out
    stages = [line for line in out
              if re.fullmatch(r"\d\d:\d\d:\d\d  .* \(jobs: \d+ done, \d+ running\)", line)]
    assert stages[-1].split("  ", 1)[1].startswith("restored after major cycle 0 (jobs: "), out
    assert "node succeeded" not in "\n".join(out)
    assert "restore: node succeeded" in (rundir / "logs" / "dagrunner.log").read_text()
    final = rundir / "products" / "final"
    page = (final / "report.html").read_text()                 # (make run writes it)
    nparts = len(json.loads((rundir / "products" / "partitions.json").read_text())["parts"])
    assert f"<li><b>{html.escape(expected)}</b></li>" in page
    assert "<td>threshold</td><td>&#x27;2Jy&#x27;</td><td>0.0</td>" in page
    assert f"<tr><td>allImagers</td><td>{nparts}</td>" in page
    assert (final / "summary.txt").read_text().splitlines()[-1] == expected
    assert json.loads((final / "summary.json").read_text())["warnings"] == [
        expected.removeprefix("warning: ")]
    assert status(rundir).strip().splitlines()[-1] == expected


def test_nterms_2_on_a_narrow_band_says_tt1_is_poorly_constrained(session_dir, sim_ms):
    spw = "2:0~1"
    rundir = new_run(session_dir / "guard_taylor", {"vis": str(sim_ms), **SMALL, "spw": spw,
                                                    "nterms": 2, "reffreq": "3GHz"})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    summary = json.loads((rundir / "products" / "final" / "summary.json").read_text())
    [line] = summary["warnings"]
    half = farthest_from(sim_ms, 2, [0, 1], 3e9) / 3e9
    assert half < 0.05, "the test's selection must be narrow"
    assert f"(b/2 = {half:.2g}," in line and "tt1 (spectral index) is poorly constrained" in line
    assert re.search(r"\(\(b/2\)\^1 = [0-9.]+ < 0.05\): use nterms = 1", line), line


def test_a_loop_gain_of_2_5_diverges_and_says_so_with_the_peaks(session_dir, sim_ms):
    rundir = new_run(session_dir / "guard_diverge", {
        "vis": str(sim_ms), **SMALL, "deconvolver": "hogbom", "nterms": 1, "gain": 2.5,
        "threshold": "0mJy"})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    summary = json.loads((rundir / "products" / "final" / "summary.json").read_text())
    peaks = [largest_abs(rundir / "products" / f"cycle{c}" / "ctb80.residual") for c in (0, 1)]
    assert peaks[1] > 3 * peaks[0], "the run must diverge (tclean's stop code 5)"
    assert summary["warnings"] == [
        f"the minor cycle diverged: tclean stopped at major cycle 1: peak residual increased "
        f"by more than 3 times from the previous major cycle (peak residuals 0: "
        f"{peaks[0]:.4g}, 1: {peaks[1]:.4g}): lower gain (2.5) or raise cyclefactor (1.0), "
        f"or use a mask"]


def test_an_automask_no_source_reaches_is_named_empty(session_dir, sim_ms):
    rundir = new_run(session_dir / "guard_automask", {
        "vis": str(sim_ms), **SMALL, "usemask": "auto-multithresh", "sidelobethreshold": 50.0,
        "noisethreshold": 50.0, "lownoisethreshold": 20.0, "pbmask": 0.0, "threshold": "0mJy"})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    summary = json.loads((rundir / "products" / "final" / "summary.json").read_text())
    assert largest_abs(rundir / "products" / "minor0" / "ctb80.mask") == 0
    assert summary["warnings"] == [
        "nothing was cleaned: the model is empty (0 iterations; the automask found nothing "
        "above its thresholds)",
        "the automask came out empty at major cycle(s) 0 (no pixel in the mask tclean's "
        "updateMask made): nothing was cleaned there; lower sidelobethreshold (50.0) or "
        "noisethreshold (50.0)"]


def test_model_flux_outside_the_mask_is_measured_on_the_images(tmp_path):
    from imaging import guards
    base = str(tmp_path / "made")
    model = np.zeros((16, 16, 1, 1))
    model[8, 8], model[1, 1] = 1.0, 0.01             # 0.01 of 1.01 outside: 0.0099
    mask = np.zeros_like(model)
    mask[6:11, 6:11] = 1.0
    make_image(base + ".model.tt0", model)
    make_image(base + ".model.tt1", model / 2)
    make_image(base + ".mask", mask)
    params = {"usemask": "user", "mask": "box[[6pix, 6pix], [10pix, 10pix]]"}
    facts = guards.image_facts(params, base)
    assert facts["model_peaks"] == [1.0, 0.5]
    assert facts["model_flux"] == pytest.approx(1.01, rel=1e-6)
    assert facts["model_flux_outside"] == pytest.approx(0.01, rel=1e-6)
    [line] = guards.flux_outside_mask(facts["model_flux"], facts["model_flux_outside"])
    assert line.startswith("flux in the model outside the mask: 0.01 Jy of 1.01 Jy "
                           "(sum of |model.tt0|), a fraction 0.0099 > 0.001")
    assert "model_flux" not in guards.image_facts({"usemask": "user", "mask": ""}, base)


def test_a_run_that_went_right_has_no_warning(session_dir, sim_ms):
    rundir = new_run(session_dir / "guard_none", {
        "vis": str(sim_ms), **SMALL, "nterms": 2, "mask": "circle[[32pix, 32pix], 8pix]"})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    final = rundir / "products" / "final"
    summary = json.loads((final / "summary.json").read_text())
    assert summary["iterdone"] > 0
    assert summary["warnings"] == []
    model, mask = (pixels_of(final / name) for name in ("ctb80.model.tt0", "ctb80.mask"))
    assert np.abs(model).sum() > 0 and np.abs(model[mask == 0]).sum() == 0
    assert "warning" not in (final / "summary.txt").read_text()


# ---------------------------------------------------------------- read with CASA's tools

def largest_abs(path):
    return float(np.abs(pixels_of(path)).max())


def pixels_of(path):
    from casatools import image
    ia = image()
    ia.open(str(path))
    try:
        return ia.getchunk()
    finally:
        ia.done()


def farthest_from(ms, spw, chans, freq):
    """The farthest edge of the selected channels from `freq` (Hz), from the MS's
    SPECTRAL_WINDOW table."""
    from casatools import table
    tb = table()
    tb.open(f"{ms}/SPECTRAL_WINDOW")
    try:
        centres = tb.getcell("CHAN_FREQ", spw)[chans]
        widths = np.abs(tb.getcell("CHAN_WIDTH", spw)[chans])
    finally:
        tb.done()
    return float(max(np.abs(centres - widths / 2 - freq).max(),
                     np.abs(centres + widths / 2 - freq).max()))


def make_image(path, pixels):
    from casatools import image
    ia = image()
    ia.fromarray(outfile=path, pixels=pixels, overwrite=True)
    ia.done()
