"""The tclean features real runs use, on the real EVLA observation (J1008+0730 at Ka
band, the calibrated, partly flagged copy of tests/test_real_evla.py), against
monolithic tclean on the same data:

- automasking (usemask='auto-multithresh', pbmask): every cycle's mask has
  tclean's pixels (tools/automask_dag_check.py), the same cycles, iterations and
  stop, the restored image within 1e-3 of the peak; awproject, 3 sub-MSes.
"""
import json

import pytest

from helpers import PYTHON, new_run, run

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
