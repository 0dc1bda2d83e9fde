"""Helpers shared by the tests (the fixtures are in conftest.py).

- a run directory made as a user makes one, and commands run in it (new_run, run,
  casa_env);
- failures injected into a run directory's own copy of a stage script, and what the
  HTCondor job log says of the tries (inject, FAIL_ONCE, FAIL_BEFORE_PUBLISHING,
  REMOVE_SUBMS, attempts, status, inodes);
- a run's final images, iterations and stop against tclean's (assert_equals_tclean), its
  first cycle's images (assert_first_cycle_equals_tclean);
- an MS read with CASA's table tool (columns, row_keys), sizes and digests of folders
  (disk_bytes, folder_digest), memory requests against the job log
  (assert_memory_requests_cover).
"""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import imagecompare as ic

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
STANDARD = {"gridder": "standard", "cfcache": "", "wbawp": False, "conjbeams": False,
            "aterm": False}  # overrides for a gridder without CFs


# ---------------------------------------------------------------- run directories

def casa_env(logdir):
    scripts = Path(logdir).parent / "scripts"      # (a run directory's, else the project's)
    env = dict(os.environ, CASASITECONFIG=str(ROOT / "scripts" / "imaging" / "casasiteconfig.py"),
               CASA_LOGDIR=str(logdir), IMAGING_PYTHON=PYTHON,
               PYTHONPATH=str(scripts if scripts.is_dir() else ROOT / "scripts"))
    return env


def run(args, cwd, check=True, **kw):
    """Run a command in a run directory; its output is kept for the failure message."""
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=casa_env(Path(cwd) / "logs"),
                          capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        pytest.fail(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def new_run(where, overrides):
    """A run directory as a user makes one: copy the project, append overrides."""
    from tools import newrun
    # sub-MSes as maxsubmssize says (gridjobs 1; partitioning.size_for), 3 of the 22 MB
    # session MS unless a test says otherwise: the decomposition under test
    overrides = {"gridjobs": 1, "maxsubmssize": "10MB", **overrides}
    rundir = Path(newrun.copy_run(ROOT, where, overrides, "test overrides"))
    (rundir / ".venv").symlink_to(Path(PYTHON).parents[1])  # as `cp -r` would bring it
    return rundir


def status(rundir):
    """What `make status` says of a run."""
    return run([PYTHON, "-m", "tools.status"], cwd=rundir).stdout


# ---------------------------------------------------------------- injected failures

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
import os as _os
from imaging import products as _products
_publish = _products.publish_dir
def _fail_once(tmp, final):
    if not _os.path.exists("logs/injected.publish"):
        open("logs/injected.publish", "w").close()
        raise SystemExit("injected failure before publishing " + final)
    return _publish(tmp, final)
_products.publish_dir = _fail_once
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
    import htcondor2
    T, node_of, out = htcondor2.JobEventType, {}, {}
    for e in htcondor2.JobEventLog(str(rundir / "logs" / "imaging.log")).events(0):
        if e.type == T.SUBMIT:
            node_of[e.cluster] = e["LogNotes"].removeprefix("DAG Node: ")
            out.setdefault(node_of[e.cluster], [])
        elif e.type == T.JOB_TERMINATED:
            out[node_of[e.cluster]].append(e.get("ReturnValue"))
    return out


# casacore table metadata, which CASA's normalizer rewrites in the sub-images it gathers
METADATA = ("table.dat", "table.info", "table.lock")


def inodes(rundir, folders):
    """The inode of every data file in some product folders: unchanged means not made
    again (a product is made in a scratch folder and moved into place)."""
    return {p: p.stat().st_ino for f in folders for p in (rundir / "products" / f).rglob("*")
            if p.is_file() and p.name not in METADATA}


# ---------------------------------------------------------------- comparisons

def assert_equals_tclean(rundir, ref, tolerance, imagename="ctb80", term=".tt0"):
    """The run's cycles, iterations, stop and restored image (its first Taylor term;
    term='' without mtmfs) equal tclean's, whose images are named `ref`."""
    final = rundir / "products" / "final"
    ours = json.loads((final / "summary.json").read_text())
    theirs = json.loads(open(f"{ref}.summary.json").read())
    assert (ours["majorcycles"] + 1, ours["stopcode"]) == (theirs["nmajordone"], theirs["stopcode"])
    assert ours["iterdone"] == theirs["iterdone"]
    region = ic.pb_region(f"{ref}.pb{term}", 0.2)
    diff = ic.relative_difference(str(final / f"{imagename}.image{term}"), f"{ref}.image{term}", region)
    assert diff <= tolerance, f"image{term} differs from tclean's by {diff:.2e} of the peak"


def assert_first_cycle_equals_tclean(image, ref, kinds, region, label=""):
    """Every Taylor term of each kind of the first cycle's images (image: the run's
    products/cycle0/<imagename>) equals tclean(niter=0)'s to 1e-5 of the peak."""
    for kind in kinds:
        for suffix, diff in ic.first_cycle_differences(image, ref, kind, region).items():
            assert diff <= 1e-5, f"{label}{suffix}: {diff:.2e} of the peak"


def assert_memory_requests_cover(rundir):
    """resources.py's request_memory, as the job log records it, is above each job's
    measured peak resident memory (wait4), and not wasteful: at most 1.5 x peak + 128 MB
    (CFdry and CFmerge share the CF fill's request).  Returns the jobs checked."""
    import htcondor2
    node, checked = {}, 0
    for e in htcondor2.JobEventLog(str(Path(rundir) / "logs" / "imaging.log")).events(0):
        if e.type == htcondor2.JobEventType.SUBMIT:
            node[e.cluster] = e["LogNotes"].removeprefix("DAG Node: ")
        elif e.type == htcondor2.JobEventType.JOB_TERMINATED:
            peak, request = e["MemoryUsage"], e["RequestMemory"]
            assert 0 < peak <= request, (node[e.cluster], peak, request)
            if node[e.cluster] not in ("CFdry", "CFmerge"):
                assert request <= 1.5 * peak + 128, (node[e.cluster], peak, request)
            checked += 1
    return checked


# ---------------------------------------------------------------- MSes and folders

COLUMNS = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "DATA", "FLAG", "WEIGHT")


def columns(ms):
    from casatools import table
    tb = table()
    tb.open(str(ms), nomodify=True)
    try:
        return {c: tb.getcol(c) for c in COLUMNS}
    finally:
        tb.close()


def row_keys(cols):
    return np.rec.fromarrays([cols["TIME"], cols["ANTENNA1"], cols["ANTENNA2"],
                              cols["DATA_DESC_ID"]])


def disk_bytes(folder):
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def folder_digest(folder):
    """A digest of every file name and content below a folder (an MS, a CF cache)."""
    h = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()
