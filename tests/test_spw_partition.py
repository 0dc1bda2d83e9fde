"""partitionby = 'spw' and 'both': sub-MSes of spectral-window groups equal tclean's images.

On a 2-SPW MS (half an hour, 2 channels per SPW): the sub-MSes hold every row once,
each only its group's SPWs; the first cycle (PSF, weight, pb, sumwt, residual, every
Taylor term) equals tclean(niter=0)'s to 1e-5 of the peak, and an iterating run's
restored image.tt0 equals tclean's to 1e-3 with the same cycles, iterations and stop:
with the standard gridder and Briggs weighting, and with awproject, whose gridding jobs
get a CF cache of the CFs they use (their SPWs' and those at their channels' conjugate
frequencies) made from the whole cache by links, sent alone without a shared
filesystem.  (4 SPWs, one per sub-MS, were checked by hand the same way: every
first-cycle image within 2.8e-7 of tclean's; cfcache.py.)
"""
import json
import shutil
import tarfile

import numpy as np
import pytest

from imaging import cfcache, partitioning, transfer

import imagecompare as ic
from helpers import (PYTHON, ROOT, STANDARD, assert_equals_tclean,
                     assert_first_cycle_equals_tclean, columns, disk_bytes, folder_digest,
                     new_run, row_keys, run)

pytestmark = pytest.mark.casa

PBLIMIT = 0.2
SMALL = {"imsize": [128, 128], "cell": "12arcsec"}
BRIGGS = {"weighting": "briggs", "robust": 0.5}
ITERATE = {"niter": 300, "cycleniter": 60, "threshold": "0.02Jy"}
CASES = {  # name: (partitionby, sub-MSes by size, overrides); tclean gets the same
    "spw-standard-briggs": ("spw", 2, {**STANDARD, **BRIGGS, "niter": 0}),
    "both-standard-briggs": ("both", 4, {**STANDARD, **BRIGGS, **ITERATE}),
    "both-awproject-transfer": ("both", 4, {"niter": 0, "sharedfs": False}),
    "spw-awproject-briggs": ("spw", 2, {**BRIGGS, **ITERATE}),
}


@pytest.fixture(scope="module")
def two_spw_ms(session_dir):
    ms = session_dir / "two_spw.ms"
    run([PYTHON, "-m", "tools.simulate", ms, "--spws", "2", "--chans", "2", "--hours", "0.5"],
        cwd=session_dir)
    return ms


def size_for(nparts, ms):
    """A maxsubmssize that plans nparts sub-MSes of equal rows: sub-tables plus a share
    of the rows, with 20% for the tables' fixed costs, which the plan's estimate misses
    (a quarter of this MS: 1.35 MB written, 1.25 MB estimated)."""
    layout = partitioning.ms_layout(str(ms))
    return int(layout.overhead + layout.bytes_per_row * sum(layout.counts) / nparts * 1.2)


@pytest.fixture(scope="module", params=list(CASES))
def dag_run(request, session_dir, two_spw_ms):
    mode, nparts, overrides = CASES[request.param]
    cache = session_dir / "two_spw_cf" / "ctb80.cf"       # (made by the first run, shared)
    rundir = new_run(session_dir / f"spwpart_{request.param}",
                     {"vis": str(two_spw_ms), "cfcache": str(cache), **SMALL, **overrides,
                      "partitionby": mode, "maxsubmssize": size_for(nparts, two_spw_ms)})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    return request.param, rundir


@pytest.fixture(scope="module")
def tclean_ref(dag_run, session_dir, two_spw_ms):
    """tclean with the case's parameters (awproject: on a copy of the run's CF cache)."""
    name, rundir = dag_run
    _, _, overrides = CASES[name]
    folder = session_dir / f"spwpart_tclean_{name}"
    folder.mkdir()
    extra = {**SMALL, **{k: v for k, v in overrides.items() if k != "sharedfs"}}
    if overrides.get("gridder") != "standard":
        shutil.copytree(session_dir / "two_spw_cf" / "ctb80.cf", folder / "ref.cf")
        extra["cfcache"] = str(folder / "ref.cf")
    run([PYTHON, "-m", "tools.tcleanReference", ROOT / "params" / "imaging.py", two_spw_ms,
         folder / "ref", *[f"{k}={v!r}" for k, v in extra.items()]], cwd=folder)
    return folder / "ref"


def plan_of(rundir):
    return json.loads((rundir / "products" / "partitions.json").read_text())


def test_sub_mses_hold_every_row_once_each_its_spws(dag_run, two_spw_ms):
    name, rundir = dag_run
    mode, nparts, _ = CASES[name]
    plan = plan_of(rundir)
    parts = plan["parts"]
    assert plan["partitionby"] == mode and len(parts) == nparts
    groups = sorted({tuple(p["spws"]) for p in parts})
    assert groups == [(0,), (1,)]                  # (2 SPWs, data descriptions 0 and 1)
    whole = columns(two_spw_ms)
    keys = []
    for p in parts:
        cols = columns(rundir / p["subms"])
        assert set(np.unique(cols["DATA_DESC_ID"])) == set(p["ddids"]), p["part"]
        assert len(cols["TIME"]) == p["nrows"]
        assert disk_bytes(rundir / p["subms"]) <= plan["maxsubmssize"]
        keys.append(row_keys(cols))
    keys = np.concatenate(keys)
    assert len(keys) == len(whole["TIME"])
    assert np.array_equal(np.sort(keys), np.sort(row_keys(whole)))
    if mode == "both":                          # an SPW's integrations never split
        for spw in (0, 1):
            times = [set(np.unique(columns(rundir / p["subms"])["TIME"]))
                     for p in parts if p["spws"] == [spw]]
            assert len(times) == 2 and not times[0] & times[1]


FIRST_CYCLE = [n for n, (_, _, o) in CASES.items() if o["niter"] == 0]
ITERATING = [n for n in CASES if n not in FIRST_CYCLE]
AWPROJECT = [n for n, (_, _, o) in CASES.items() if o.get("gridder") != "standard"]


@pytest.mark.parametrize("dag_run", FIRST_CYCLE, indirect=True)
def test_first_cycle_equals_tclean(dag_run, tclean_ref):
    name, rundir = dag_run
    image = rundir / "products" / "cycle0" / "ctb80"
    region = ic.pb_region(f"{tclean_ref}.pb.tt0", PBLIMIT)
    standard = CASES[name][2].get("gridder") == "standard"     # (tclean makes no weight)
    kinds = ("psf", "pb", "residual", "sumwt") + (() if standard else ("weight",))
    assert_first_cycle_equals_tclean(image, tclean_ref, kinds, region, f"{name}, ")


@pytest.mark.parametrize("dag_run", ITERATING, indirect=True)
def test_restored_image_equals_tclean(dag_run, tclean_ref):
    name, rundir = dag_run
    assert_equals_tclean(rundir, tclean_ref, 1e-3)


@pytest.mark.parametrize("dag_run", AWPROJECT, indirect=True)
def test_each_job_gets_the_cfs_of_its_spws_only(dag_run, session_dir, monkeypatch):
    """awproject: each SPW group's CF cache holds the CFs (and weight CFs) its gridder
    uses, those nearest its channels and their conjugate frequencies, as links into the
    whole cache (no CF made again), and nothing else; without a shared filesystem a gridding job is sent
    that cache alone, never the whole one."""
    name, rundir = dag_run
    whole = session_dir / "two_spw_cf" / "ctb80.cf"
    before = folder_digest(whole)
    windows = cfcache.cf_windows(str(whole))        # {CF: (SPW, frequency)}
    subsets = rundir / "products" / "cfsubsets"
    # By hand: CFs at 2.096 and 3.096 GHz, channels at 2.032, 2.096, 3.032, 3.096 GHz,
    # reffreq 3 GHz.  SPW 0's conjugate frequencies sqrt(2 x 3^2 - nu^2), 3.714 and
    # 3.689 GHz, are nearest SPW 1's CF; SPW 1's, 2.968 and 2.901 GHz, its own.
    for spws, uses in (([0], {0, 1}), ([1], {1})):
        expected = sorted(n for cf, (s, _) in windows.items() if s in uses
                          for n in (cf, "WT" + cf))
        folder = subsets / cfcache.group_name(spws) / "ctb80.cf"
        assert sorted(p.name for p in folder.iterdir()) == expected
        assert all((folder / n).resolve() == whole / n for n in expected)
    if CASES[name][2].get("sharedfs") is False:
        assert_sent_only_the_subsets(rundir, monkeypatch)
    assert folder_digest(whole) == before


def assert_sent_only_the_subsets(rundir, monkeypatch):
    """What the PRE script of each gridding job of cycle 0 puts in its transfer folder:
    the tar of its group's CF cache, holding that cache's CFs and record, and no tar of
    the whole cache (none was made)."""
    params = json.loads((rundir / "products" / "params.json").read_text())
    monkeypatch.chdir(rundir)
    for p in plan_of(rundir)["parts"]:
        node = f"allImagers_c0_{p['part']}"
        transfer.stage_in(node, "allImagers.py", [p["part"], p["subms"], "0"], params)
        sent = sorted(t.name for t in (rundir / transfer.in_dir(node)).glob("*.tar"))
        group = cfcache.group_name(p["spws"])
        assert f"{group}.tar" in sent and "cfcache.tar" not in sent, sent
        folder = rundir / "products" / "cfsubsets" / group / "ctb80.cf"
        with tarfile.open(rundir / transfer.in_dir(node) / f"{group}.tar") as t:
            names = t.getnames()
        assert sorted({n.split("/")[2] for n in names if n.count("/") >= 2}) == \
            sorted(c.name for c in folder.iterdir())
        assert f"{transfer.SCRATCH_CFCACHE}/ctb80.cf.json" in names
        shutil.rmtree(rundir / transfer.in_dir(node))
    assert not (rundir / transfer.CFCACHE_TAR).exists()
