"""Bad input gets a clear message naming the cause, before or at the node that
meets it, and nothing is lost.

- a selection the MS does not have (spw, field, antenna) or that selects no
  rows (timerange): the first node (prepareRun) stops, naming the parameter and
  the MS, before any product is written;
- a value CASA would only reject minutes later, in a job (a cell or threshold
  CASA's quanta cannot read, a phase centre that is no direction or field, SPW
  channels the MS does not have, a telescope name or frequencies CASA's
  AW-projection aperture model does not know, an image too large for the
  memory of this machine): the same, at the first node;
- a time selection that leaves some sub-MSes' time ranges empty: those are not
  written, and the first cycle equals tclean's with the same selection;
- an image too small for the CF support (no visibility fits on the grid): the
  CF stage stops, naming imsize and how many pixels would do;
- a full filesystem under a gridding job: the job says which filesystem is
  full, the run stops with rescue files, the sub-MSes and the input MS are
  untouched, and once there is room the run continues to tclean's images.
(maxsubmssize below one integration: tests/test_partition.py.)
"""
import os
import shutil
import subprocess

import pytest

from imaging.parameters import INPUT_EXIT
from imaging.partitioning import size_for

import imagecompare as ic
from helpers import PYTHON, ROOT, STANDARD, casa_env, folder_digest, new_run, run

pytestmark = pytest.mark.casa

DAG = ["-m", "dagengine", "dag/condor_imaging.dag"]


@pytest.mark.parametrize("overrides, says", [
    ({"spw": "7"}, "spw = '7': Spw Expression: No match found for 7"),
    ({"field": "NGC1234"}, "field = 'NGC1234': Field Expression: No match found"),
    ({"antenna": "ea99"}, "antenna = 'ea99': Antenna Expression: No match found"),
    ({"timerange": "2020/01/01/00:00:00~2020/01/01/01:00:00"},
     "timerange = '2020/01/01/00:00:00~2020/01/01/01:00:00': this selection matches no rows"),
])
def test_selection_not_in_the_ms_stops_before_any_job(session_dir, shared, sim_ms, overrides, says):
    rundir = new_run(session_dir / f"bad_{next(iter(overrides))}", {**shared, **overrides})
    proc = run([PYTHON, *DAG], cwd=rundir, check=False)
    assert proc.returncode == 1
    pre = (rundir / "logs" / "prepareRun.pre.log").read_text()
    assert says in pre and str(sim_ms) in pre, pre
    assert "node 'prepareRun'" in proc.stderr
    assert not (rundir / "products" / "subms").exists() and not (rundir / "logs" / "imaging.log").exists()


@pytest.fixture(scope="module")
def edited_ms(session_dir, sim_ms):
    """Copies of the session's MS with one column of a sub-table changed (CASA's table
    tool): telescope 'VLA' instead of 'EVLA'; every frequency scaled to 0.3 GHz."""
    from casatools import table

    def edit(name, subtable, column, change):
        ms = session_dir / f"{name}.ms"
        if not ms.exists():
            shutil.copytree(sim_ms, ms)
            tb = table()
            tb.open(str(ms / subtable), nomodify=False)
            tb.putcol(column, change(tb.getcol(column)))
            tb.close()
        return ms
    return {"vla": lambda: edit("vla_named", "OBSERVATION", "TELESCOPE_NAME", lambda c: ["VLA"] * len(c)),
            "lowfreq": lambda: edit("low_freq", "SPECTRAL_WINDOW", "CHAN_FREQ", lambda c: c * 0.15)}


# (overrides, MS edit or None, what prepareRun says)
REFUSED = [
    ({"cell": "abc"}, None, "cell = 'abc': not an angle"),
    ({"threshold": "0.01Jansky"}, None,
     "threshold = '0.01Jansky': not a flux density; give a number (Jy) or a number with a "
     "unit such as '0.01Jy' or '10mJy'"),
    ({"phasecenter": "J2000 25h00m00 +95d00m00"}, None,
     "phasecenter = 'J2000 25h00m00 +95d00m00': the longitude 25h00m00 is not within 0 to 24h"),
    ({"phasecenter": "J2000 19h59m28 +95d00m00"}, None,
     "phasecenter = 'J2000 19h59m28 +95d00m00': the latitude +95d00m00 is not within -90 to +90 deg"),
    ({"phasecenter": "J2000 foo"}, None, "phasecenter = 'J2000 foo': "),
    ({"phasecenter": 3}, None, "phasecenter = 3: the MS has no field 3 (fields: 0 CTB80)"),
    ({"spw": "0:0~500"}, None,
     "spw = '0:0~500': Channel 500 out of range for SPW 0 (valid range 0~3)"),
    ({"imsize": 100000}, None, "imsize = 100000: the largest job (allImagers) needs "),
    ({"projection": "XYZ"}, None,       # (tclean's schema takes any string: CASA's imager not)
     "CASA cannot define the image: Invalid Image Parameter set : Invalid projection code : XYZ"),
    ({"mask": "circle[[32pix, 32pix], 5pi"}, None,     # (tclean logs it, then cleans nothing)
     "mask = 'circle[[32pix, 32pix], 5pi': CASA cannot read 'circle[[32pix, 32pix], 5pi' as a "
     "region (line# 1: Illegal circle specification [[32pix, 32pix], 5pi."),
    ({}, "vla", "telescope name 'VLA'"),
    ({}, "lowfreq", "outside the bands CASA's AW-projection knows for the EVLA"),
]


@pytest.mark.parametrize("overrides, edit, says", REFUSED, ids=[s[:24] for *_, s in REFUSED])
def test_value_a_job_would_fail_on_stops_before_any_job(session_dir, shared, edited_ms,
                                                       overrides, edit, says):
    given = {**shared, **overrides, **({"vis": str(edited_ms[edit]())} if edit else {})}
    rundir = new_run(session_dir / f"refused_{len(list(session_dir.glob('refused_*')))}", given)
    proc = run([PYTHON, *DAG], cwd=rundir, check=False)
    assert proc.returncode == 1 and "node 'prepareRun'" in proc.stderr, proc.stderr[-2000:]
    pre = (rundir / "logs" / "prepareRun.pre.log").read_text()
    assert says in pre, pre
    assert not (rundir / "products" / "params.json").exists()
    assert not (rundir / "products" / "subms").exists() and not (rundir / "logs" / "imaging.log").exists()


def test_make_submit_asks_the_pool_for_its_largest_slot(session_dir, shared, tmp_path):
    """`make submit` (prepareRun --pool) compares each job's request_memory with the
    pool's largest slot as condor_status reports it (here a stand-in printing two
    slots' TotalSlotMemory and Memory, in MB); without condor_status it says it could
    not ask, and goes on."""
    rundir = new_run(session_dir / "pool_memory", {**shared, "imsize": [4096, 4096],
                                                   "cfcache": "cfcache/pool_memory.cf"})
    stub = tmp_path / "bin"
    stub.mkdir()
    (stub / "condor_status").write_text("#!/bin/sh\necho '2048 1024'\necho '1536 1536'\n")
    (stub / "condor_status").chmod(0o755)
    for path, refused in ((f"{stub}:{os.environ['PATH']}", True), ("/usr/bin:/bin", False)):
        env = {**casa_env(rundir / "logs"), "PATH": path}
        proc = subprocess.run(["scripts/runjob", "prepareRun.py", "--pool"], cwd=rundir, env=env,
                              capture_output=True, text=True)
        if refused:   # allImagers: 1.25 x (160 + (64 x 4096^2 x 3 + 6e6 + 40 x 4096^2
            assert proc.returncode != 0    # + 80 x rows) / 2^20) = 4851 MB (rows: below),
            # requested in steps of 64 MB
            assert ("imsize = [4096, 4096]: the largest job (allImagers) needs 4864 MB of memory "
                    "(scripts/imaging/resources.py), more than the pool's largest slot (2048 MB, "
                    "condor_status): give a smaller imsize (at most about [") in proc.stderr, proc.stderr
            largest = int(proc.stderr.split("at most about [")[1].split(",")[0])
            # allImagers: 1.25 x (160 + (232 x n^2 + 6e6 + 80 x rows) / 2^20) <= 2048, where
            # rows = 84 240 x 10 MB / 22.5 MB (the largest sub-MS's share of the session MS's
            # rows): 2.99 MB, so n <= 2577
            assert largest == 2577
        else:
            assert proc.returncode == 0, proc.stderr
            assert "cannot ask the pool: condor_status is not on PATH" in proc.stdout + proc.stderr


def test_a_job_stopped_by_its_input_is_not_retried(session_dir, shared):
    """maxsubmssize below one integration passes prepareRun and stops MSpartition
    (a PartitionError): it exits with INPUT_EXIT, and its RETRY line's
    UNLESS-EXIT keeps the runner from trying it again (the job log shows one try)."""
    import htcondor2
    rundir = new_run(session_dir / "no_retry", {**shared, **STANDARD, "maxsubmssize": "1MB"})
    proc = run([PYTHON, *DAG], cwd=rundir, check=False)
    assert proc.returncode == 1
    assert f"node 'MSpartition' failed with exit code {INPUT_EXIT}" in proc.stderr, proc.stderr
    assert "MSpartition: maxsubmssize = " in (rundir / "logs" / "MSpartition.err").read_text()
    events = htcondor2.JobEventLog(str(rundir / "logs" / "imaging.log")).events(0)
    tries = [e for e in events if e.type == htcondor2.JobEventType.SUBMIT
             and e["LogNotes"] == "DAG Node: MSpartition"]
    assert len(tries) == 1


def test_image_too_small_for_the_cf_support_stops_at_the_cf_stage(session_dir, one_spw_ms):
    """8 pixels of 900 arcsec: the CFs span 7 uv cells either side, the grid has 9 (tclean
    itself aborts on this with "ArrayBase::operator()(b,e,i) - incorrectly specified").
    The CF stage's last node stops, naming imsize and what would fit (2 x 7 + 2 cells on a
    grid padded by 1.2, rounded up to an even size: 14 pixels); no cache is put in place."""
    rundir = new_run(session_dir / "bad_cfsupport", {"vis": str(one_spw_ms), "imsize": [8, 8],
                                                     "cell": "900arcsec",
                                                     "cfcache": "cfcache/small.cf"})
    proc = run([PYTHON, *DAG], cwd=rundir, check=False)
    assert proc.returncode == 1 and "CFmerge" in proc.stderr
    err = (rundir / "logs" / "CFmerge.err").read_text()
    assert "imsize = [8, 8] is too small for the CF support: the CFs span 7 uv cells" in err
    assert "imsize = [14, 14]" in err
    assert not (rundir / "cfcache" / "small.cf").exists()
    assert not (rundir / "products" / "parts").exists()


@pytest.fixture(scope="module")
def standard_ref(session_dir, sim_ms):
    """tclean(niter=0), standard gridder, on the MS's first 35 minutes."""
    folder = session_dir / "badinput_tclean"
    folder.mkdir()
    extra = {**STANDARD, "niter": 0, "timerange": FIRST_HOURS}
    run([PYTHON, "-m", "tools.tcleanReference", ROOT / "params" / "imaging.py",
         sim_ms, folder / "ref", *[f"{k}={v!r}" for k, v in extra.items()]], cwd=folder)
    return folder / "ref"


FIRST_HOURS = "<2024/06/21/09:12:00"  # the sim MS: 60 integrations, 08:37 to 09:36; 4 sub-MSes
                                      # of 15: the last holds none of these


def assert_first_cycle_is(rundir, ref):
    for suffix in (".psf.tt0", ".psf.tt1", ".residual.tt0", ".residual.tt1"):
        image = rundir / "products" / "cycle0" / f"ctb80{suffix}"
        diff = ic.relative_difference(str(image), f"{ref}{suffix}", slice(None))
        assert diff <= 1e-5, f"{suffix}: {diff:.1e}"


def test_time_selection_leaves_empty_ranges_out(session_dir, shared, sim_ms, standard_ref):
    rundir = new_run(session_dir / "bad_partial",
                     {**shared, **STANDARD, "niter": 0, "timerange": FIRST_HOURS,
                      "maxsubmssize": size_for(4, sim_ms)})
    run([PYTHON, *DAG], cwd=rundir)
    out = (rundir / "logs" / "MSpartition.out").read_text()
    assert "planned sub-MSes hold no rows of the data selection" in out
    assert 1 <= len(list((rundir / "products" / "subms").glob("*.ms"))) < 4
    assert_first_cycle_is(rundir, standard_ref)


@pytest.fixture
def small_filesystem(tmp_path):
    """A 1 MB tmpfs, unmounted at the end (mounting needs root, as the pool does)."""
    where = tmp_path / "mnt"
    where.mkdir()
    mounted = []

    def mount(path, size):
        path.mkdir(parents=True, exist_ok=True)
        opts = f"size={size}" if path not in mounted else f"remount,size={size}"
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a small filesystem here: {proc.stderr.strip()}")
        mounted.append(path)
    yield mount
    for path in set(mounted):
        subprocess.run(["umount", str(path)], check=False)


def test_full_disk_during_gridding_stops_and_continues(session_dir, shared, sim_ms,
                                                       small_filesystem, standard_ref):
    rundir = new_run(session_dir / "bad_fulldisk",
                     {**shared, **STANDARD, "niter": 0, "timerange": FIRST_HOURS,
                      "maxsubmssize": size_for(4, sim_ms)})
    ms_before = folder_digest(sim_ms)
    small_filesystem(rundir / "products" / "parts", "1m")
    proc = run([PYTHON, *DAG], cwd=rundir, check=False)
    assert proc.returncode == 1 and "allImagers_c0_n1" in proc.stderr
    err = (rundir / "logs" / "allImagers_c0_n1.err").read_text()
    # CASA's own words depend on which write meets the full disk first
    assert "No space left on device" in err or "tracePWRITE" in err, err[-2000:]
    assert f"with the filesystem of {rundir}/products/parts (0 MB free) full" in err
    assert (rundir / "dag" / "condor_imaging.dag.rescue001").exists()
    subms = folder_digest(rundir / "products" / "subms")

    small_filesystem(rundir / "products" / "parts", "64m")    # room again, contents kept
    run([PYTHON, *DAG], cwd=rundir)
    assert folder_digest(rundir / "products" / "subms") == subms
    assert folder_digest(sim_ms) == ms_before
    assert_first_cycle_is(rundir, standard_ref)
