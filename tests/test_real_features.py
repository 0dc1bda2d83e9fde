"""The tclean features real runs use, on the real EVLA observation (J1008+0730 at Ka
band, the calibrated, partly flagged copy of tests/test_real_evla.py), against
monolithic tclean on the same data:

- automasking (usemask='auto-multithresh', pbmask): every cycle's mask has
  tclean's pixels (tools/automask_dag_check.py), the same cycles, iterations and
  stop, the restored image within 1e-3 of the peak; awproject, 3 sub-MSes.
- the self-calibration loop of README ("tclean's features"): a run with
  savemodel='modelcolumn' writes MODEL_DATA as tclean writes it (to 1e-5 of its
  largest amplitude); phase gains solved against it (gaincal) and applied; a new
  run on the corrected data starting from the first run's model (startmodel)
  equals tclean given the same start model on the same data.
"""
import json
import shutil

import numpy as np
import pytest

import imagecompare as ic
from helpers import PYTHON, STANDARD, assert_equals_tclean, new_run, run

pytestmark = pytest.mark.casa

REAL = {"imagename": "j1008", "imsize": [128, 128], "cell": "0.5arcsec", "reffreq": "36.3GHz",
        "datacolumn": "corrected", "maxsubmssize": 4_500_000}      # 3 sub-MSes
AUTOMASK = {"usemask": "auto-multithresh", "pbmask": 0.3, "niter": 200, "cycleniter": 10,
            "threshold": "0.1Jy", "weighting": "briggs", "robust": 0.5,
            "sidelobethreshold": 2.0, "noisethreshold": 4.25, "lownoisethreshold": 1.5,
            "minbeamfrac": 0.3, "growiterations": 75, "fastnoise": True}   # (awproject)


def test_automasking_on_real_data_equals_tclean_every_cycle(session_dir, calibrated_ms):
    rundir = new_run(session_dir / "real_automask", {**REAL, **AUTOMASK, "vis": str(calibrated_ms)})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    plan = json.loads((rundir / "products" / "partitions.json").read_text())
    assert len(plan["parts"]) == 3
    work = session_dir / "real_automask_tclean"
    run([PYTHON, "-m", "tools.automask_dag_check", rundir, work], cwd=rundir)
    result = json.loads((work / "result.json").read_text())
    cycles = result["cycles"]
    assert len(cycles) == result["tclean"]["nmajordone"] >= 2
    assert cycles[-1]["iterdone"] == result["tclean"]["iterdone"]
    assert cycles[-1]["stopcode"] == result["tclean"]["stopcode"]
    for c in cycles[:-1]:
        assert c["mask_vs_tclean"][0] == 0, f"cycle {c['cycle']}: {c['mask_vs_tclean']}"
        assert c["mask_vs_tclean"][1] > 0, f"cycle {c['cycle']}: an empty mask proves nothing"
    assert result["final_mask_vs_tclean"][0] == 0, result["final_mask_vs_tclean"]
    assert result["image.tt0"] <= 1e-3, result


# ---------------------------------------------------------------- self-calibration
SELFCAL = {**REAL, **STANDARD, "deconvolver": "hogbom", "nterms": 1, "niter": 100,
           "cycleniter": 20, "threshold": "0.02Jy"}     # (one narrow SPW: nterms = 1)


def tclean_ref(folder, rundir, vis, **overrides):
    folder.mkdir()
    run([PYTHON, "-m", "tools.tcleanReference", rundir / "params" / "imaging.py", vis,
         folder / "ref", *(f"{k}={v!r}" for k, v in overrides.items())], cwd=folder)
    return folder / "ref"


def column(ms, name):
    from casatools import table
    tb = table()
    tb.open(str(ms))
    try:
        return tb.getcol(name)
    finally:
        tb.close()


# Phase gains against MODEL_DATA, the first calibration applied before; both applied.
SELF_CALIBRATE = """
from casatasks import applycal, gaincal
gaincal(vis='{vis}', caltable='selfcal_p.G', solint='inf', refant='3', calmode='p',
        minsnr=2, gaintable=['selfcal.G'])
applycal(vis='{vis}', gaintable=['selfcal.G', 'selfcal_p.G'], calwt=False, flagbackup=False)
"""


@pytest.fixture(scope="module")
def first_round(session_dir, calibrated_ms):
    """The first imaging of the loop, writing MODEL_DATA: the DAG on one copy of the
    calibrated MS, tclean on another."""
    copies = {}
    for who in ("dag", "tclean"):
        copies[who] = session_dir / f"selfcal_{who}.ms"
        shutil.copytree(calibrated_ms, copies[who])
    shutil.copytree(f"{calibrated_ms}.G", session_dir / "selfcal.G")      # the first calibration
    rundir = new_run(session_dir / "selfcal_0", {**SELFCAL, "savemodel": "modelcolumn",
                                                 "vis": str(copies["dag"])})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    tclean_ref(session_dir / "selfcal_0_tclean", rundir, copies["tclean"])
    return rundir, copies


def test_the_model_column_of_a_real_run_equals_tclean(first_round):
    _, copies = first_round
    ours, theirs = column(copies["dag"], "MODEL_DATA"), column(copies["tclean"], "MODEL_DATA")
    assert ours.shape == theirs.shape
    largest = np.abs(theirs).max()
    assert largest > 0.1                         # (the 1 Jy source, predicted)
    assert np.abs(ours - theirs).max() <= 1e-5 * largest


def test_a_self_calibrated_second_round_from_the_first_model_equals_tclean(
        first_round, session_dir):
    rundir, copies = first_round
    vis = copies["dag"]
    before = column(vis, "CORRECTED_DATA")
    run([PYTHON, "-c", SELF_CALIBRATE.format(vis=vis)], cwd=session_dir)
    assert np.abs(column(vis, "CORRECTED_DATA") - before).max() > 1e-3 * np.abs(before).max()   # (it changed)
    model = str(rundir / "products" / "final" / "j1008.model")
    again = new_run(session_dir / "selfcal_1", {**SELFCAL, "vis": str(vis), "startmodel": model,
                                                "threshold": "5mJy"})   # (cleans on)
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=again)
    ref = tclean_ref(session_dir / "selfcal_1_tclean", again, vis, startmodel=model)
    assert_equals_tclean(again, ref, 1e-5, imagename="j1008", term="")
    assert json.loads((again / "products" / "final" / "summary.json").read_text())["iterdone"] > 0
    assert ic.relative_difference(str(again / "products" / "final" / "j1008.residual"),
                                  f"{ref}.residual", ic.pb_region(f"{ref}.pb", 0.2)) <= 1e-3
