"""Shared fixtures: one simulated MS, one CF cache and one tclean reference per session;
and one real EVLA observation (scripts/tools/realdata.py), imported and calibrated once.

Every imaging test works in its own run directory, made the way a user makes
one: a copy of the project's Makefile, scripts, htc, dag and params, with
overrides appended to params/imaging.py (helpers.new_run; the functions the tests
share are in helpers.py, the fixtures here).
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / p) for p in ("scripts", "tests")]

from helpers import PYTHON, ROOT, STANDARD, casa_env, folder_digest, new_run, run  # noqa: E402

REAL_CACHE = Path(os.environ.get("IMAGING_TEST_CACHE",
                                  Path.home() / ".cache" / "imaging-tests"))  # the UVFITS file

# The markers of pytest.ini: each test has exactly one.  A test that uses a fixture that
# runs CASA (the session's MS, CF cache, tclean references, real data) is not `fast`.
KINDS = ("fast", "casa", "pool")
CASA_FIXTURES = {"sim_ms", "one_spw_ms", "shared", "tclean_started", "cf_run", "tclean_ref",
                 "frozen_cfcache", "references", "real_ms", "calibrated_ms"}


@pytest.hookimpl(tryfirst=True)      # before `-m` deselects: every collected test is checked
def pytest_collection_modifyitems(config, items):
    wrong = []
    for item in items:
        kinds = [k for k in KINDS if item.get_closest_marker(k)]
        casa = sorted(CASA_FIXTURES & set(item.fixturenames))
        if len(kinds) != 1:
            wrong.append(f"{item.nodeid}: marked {' and '.join(kinds) or 'with none of them'}")
        elif kinds == ["fast"] and casa:
            wrong.append(f"{item.nodeid}: marked fast but uses {', '.join(casa)}: mark it casa")
    if wrong:
        raise pytest.UsageError(
            f"every test needs exactly one of the markers {', '.join(KINDS)} (pytest.ini): "
            "pytestmark = pytest.mark.X for a module, @pytest.mark.X for a test\n  "
            + "\n  ".join(wrong))


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("imaging")


@pytest.fixture(scope="session")
def sim_ms(session_dir):
    ms = session_dir / "sim_evla.ms"
    run([PYTHON, "-m", "tools.simulate", ms], cwd=session_dir)
    return ms


@pytest.fixture(scope="session")
def one_spw_ms(session_dir):
    """Half an hour of one SPW of 2 channels: a CF cache of two CFs, filled in seconds."""
    ms = session_dir / "one_spw.ms"
    run([PYTHON, "-m", "tools.simulate", "--spws", "1", "--chans", "2", "--hours", "0.5", ms],
        cwd=session_dir)
    return ms


@pytest.fixture(scope="session")
def shared(session_dir, sim_ms):
    """Overrides shared by all runs: the session's MS and CF cache."""
    return {"vis": str(sim_ms), "cfcache": str(session_dir / "cfcache" / "ctb80.cf")}


@pytest.fixture(scope="session")
def tclean_started(session_dir, sim_ms):
    """Monolithic tclean(niter=0) with its own CF cache, started in the background.

    Its cache is made by tclean itself, so the first-cycle tests also hold the
    project's CF cache (`make cfs`) against tclean's.
    """
    refdir = session_dir / "tclean"
    refdir.mkdir()
    args = [PYTHON, "-m", "tools.tcleanReference", ROOT / "params" / "imaging.py",
            sim_ms, refdir / "ref", "niter=0"]
    log = open(refdir / "tclean.out", "w")
    proc = subprocess.Popen([str(a) for a in args], cwd=refdir, env=casa_env(refdir),
                            stdout=log, stderr=subprocess.STDOUT)
    yield proc, refdir / "ref"
    proc.kill()


@pytest.fixture(scope="session")
def cf_run(session_dir, shared, tclean_started):
    """`make cfs` in a first run directory (while tclean runs alongside)."""
    rundir = new_run(session_dir / "cfrun", shared)
    run(["make", "-s", "cfs"], cwd=rundir)
    return rundir


@pytest.fixture(scope="session")
def tclean_ref(tclean_started):
    proc, imagename = tclean_started
    assert proc.wait(timeout=1800) == 0, f"tclean failed: see {imagename.parent}/tclean.out"
    return imagename


@pytest.fixture(scope="session")
def frozen_cfcache(cf_run, shared):
    """The CF cache with every file in it made unwritable while the gridding tests run.

    As root, permissions do not stop writes, so the files are made immutable
    (chattr +i); CASA insists that the cache folder itself be writable.
    """
    files = [str(p) for p in Path(shared["cfcache"]).rglob("*")]
    lock = ["chattr", "+i"] if os.geteuid() == 0 and shutil.which("chattr") else ["chmod", "a-w"]
    unlock = ["chattr", "-i"] if lock[0] == "chattr" else ["chmod", "u+w"]
    subprocess.run(lock + files, check=True)
    yield Path(shared["cfcache"])
    subprocess.run(unlock + files, check=True)


@pytest.fixture(scope="session")
def references(session_dir, sim_ms, shared, cf_run):
    """tclean, iterating with params/imaging.py, for awproject (on a copy of the session's
    CF cache) and for the standard gridder."""
    refs = {}
    for gridder in ("awproject", "standard"):
        folder = session_dir / f"tclean_{gridder}"
        folder.mkdir()
        if gridder == "awproject":
            shutil.copytree(shared["cfcache"], folder / "ref.cf")
            extra = [f"cfcache={str(folder / 'ref.cf')!r}"]
        else:
            extra = [f"{k}={v!r}" for k, v in STANDARD.items()]
        run([PYTHON, "-m", "tools.tcleanReference", ROOT / "params" / "imaging.py",
             sim_ms, folder / "ref", *extra], cwd=folder)
        refs[gridder] = folder / "ref"
    return refs


@pytest.fixture(scope="session")
def real_ms(session_dir):
    """The real EVLA observation (scripts/tools/realdata.py) imported into an MS, and the digest
    it must keep: no test may modify it."""
    uvfits = run([PYTHON, "-m", "tools.realdata", "fetch", REAL_CACHE],
                 cwd=session_dir).stdout.strip().splitlines()[-1]
    ms = session_dir / "day2_evla.ms"
    run([PYTHON, "-m", "tools.realdata", "import", uvfits, ms], cwd=session_dir)
    return ms, folder_digest(ms)


@pytest.fixture(scope="session")
def calibrated_ms(session_dir, real_ms):
    """A calibrated, partly flagged copy of the real MS (CORRECTED_DATA), made once."""
    ms, digest = real_ms
    copy = session_dir / "day2_evla_calibrated.ms"
    run([PYTHON, "-m", "tools.realdata", "calibrate", ms, copy], cwd=session_dir)
    assert folder_digest(ms) == digest, "calibrating the copy modified the original MS"
    return copy
