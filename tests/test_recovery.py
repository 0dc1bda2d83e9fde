"""Failures and recovery with the local runner (make run): RETRY, a clean stop, rescue.

Failures are injected into a run directory's own copy of a stage script (the
project's scripts are untouched): a job that fails once is retried and the
run still equals tclean; a sub-MS that disappears stops the run with a
message naming the node and its log, and running again, after the fix the
message gives, re-does only what did not finish.  The job log read here is
parsed with HTCondor's own reader (htcondor2.JobEventLog).
"""
import json
import os
import re

import htcondor2

from imaging.partitioning import size_for

import imagecompare as ic
from conftest import PYTHON, new_run, run

DAG = ["-m", "dagengine", "dag/condor_imaging.dag"]

# Prepended to a copy of scripts/allImagers.py (argv: PART SUBMS CYCLE): the gridding job
# of one part and cycle fails once, before any work.
FAIL_ONCE = """\
import os as _os, sys as _sys
_mark = f"logs/injected.{{_sys.argv[1]}}.c{{_sys.argv[3]}}"
if (_sys.argv[1], _sys.argv[3]) == {target!r} and not _os.path.exists(_mark):
    open(_mark, "w").close()
    _sys.exit("injected failure")
"""

# Prepended to a copy of a stage script: it fails once just before it moves its finished
# product into place, after all its CASA work (for addImages, after the normalizer has
# rewritten the sub-images' metadata and normalized the first sub-MS's pb in place).
FAIL_BEFORE_PUBLISHING = """\
import os as _os, imaging.products as _du
_publish = _du.publish_dir
def _fail_once(tmp, final):
    if not _os.path.exists("logs/injected.publish"):
        open("logs/injected.publish", "w").close()
        raise SystemExit("injected failure before publishing " + final)
    return _publish(tmp, final)
_du.publish_dir = _fail_once
"""

# Prepended to a copy of scripts/allImagers.py: the sub-MS of part n2 is gone when its
# first gridding job starts (as if removed by hand or by a scratch clean-up).
REMOVE_SUBMS = """\
import os as _os, shutil as _sh, sys as _sys
if _sys.argv[1] == "n2" and not _os.path.exists("logs/injected.removed"):
    open("logs/injected.removed", "w").close()
    _sh.rmtree(_sys.argv[2])
"""


def inject(rundir, script, code):
    path = rundir / "scripts" / script
    path.write_text(code + path.read_text())


def attempts(rundir):
    """Node -> [return value of each attempt], from the HTCondor user log."""
    T, node_of, out = htcondor2.JobEventType, {}, {}
    for e in htcondor2.JobEventLog(str(rundir / "logs" / "imaging.log")).events(0):
        if e.type == T.SUBMIT:
            node_of[e.cluster] = e["LogNotes"].removeprefix("DAG Node: ")
            out.setdefault(node_of[e.cluster], [])
        elif e.type == T.JOB_TERMINATED:
            out[node_of[e.cluster]].append(e.get("ReturnValue"))
    return out


def status(rundir):
    return run([PYTHON, "-m", "tools.status"], cwd=rundir).stdout


def assert_equals_tclean(rundir, ref, tolerance):
    final = rundir / "products" / "final"
    ours = json.loads((final / "summary.json").read_text())
    theirs = json.loads(open(f"{ref}.summary.json").read())
    assert (ours["majorcycles"] + 1, ours["stopcode"]) == (theirs["nmajordone"], theirs["stopcode"])
    assert ours["iterdone"] == theirs["iterdone"]
    region = ic.pb_region(f"{ref}.pb.tt0", 0.2)
    diff = ic.relative_difference(str(final / "ctb80.image.tt0"), f"{ref}.image.tt0", region)
    assert diff <= tolerance, f"image.tt0 differs from tclean's by {diff:.2e} of the peak"


# casacore table metadata, which CASA's normalizer rewrites in the sub-images it gathers
METADATA = ("table.dat", "table.info", "table.lock")


def inodes(rundir, folders):
    """The inode of every data file in some product folders: unchanged means not made
    again (a product is made in a scratch folder and moved into place)."""
    return {p: p.stat().st_ino for f in folders for p in (rundir / "products" / f).rglob("*")
            if p.is_file() and p.name not in METADATA}


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
