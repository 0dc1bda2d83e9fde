"""Re-runs never give stale images: whatever the user edits, fails, fixes and runs
again, the images are those of the current parameters and MS, or the run says why
not before any job.

- An edit after a failure (another weighting) is refused by `make run` before any
  job, naming the parameter; a DAG re-submitted without `make` (its rescue file
  marks the first node done) stops at its first job, which checks the parameters
  against the record.
- An edit of the minor cycle's parameters only (niter) continues the run from
  its first minor cycle, keeping what was gridded, to tclean's images for the
  new value; the previous final images are kept beside them.
- The CF cache and the products are identified by the MS's content, not its
  path: an MS copied elsewhere is the same MS; one changed in place (other
  frequencies) makes the cache stale and the products refused.
- `make clean` removes this run's half-built CF cache.
"""
import json
import os
import shutil

import pytest

from imaging.partitioning import size_for

import imagecompare as ic
from helpers import PYTHON, STANDARD, inject, new_run, run

pytestmark = pytest.mark.casa

PERMANENT_FAILURE = 'import sys as _sys\n_sys.exit("injected failure")\n'


def job_log_lines(rundir):
    log = rundir / "logs" / "imaging.log"
    return log.read_text().count("\n") if log.exists() else 0


def append(rundir, text):
    with open(rundir / "params" / "imaging.py", "a") as f:
        f.write(text)


def test_an_edit_after_a_failure_is_refused_before_any_job(session_dir, shared, sim_ms):
    rundir = new_run(session_dir / "rerun_edit",
                     {**shared, **STANDARD, "maxsubmssize": size_for(2, sim_ms)})
    original = (rundir / "scripts" / "deconvolve.py").read_text()
    inject(rundir, "deconvolve.py", PERMANENT_FAILURE)
    assert run(["make", "-s", "run"], cwd=rundir, check=False).returncode != 0
    assert (rundir / "dag" / "condor_imaging.dag.rescue001").exists()
    (rundir / "scripts" / "deconvolve.py").write_text(original)     # the cause fixed ...
    append(rundir, "weighting = 'briggs'\n")                        # ... and an edit
    jobs, psf = job_log_lines(rundir), os.stat(rundir / "products" / "psf").st_ino
    proc = run(["make", "-s", "run"], cwd=rundir, check=False)
    assert proc.returncode != 0
    assert "weighting ('natural' -> 'briggs')" in proc.stderr and "make clean" in proc.stderr
    assert job_log_lines(rundir) == jobs and os.stat(rundir / "products" / "psf").st_ino == psf
    # condor_submit_dag (here dagrunner) alone: the rescue file marks prepareRun done,
    # so the first node that runs (its PRE script, then its job) checks the parameters
    proc = run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir, check=False)
    assert proc.returncode != 0 and "node 'deconvolve' PRE script failed" in proc.stderr
    log = (rundir / "logs" / "deconvolve.pre.log").read_text()
    assert "params/imaging.py was edited since this run was checked (weighting changed)" in log
    assert not (rundir / "products" / "minor0").exists()


def test_an_edit_of_niter_continues_from_the_first_minor_cycle_to_tcleans_images(
        session_dir, shared, sim_ms, references):
    rundir = new_run(session_dir / "rerun_niter",
                     {**shared, **STANDARD, "maxsubmssize": size_for(2, sim_ms), "niter": 150})
    run(["make", "-s", "run"], cwd=rundir)
    products = rundir / "products"
    first = json.loads((products / "final" / "summary.json").read_text())
    kept = {p: os.stat(products / p).st_ino for p in ("psf", "cycle0", "parts/cycle0/n1")}
    append(rundir, "niter = 1000\n")                  # params/imaging.py's value, as tclean's
    proc = run(["make", "-s", "run"], cwd=rundir)
    assert "niter (150 -> 1000) changed: the run continues from its deconvolution stage" \
        in proc.stdout
    assert {p: os.stat(products / p).st_ino for p in kept} == kept      # not gridded again
    previous = json.loads((products / "final.previous" / "summary.json").read_text())
    assert previous == first and first["iterdone"] <= 150
    ours = json.loads((products / "final" / "summary.json").read_text())
    ref = references["standard"]
    theirs = json.loads(open(f"{ref}.summary.json").read())
    assert (ours["majorcycles"] + 1, ours["stopcode"]) == (theirs["nmajordone"], theirs["stopcode"])
    assert abs(ours["iterdone"] - theirs["iterdone"]) <= 0.01 * theirs["iterdone"]
    assert ic.relative_difference(str(products / "final" / "ctb80.image.tt0"),
                                  f"{ref}.image.tt0", slice(None)) <= 1e-3


def shift_frequencies(ms, factor):
    """Change an MS's channel frequencies in place (as another SPW split out under the
    same name would), with CASA's table tool."""
    from casatools import table
    tb = table()
    tb.open(str(ms / "SPECTRAL_WINDOW"), nomodify=False)
    try:
        for row in range(tb.nrows()):
            tb.putcell("CHAN_FREQ", row, tb.getcell("CHAN_FREQ", row) * factor)
            tb.putcell("REF_FREQUENCY", row, tb.getcell("REF_FREQUENCY", row) * factor)
    finally:
        tb.close()


def test_an_ms_is_known_by_its_content_not_its_path(session_dir, shared, sim_ms, cf_run):
    """The session's CF cache, made for sim_ms, fits a copy of it at another path; once
    the copy's frequencies change in place, the cache is stale (and made again) and the
    products made from the copy are refused before any job."""
    rundir = new_run(session_dir / "rerun_ms", {"vis": "data/obs.ms", "cfcache": "cfcache/obs.cf",
                                                "maxsubmssize": size_for(2, sim_ms)})
    shutil.copytree(sim_ms, rundir / "data" / "obs.ms")
    shutil.copytree(shared["cfcache"], rundir / "cfcache" / "obs.cf")
    shutil.copy(shared["cfcache"] + ".json", rundir / "cfcache" / "obs.cf.json")
    run(["scripts/runjob", "prepareRun.py", "--before-dag"], cwd=rundir)
    assert "cfcache/obs.cf is up to date" in run(["scripts/runjob", "makeCFs.py", "dry"],
                                                  cwd=rundir).stdout
    run(["scripts/runjob", "MSpartition.py"], cwd=rundir)
    shift_frequencies(rundir / "data" / "obs.ms", 1.05)
    proc = run(["scripts/runjob", "prepareRun.py", "--before-dag"], cwd=rundir, check=False)
    assert proc.returncode != 0
    assert "the MS's spectral windows" in proc.stderr and "make clean" in proc.stderr
    run(["make", "-s", "clean"], cwd=rundir)
    run(["scripts/runjob", "prepareRun.py", "--before-dag"], cwd=rundir)
    dry = run(["scripts/runjob", "makeCFs.py", "dry"], cwd=rundir).stdout
    assert "making cfcache/obs.cf again: it is stale" in dry and "the MS's spectral windows" in dry


def test_make_clean_removes_this_runs_half_built_cf_cache(session_dir, shared):
    rundir = new_run(session_dir / "rerun_clean", {"vis": shared["vis"], "cfcache": "cfcache/x.cf"})
    run(["scripts/runjob", "prepareRun.py", "--before-dag"], cwd=rundir)
    run(["scripts/runjob", "makeCFs.py", "dry"], cwd=rundir)
    built = list((rundir / "cfcache").glob("x.cf.build-*"))
    assert len(built) == 1 and (built[0] / "dry").is_dir()
    assert "removed the half-built CF cache" in run(["make", "-s", "clean"], cwd=rundir).stdout
    assert not list((rundir / "cfcache").glob("x.cf.build-*"))
    assert not (rundir / "products").exists()


def test_a_job_refuses_a_product_stamped_for_other_inputs(session_dir, shared, sim_ms):
    """Every job checks the identity a product carries: a sub-MS plan made for other
    partition inputs is refused by the gridding job, naming what to do."""
    rundir = new_run(session_dir / "rerun_stamp", {**shared, **STANDARD})
    run(["scripts/runjob", "prepareRun.py", "--before-dag"], cwd=rundir)
    run(["scripts/runjob", "MSpartition.py"], cwd=rundir)
    plan_path = rundir / "products" / "partitions.json"
    plan = json.loads(plan_path.read_text())
    plan["identity"] = "0" * 16                          # as made for another MS
    plan_path.write_text(json.dumps(plan))
    part = plan["parts"][0]
    proc = run(["scripts/runjob", "allImagers.py", part["part"], part["subms"], "0"],
               cwd=rundir, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "partitions.json and its sub-MSes were made from another MS" in proc.stderr
    assert not (rundir / "products" / "parts").exists()
