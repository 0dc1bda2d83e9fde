"""Failures and recovery with the local runner (make run): RETRY, a clean stop, rescue.

Failures are injected into a run directory's own copy of a stage script (the
project's scripts are untouched): a job that fails once is retried and the
run still equals tclean; a sub-MS that disappears stops the run with a
message naming the node and its log, and running again, after the fix the
message gives, re-does only what did not finish.  The job log read here is
parsed with HTCondor's own reader (htcondor2.JobEventLog).
"""
import os
import re

import pytest

from imaging.partitioning import size_for

from helpers import (FAIL_BEFORE_PUBLISHING, FAIL_ONCE, PYTHON, REMOVE_SUBMS, assert_equals_tclean,
                     attempts, inject, inodes, new_run, run, status)

DAG = ["-m", "dagengine", "dag/condor_imaging.dag"]


@pytest.mark.casa
def test_failed_jobs_are_retried_and_images_equal_tclean(session_dir, shared, sim_ms, cf_run,
                                                         references):
    """A gridding job of cycle 1 fails at its start; addImages of cycle 0 fails after its
    work, before publishing.  RETRY re-runs both; nothing else runs twice; the images are
    tclean's to 1e-5 of the peak, as a run without failures (the retried normalization
    does not compound on the sub-images the failed try had already touched)."""
    rundir = new_run(session_dir / "retry", {**shared, "maxsubmssize": size_for(2, sim_ms)})
    inject(rundir, "allImagers.py", FAIL_ONCE.format(target=("n2", "1")))
    inject(rundir, "addImages.py", FAIL_BEFORE_PUBLISHING)
    proc = run([PYTHON, *DAG], cwd=rundir)
    assert "allImagers_c1_n2: failed (exit code 1), retry 1 of 2" in proc.stdout
    assert "addImages: failed (exit code 1), retry 1 of 1" in proc.stdout
    tries = attempts(rundir)
    assert tries.pop("allImagers_c1_n2") == [1, 0] and tries.pop("addImages") == [1, 0]
    assert all(rcs == [0] for rcs in tries.values()), tries
    assert_equals_tclean(rundir, references["awproject"], 1e-5)
    text = status(rundir)
    assert "state:   finished" in text and "2 retried" in text


@pytest.mark.casa
def test_missing_subms_stops_cleanly_and_running_again_continues(session_dir, shared, sim_ms,
                                                                 cf_run, references):
    """The sub-MS of part n2 disappears: its gridding job fails on every try with a message
    naming the sub-MS; the run stops naming the node and its log and leaves rescue files;
    `make status` says the same.  After the fix the message gives (MSpartition again),
    running again continues from the rescue files: part n1's finished sub-images are not
    made again, and the result is tclean's."""
    rundir = new_run(session_dir / "missing", {**shared, "maxsubmssize": size_for(2, sim_ms)})
    inject(rundir, "allImagers.py", REMOVE_SUBMS)
    proc = run([PYTHON, *DAG], cwd=rundir, check=False)
    assert proc.returncode == 1
    assert re.search(r"node 'allImagers/allImagers_c0_n2'.*logs/allImagers_c0_n2\.err", proc.stderr)
    err = (rundir / "logs" / "allImagers_c0_n2.err").read_text()
    assert "sub-MS products/subms/sim_evla.n2.ms does not exist" in err
    assert attempts(rundir)["allImagers_c0_n2"] == [1, 1, 1]       # RETRY 2: three tries
    assert (rundir / "dag" / "condor_imaging.dag.rescue001").exists()
    assert "DONE allImagers_c0_n1" in (rundir / "products" / "allImagers.dag.rescue001").read_text()
    assert not (rundir / "products" / "psf").exists()
    text = status(rundir)
    assert "state:   failed" in text
    assert "failed:  allImagers_c0_n2: see logs/allImagers_c0_n2.err" in text
    assert "gridding (allImagers): 1 of 2 sub-MSes done" in text
    finished = inodes(rundir, ["parts/psf/n1", "parts/cycle0/n1", "subms"])

    run(["scripts/runjob", "MSpartition.py"], cwd=rundir)            # what the message says
    run([PYTHON, *DAG], cwd=rundir)
    assert inodes(rundir, ["parts/psf/n1", "parts/cycle0/n1", "subms"]).items() >= \
        finished.items()                                             # kept, not made again
    assert attempts(rundir)["allImagers_c0_n1"] == [0]
    assert attempts(rundir)["allImagers_c0_n2"] == [1, 1, 1, 0]
    assert_equals_tclean(rundir, references["awproject"], 1e-5)
    assert "state:   finished" in status(rundir)


@pytest.mark.fast
def test_status_ignores_a_lock_left_by_a_killed_runner(tmp_path, monkeypatch):
    """A lock whose dagrunner process is gone (kill -9) is not a running DAG."""
    import subprocess
    from tools import progress
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dag").mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "dag" / "condor_imaging.dag.lock").write_text(f"dagrunner pid {dead.pid}\n")
    assert progress.run_state()[0] == "not started"
    (tmp_path / "dag" / "condor_imaging.dag.lock").write_text(f"dagrunner pid {os.getpid()}\n")
    assert progress.run_state() == ("running", f"dagrunner pid {os.getpid()}")


@pytest.mark.fast
@pytest.mark.parametrize("start, wanted", [
    ("", "gridding (allImagers): 1 of 2 sub-MSes done"),
    ("earlier.model.tt0", "adding and normalizing (addImages)")])
def test_status_counts_gridded_submses_as_the_run_was_validated(tmp_path, monkeypatch, start,
                                                                 wanted):
    """make status reads the run's own parameters (products/params.json) to know what a
    gridding job of cycle 0 publishes: the PSF too, unless a start model is given (its PSF
    comes from the psf pass)."""
    from imaging import products
    from tools import progress
    monkeypatch.chdir(tmp_path)
    products.write_json(products.PARAMS_RECORD, {"startmodel": start})
    products.write_plan({"parts": [{"part": "1"}, {"part": "2"}]})
    for part in ("1", "2"):
        os.makedirs(products.part_dir("cycle", part, 0))
    os.makedirs(products.part_dir("psf", "1"))
    assert progress.stage(progress.jobs()) == (wanted, 0)
