"""The CF cache: filled by several jobs at once, equal to tclean's own, made once per set
of CF parameters, shared by path, refused by gridding when it does not fit the run."""
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from imaging import cfcache, parameters

from helpers import PYTHON, attempts, casa_env, folder_digest, new_run, run

pytestmark = pytest.mark.casa


def cf_files(folder):
    """Digest of every CF image's pixel data (table.f0*), by CF and file name."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.glob("*CFS_*/table.f0*")}


def test_make_cfs_filled_in_parallel_equals_tclean_cache(cf_run, shared, tclean_ref):
    """`make cfs` (2 fill jobs on 2 cores) made every CF's pixels byte for byte as
    tclean, filling serially, made its own cache from the same parameters."""
    tries = attempts(cf_run)
    assert tries["CFfill_1"] == [0] and tries["CFfill_2"] == [0], tries
    cache = Path(shared["cfcache"])
    ours, theirs = cf_files(cache), cf_files(tclean_ref.parent / f"{tclean_ref.name}.cf")
    assert len(ours) == 2 * 8 * 2 and ours == theirs      # (WT)CFS x 8 CFs x (f0, f0_TSM0)
    assert not list(cache.parent.glob("*.build-*"))      # the work folders are cleaned up


def test_cfs_up_to_date_does_nothing(cf_run, shared):
    before = folder_digest(shared["cfcache"])
    run(["make", "-s", "cfs"], cwd=cf_run)
    assert "is up to date" in (cf_run / "logs" / "CFdry.out").read_text()
    assert "NOOP" in (cf_run / "products" / "cfFill.dag").read_text()
    assert folder_digest(shared["cfcache"]) == before


def test_cache_holds_the_cfs_of_every_spw(cf_run, shared, sim_ms):
    """One CF and one weight CF per SPW and Taylor-term pair, as tclean's own cache."""
    from casatools import msmetadata
    md = msmetadata()
    md.open(str(sim_ms))
    nspw = md.nspw()
    md.close()
    cfs = cfcache.cf_names(shared["cfcache"])
    assert {n.split("_")[4] for n in cfs} == {str(s) for s in range(nspw)}
    assert cfcache.empty_cfs(shared["cfcache"]) == []


@pytest.mark.parametrize("change", [{"cell": "5arcsec"}, {"wprojplanes": 4},
                                    {"imsize": [128, 128]}, {"aterm": False}])
def test_gridding_refuses_a_cache_made_for_other_parameters(cf_run, shared, session_dir, sim_ms,
                                                            change):
    name = "stale_" + "_".join(change)
    rundir = new_run(session_dir / name, {**shared, **change})
    params = parameters.load(str(rundir / "params" / "imaging.py"), rundir=str(rundir))
    assert cfcache.status(params) == "stale"
    assert set(change) <= set(cfcache.differences(params))
    proc = run(["scripts/runjob", "allImagers.py", "n1", sim_ms, "0"], cwd=rundir, check=False)
    assert proc.returncode != 0 and "was made for other parameters" in proc.stderr
    assert "make cfs" in proc.stderr and not (rundir / "products" / "parts").exists()


def test_gridding_refuses_an_incomplete_cache(cf_run, shared, session_dir, sim_ms):
    """A cache with one CF as drygridding left it (as after an interrupted copy)."""
    copy = session_dir / "incomplete" / "ctb80.cf"
    shutil.copytree(shared["cfcache"], copy)
    shutil.copy(f"{shared['cfcache']}.json", f"{copy}.json")
    empty = next(copy.glob("WTCFS_*")) / "table.f0_TSM0"
    empty.write_bytes(b"\0" * cfcache.EMPTY_CF_BYTES)
    rundir = new_run(session_dir / "incomplete_run", {**shared, "cfcache": str(copy)})
    proc = run(["scripts/runjob", "allImagers.py", "n1", sim_ms, "0"], cwd=rundir, check=False)
    assert proc.returncode != 0 and "never filled" in proc.stderr and empty.parent.name in proc.stderr


def test_gridder_without_cfs_needs_no_cache(session_dir, shared):
    rundir = new_run(session_dir / "standard_cfs", {**shared, "gridder": "standard",
                                                    "cfcache": ""})
    run(["make", "-s", "cfs"], cwd=rundir)
    assert "needs no CF cache" in (rundir / "logs" / "CFdry.out").read_text()


# ---------------------------------------------------------------- the race CASA avoids
def build(rundirs, cores):
    """dag/cfs.dag in several run directories at once; each exits 0."""
    procs = [subprocess.Popen([PYTHON, "-m", "dagengine", "dag/cfs.dag", "--cores", str(cores)],
                              cwd=d, env=casa_env(d / "logs"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for d in rundirs]
    for d, p in zip(rundirs, procs):
        out = p.communicate(timeout=900)[0]
        assert p.returncode == 0, f"{d}:\n{out[-3000:]}"


def test_parallel_fills_never_race(session_dir, one_spw_ms):
    """Twice, two runs sharing one cache path build it at the same moment, each with
    two fill jobs (four CASA fills at once): every build succeeds, every CF is filled, and
    the cache is byte for byte the one a single fill job makes."""
    shared_cache = session_dir / "race" / "one.cf"
    base = {"vis": str(one_spw_ms), "cfcache": str(shared_cache)}
    serial_cache = session_dir / "race" / "serial.cf"
    serial = new_run(session_dir / "race_serial", {**base, "cfcache": str(serial_cache), "cfjobs": 1})
    run(["scripts/runjob", "prepareRun.py"], cwd=serial)
    build([serial], cores=1)
    reference = folder_digest(serial_cache)
    runs = [new_run(session_dir / f"race_{k}", {**base, "cfjobs": 2}) for k in (1, 2)]
    for rundir in runs:
        run(["scripts/runjob", "prepareRun.py"], cwd=rundir)
    for attempt in range(2):
        shutil.rmtree(shared_cache, ignore_errors=True)
        (shared_cache.parent / "one.cf.json").unlink(missing_ok=True)
        build(runs, cores=2)
        assert cfcache.empty_cfs(shared_cache) == [], attempt
        assert folder_digest(shared_cache) == reference, attempt
    assert sorted(p.name for p in shared_cache.parent.iterdir()) == \
        ["one.cf", "one.cf.json", "one.cf.lock", "serial.cf", "serial.cf.json", "serial.cf.lock"]
