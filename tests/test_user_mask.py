"""A user mask (a CRTF region) kept through the major cycles as tclean keeps it.

tclean's deconvolver is set up once and keeps the mask it made from `mask` in its
first cycle; the DAG sets up a deconvolver per cycle on an image set that holds
that mask already (copied from the cycle before), and CASA refuses a `mask` given
again beside it ('Mask image ... exists, but a specific input mask ... has also
been supplied'): every cycle after the first must keep the mask it has.  A small
multi-scale run in a 6-pixel circle, of several major cycles, against monolithic
tclean with the same parameters.
"""
import pytest

from helpers import PYTHON, STANDARD, assert_equals_tclean, new_run, run

pytestmark = pytest.mark.casa

MASKED = {**STANDARD, "imsize": [128, 128], "niter": 200, "cycleniter": 50,
          "maxsubmssize": "100MB", "scales": [0, 8], "mask": "circle[[64pix, 64pix], 6pix]"}


def test_a_crtf_mask_is_kept_through_the_major_cycles_as_tclean_keeps_it(session_dir, sim_ms):
    rundir = new_run(session_dir / "user_mask", {"vis": str(sim_ms), **MASKED})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    ref = session_dir / "user_mask_tclean" / "ref"
    ref.parent.mkdir()
    run([PYTHON, "-m", "tools.tcleanReference", rundir / "params" / "imaging.py", sim_ms, ref],
        cwd=ref.parent)
    assert_equals_tclean(rundir, ref, 1e-5)
