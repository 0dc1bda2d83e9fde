"""usemask='auto-multithresh' through the DAG: every cycle's mask is tclean's.

Each deconvolve job makes the auto-mask in a fresh synthesisdeconvolver given
the state tclean's keeps in memory (imaging/automask.py, docs/automask.md).  A
small run (128 px, standard or mosaic gridder) against tclean hooked to keep
the mask of every updateMask (tools/automask_dag_check.py): the DAG's mask of
each cycle has the same pixels (at the stop: the mask of the last minor cycle,
which tclean puts back), the final mask too, the same iterations and stop,
and the restored image within 1e-3 of the peak.  'mosaic-skip' reaches the
threshold and stops masking by minpercentchange before the end, with pbmask
and negativethreshold on.
"""
import json

import pytest

from helpers import PYTHON, STANDARD, new_run, run

pytestmark = pytest.mark.casa

AUTOMASK = {"usemask": "auto-multithresh", "imsize": [128, 128], "cell": "4arcsec",
            "weighting": "briggs", "robust": 0.5, "sidelobethreshold": 2.0,
            "noisethreshold": 4.25, "lownoisethreshold": 1.5, "minbeamfrac": 0.3,
            "growiterations": 75, "fastnoise": True, "cycleniter": 60, "nsigma": 0.0}
CASES = {
    "standard": {**STANDARD, "niter": 400, "threshold": "0mJy", "negativethreshold": 0.0,
                 "minpercentchange": -1.0, "pbmask": 0.0},
    "mosaic-skip": {**STANDARD, "gridder": "mosaic", "niter": 1000, "threshold": "8mJy",
                    "negativethreshold": 5.0, "minpercentchange": 5.0, "pbmask": 0.5},
}


@pytest.mark.parametrize("case", list(CASES))
def test_automask_equals_tclean_every_cycle(case, session_dir, sim_ms):
    rundir = new_run(session_dir / f"automask_{case}",
                     {"vis": str(sim_ms), **AUTOMASK, **CASES[case]})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    work = session_dir / f"automask_{case}_tclean"
    run([PYTHON, "-m", "tools.automask_dag_check", rundir, work], cwd=rundir)
    result = json.loads((work / "result.json").read_text())
    cycles = result["cycles"]
    assert len(cycles) == result["tclean"]["nmajordone"]
    assert cycles[-1]["iterdone"] == result["tclean"]["iterdone"]
    assert cycles[-1]["stopcode"] == result["tclean"]["stopcode"]
    for c in cycles[:-1]:
        assert c["mask_vs_tclean"][0] == 0, f"{case}: cycle {c['cycle']}: {c['mask_vs_tclean']}"
    assert result["final_mask_vs_tclean"][0] == 0, result["final_mask_vs_tclean"]
    assert result["image.tt0"] <= 1e-3, result
