"""sharedfs = False: the remote jobs run in scratch directories of their own and get
their files by file transfer, with the same images as on a shared filesystem.

Here the local runner emulates HTCondor's file transfer (a fresh scratch
directory per job, inputs copied in, outputs copied back through
transfer_output_remaps); test_pool.py runs the same under real HTCondor on an
execute node that cannot see the run directory at all.  The case has Briggs
weighting, so the weight-density jobs are staged too, and two sub-MSes.
"""
import json

import pytest

from imaging import transfer
from imaging.partitioning import size_for

import imagecompare as ic
from helpers import PYTHON, new_run, run

pytestmark = pytest.mark.casa

CASE = {"weighting": "briggs", "robust": 0.5}


@pytest.fixture(scope="module")
def runs(session_dir, shared, sim_ms, cf_run):
    """The same parameters with (True) and without (False) a shared filesystem."""
    rundirs = {}
    for sharedfs in (True, False):
        rundir = new_run(session_dir / f"sharedfs_{sharedfs}",
                         {**shared, **CASE, "maxsubmssize": size_for(2, sim_ms), "sharedfs": sharedfs})
        run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
        rundirs[sharedfs] = rundir
    return rundirs


def test_images_equal_the_shared_filesystem_run(runs):
    ic.assert_same_images(runs[False] / "products" / "final", runs[True] / "products" / "final")


def test_remote_jobs_ran_in_scratch_with_what_was_staged(runs):
    rundir = runs[False]
    outs = {p.stem: p.read_text() for p in (rundir / "logs").glob("*.out")}
    remote = [n for n in outs if n.split("_")[0] in ("allImagers", "weights", "weightsSum",
                                                     "addImages", "deconvolve", "restore")]
    assert {"weights_n1", "weightsSum", "allImagers_c0_n2", "addImages", "restore"} <= set(remote)
    for node in remote:
        where = [line.rsplit(" in ", 1)[1] for line in outs[node].splitlines()
                 if line.startswith("remotejob: ")]
        assert where and where[0] != str(rundir), f"{node} did not run in a scratch directory"
    for node in ("MSpartition", "CFdry", "CFmerge"):          # local universe: the run directory
        assert "remotejob" not in outs[node]
    assert (rundir / "products" / "transfer" / "code.tar").is_file()
    staged = rundir / "products" / "transfer"
    assert not list((staged / "in").iterdir()) and not list((staged / "out").iterdir())
    assert "stageIn.py" in (rundir / "products" / "allImagers.dag").read_text()
    assert "stageIn.py" not in (runs[True] / "products" / "allImagers.dag").read_text()
    assert not (runs[True] / "products" / "transfer").exists()


def test_a_job_is_sent_only_what_its_stage_reads(runs, monkeypatch):
    """The second major cycle's gridding job: the model to predict (and what its links
    point at), its sub-MS's weight, the coordinates and weight density; no other
    sub-MS's products, no residual of the first cycle."""
    rundir = runs[False]
    params = json.loads((rundir / "products" / "params.json").read_text())
    monkeypatch.chdir(rundir)
    paths = transfer.inputs("allImagers.py", ["n1", "products/subms/x.n1.ms", "1"], params)
    assert "products/minor0/predict" in paths and "products/coordsys.pickle" in paths
    assert "products/weights" in paths
    assert all("/n2" not in p and "parts/cycle0" not in p for p in paths)
    (rundir / "mask.crtf").write_text("#CRTFv0\ncircle[[10pix, 10pix], 3pix]\n")
    minor = transfer.inputs("deconvolve.py", ["1"], {**params, "mask": "mask.crtf"})
    assert "mask.crtf" in minor and "products/cycle1" in minor
    assert "products/minor0/record.json" in minor
