"""usemask='auto-multithresh' through the DAG: every cycle's mask is tclean's.

Each deconvolve job makes the auto-mask in a fresh synthesisdeconvolver given
the state tclean's keeps in memory (imaging/automask.py, docs/automask.md).  A
small run (128 px, standard or mosaic gridder) against tclean hooked to keep
the mask of every updateMask (tools/automask_dag_check.py): the DAG's mask of
each cycle has the same pixels (at the stop: the mask of the last minor cycle,
which tclean puts back), the final mask too, the same iterations and stop,
and the restored image within 1e-3 of the peak.  'mosaic-skip' (SPWs 0~1: half
the data, the same path) reaches the threshold and stops masking by
minpercentchange before the last cycle (its deconvolve jobs' automask.json),
with pbmask and negativethreshold on.

The extended-emission cases image the simulated sky's 4' x 3' Gaussian (the
remnant's diffuse emission, tools.simulate.SOURCES) with scales of 0, 20" and
60" as a user would: multiscale on exactly 3 sub-MSes with sharedfs = False
(the local runner's scratch directories and file transfer), and mtmfs with
scales on exactly 1 sub-MS.  In both, tclean's final mask covers more than
half of the Gaussian's half-maximum ellipse: they mask the extended emission,
not only the point sources (of the first two cases, 'standard' does too,
'mosaic-skip' stops at its threshold first: docs/automask.md).
"""
import json
import math

import numpy as np
import pytest

from imaging.partitioning import size_for

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
                    "negativethreshold": 5.0, "minpercentchange": 5.0, "pbmask": 0.5, "spw": "0~1"},
}

# extended emission: (overrides, number of sub-MSes)
EXTENDED = {
    "multiscale-3subms-remote": ({**STANDARD, "deconvolver": "multiscale", "nterms": 1,
                                  "scales": [0, 5, 15], "niter": 400, "threshold": "0mJy",
                                  "negativethreshold": 0.0, "minpercentchange": -1.0,
                                  "pbmask": 0.0, "sharedfs": False}, 3),
    "mtmfs-scales-1subms": ({**STANDARD, "deconvolver": "mtmfs", "nterms": 2,
                             "scales": [0, 5, 15], "niter": 400, "threshold": "0mJy",
                             "negativethreshold": 0.0, "minpercentchange": -1.0,
                             "pbmask": 0.0}, 1),
}


def run_and_check(rundir, work):
    """The DAG run, then tools.automask_dag_check against tclean: its result."""
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    run([PYTHON, "-m", "tools.automask_dag_check", rundir, work], cwd=rundir)
    return json.loads((work / "result.json").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_automask_equals_tclean_every_cycle(case, session_dir, sim_ms):
    rundir = new_run(session_dir / f"automask_{case}",
                     {"vis": str(sim_ms), **AUTOMASK, **CASES[case]})
    assert_equals_tclean_every_cycle(case, run_and_check(rundir, session_dir / f"automask_{case}_tclean"))
    if CASES[case]["minpercentchange"] >= 0:       # the case is there for this path:
        flags = [json.loads(p.read_text())["chanflag"]
                 for p in sorted((rundir / "products").glob("minor*/automask.json"))]
        stopped = [c for c, f in enumerate(flags) if all(f)]
        assert stopped and stopped[0] < len(flags) - 1, f"masking never stopped early: {flags}"


@pytest.mark.parametrize("case", list(EXTENDED))
def test_automask_on_extended_emission_equals_tclean_every_cycle(case, session_dir, sim_ms):
    overrides, nparts = EXTENDED[case]
    rundir = new_run(session_dir / f"automask_{case}", {"vis": str(sim_ms), **AUTOMASK, **overrides,
                                                        "maxsubmssize": size_for(nparts, sim_ms)})
    work = session_dir / f"automask_{case}_tclean"
    result = run_and_check(rundir, work)
    plan = json.loads((rundir / "products" / "partitions.json").read_text())
    assert len(plan["parts"]) == nparts
    if overrides.get("sharedfs") is False:          # the deconvolve jobs ran in scratch
        outs = [p.read_text() for p in (rundir / "logs").glob("deconvolve*.out")]
        assert outs and all("remotejob: deconvolve.py" in o and f" in {rundir}\n" not in o
                            for o in outs)
    assert_equals_tclean_every_cycle(case, result)
    covered = remnant_masked(work / "tclean" / "img.mask")
    assert covered > 0.5, f"tclean's final mask covers only {covered:.0%} of the extended component"


def remnant_masked(mask):
    """The fraction of the extended component's half-maximum ellipse
    (tools.simulate.SOURCES; offsets from the phase centre, the image's reference
    pixel) that a mask covers."""
    from casatools import image
    from imaging import casa
    from tools.simulate import SOURCES
    east0, north0, _, _, (major, minor, pa) = next(s for s in SOURCES if s[4])
    with casa.opened(image(), str(mask)) as ia, casa.using(ia.coordsys()) as cs:
        masked = ia.getchunk()[:, :, 0, 0] > 0
        ref, inc = cs.referencepixel()["numeric"], cs.increment(format="n")["numeric"]
    x, y = np.indices(masked.shape)
    arcmin = np.degrees(1) * 60
    east = -(x - ref[0]) * abs(inc[0]) * arcmin - east0     # RA grows to the left
    north = (y - ref[1]) * inc[1] * arcmin - north0
    t = math.radians(pa)                                    # from north through east
    along, across = east * math.sin(t) + north * math.cos(t), east * math.cos(t) - north * math.sin(t)
    ellipse = (along / (major / 2)) ** 2 + (across / (minor / 2)) ** 2 <= 1
    return masked[ellipse].mean()


def assert_equals_tclean_every_cycle(case, result):
    """Iterations, cycles and stop as tclean's; every cycle's mask and the final
    mask with tclean's pixels; the restored image within 1e-3 of the peak."""
    cycles = result["cycles"]
    assert len(cycles) == result["tclean"]["nmajordone"]
    assert cycles[-1]["iterdone"] == result["tclean"]["iterdone"]
    assert cycles[-1]["stopcode"] == result["tclean"]["stopcode"]
    for c in cycles[:-1]:
        assert c["mask_vs_tclean"][0] == 0, f"{case}: cycle {c['cycle']}: {c['mask_vs_tclean']}"
    assert result["final_mask_vs_tclean"][0] == 0, result["final_mask_vs_tclean"]
    assert result["image.tt0"] <= 1e-3, result
