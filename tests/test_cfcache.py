"""make cfs: made once, left alone while its parameters are unchanged, refused when stale."""
import pytest

import cfcache
import parameters
from conftest import folder_digest, new_run, run


def test_cfs_up_to_date_does_nothing(cf_run, shared):
    before = folder_digest(shared["cfcache"])
    proc = run(["make", "-s", "cfs"], cwd=cf_run)
    assert "up to date; nothing to do" in proc.stdout
    assert folder_digest(shared["cfcache"]) == before


def test_cache_holds_the_cfs_of_every_spw(cf_run, shared, sim_ms):
    """One CF and one weight CF per SPW and Taylor-term pair, as tclean's own cache."""
    from casatools import msmetadata
    md = msmetadata()
    md.open(str(sim_ms))
    nspw = md.nspw()
    md.close()
    names = sorted(p.name for p in __import__("pathlib").Path(shared["cfcache"]).iterdir())
    cfs = [n for n in names if n.startswith("CFS_")]
    assert {n.split("_")[4] for n in cfs} == {str(s) for s in range(nspw)}


@pytest.mark.parametrize("change", [{"cell": "5arcsec"}, {"wprojplanes": 4},
                                    {"imsize": [128, 128]}, {"aterm": False}])
def test_changed_cf_parameter_makes_the_cache_stale(cf_run, shared, session_dir, change):
    name = "stale_" + "_".join(change)
    rundir = new_run(session_dir / name, {**shared, **change})
    params = parameters.load(str(rundir / "params" / "imaging.py"), rundir=str(rundir))
    assert cfcache.status(params) == "stale"
    assert set(change) <= set(cfcache.differences(params))
    proc = run(["scripts/runjob", "prepareRun.py"], cwd=rundir, check=False)
    assert proc.returncode != 0 and "make cfs" in proc.stderr


def test_gridder_without_cfs_needs_no_cache(session_dir, shared):
    rundir = new_run(session_dir / "standard_cfs", {**shared, "gridder": "standard",
                                                    "cfcache": ""})
    proc = run(["scripts/runjob", "makeCFs.py"], cwd=rundir)
    assert "needs none" in proc.stdout
