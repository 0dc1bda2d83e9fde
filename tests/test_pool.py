"""The same DAG under real HTCondor: condor_submit_dag and condor_dagman on a pool.

Where condor_submit_dag is on PATH (an access point, a personal HTCondor) it
is used; otherwise the project's personal pool in a Debian 13 chroot
(scripts/tools/pool.sh, needs root) is brought up for these tests and taken down
after.  A run without a shared filesystem, on an execute node that cannot see
the run directory, makes tclean's restored image, cycles, iterations and stop
reason, as the local runner does.  A run with injected failures (the first
cycle, a shared filesystem) is retried by DAGMan, stops with a rescue DAG, and
re-submitted continues to tclean's images.  Automasking and the model written
into the MS, with a shared filesystem, equal tclean's.  The generated DAG and
submit files pass HTCondor's own parsers (condor_dagman, condor_submit).  The
personal pool lets in only its owner: another local user's condor_submit,
condor_reconfig and condor_off are refused by HTCondor itself (issue 18).

The pool is scripts/tools/pool.sh's with its environment: POOL_DIR and POOL_PORT
(e.g. a pool of one's own beside the default /var/tmp/imaging-pool on port 9618).
"""
import json
import os
import pwd
import stat
import tempfile
import re
import shutil
import subprocess
import time

import htcondor2
import numpy as np
import pytest

import dagutils
from imaging.partitioning import size_for

import imagecompare as ic
from helpers import (FAIL_ONCE, PYTHON, REMOVE_SUBMS, ROOT, assert_equals_tclean,
                     assert_first_cycle_equals_tclean, attempts, inject, inodes, new_run, run,
                     status)

pytestmark = pytest.mark.pool

POOL = ROOT / "scripts" / "tools" / "pool.sh"
SUBMIT = ["-include_env", "IMAGING_PYTHON", "dag/condor_imaging.dag"]


@pytest.fixture(scope="module")
def in_pool():
    """The prefix that runs an HTCondor command: none on an access point, else the chroot pool's."""
    if shutil.which("condor_submit_dag"):
        yield []
        return
    if os.geteuid() != 0:
        pytest.skip("no condor_submit_dag on PATH, and the personal pool needs root")
    subprocess.run([POOL, "up"], check=True)
    yield [POOL, "run"]
    # (a DAG left by a failed test would resume at the next `up`, maybe in a new run at
    # the same path: the pool keeps its queue)
    subprocess.run([POOL, "run", "condor_rm", "-all"], capture_output=True)
    subprocess.run([POOL, "down"], check=True)


def wait_for_metrics(dagfile, timeout=1200):
    """DAGMan's own end-of-run report (<dag>.metrics, JSON)."""
    metrics = dagfile.parent / (dagfile.name + ".metrics")
    start = time.time()
    while not metrics.exists():
        assert time.time() - start < timeout, f"{dagfile} did not finish in {timeout} s"
        time.sleep(2)
    time.sleep(1)  # written in one go by DAGMan at exit; let it close
    return json.loads(metrics.read_text())


def submit_and_wait(in_pool, rundir):
    """condor_submit_dag, `make status` while DAGMan runs, then DAGMan's metrics."""
    (rundir / "dag" / "condor_imaging.dag.metrics").unlink(missing_ok=True)
    start = time.time()
    run([*in_pool, "condor_submit_dag", *SUBMIT], cwd=rundir)
    seen = ""
    while "running (condor_dagman)" not in seen and time.time() - start < 120:
        seen = status(rundir)
        time.sleep(1)
    return seen, wait_for_metrics(rundir / "dag" / "condor_imaging.dag")


@pytest.fixture(scope="module")
def pool_run(session_dir, shared, sim_ms, cf_run, in_pool):
    """sharedfs = False, 2 sub-MSes, iterating to tclean's stop; on the project's pool in a
    run directory only the access point sees (its `isolated` execute node cannot)."""
    where = (os.path.join(APONLY, f"nosharedfs-{os.getpid()}") if in_pool
             else session_dir / "pool_run")
    rundir = new_run(where, {**shared, "maxsubmssize": size_for(2, sim_ms), "sharedfs": False})
    seen, metrics = submit_and_wait(in_pool, rundir)
    yield rundir, seen, metrics
    if in_pool:
        shutil.rmtree(rundir, ignore_errors=True)


def test_dag_on_htcondor_equals_tclean(pool_run, references):
    rundir, seen, metrics = pool_run
    assert metrics["client"] == "condor_dagman" and metrics["exitcode"] == 0, metrics
    assert "running (condor_dagman)" in seen        # make status, while DAGMan ran
    final, ref = rundir / "products" / "final", references["awproject"]
    ours = json.loads((final / "summary.json").read_text())
    theirs = json.loads(open(f"{ref}.summary.json").read())
    assert (ours["majorcycles"] + 1, ours["stopcode"]) == (theirs["nmajordone"], theirs["stopcode"])
    assert abs(ours["iterdone"] - theirs["iterdone"]) <= 0.01 * theirs["iterdone"]
    region = ic.pb_region(f"{ref}.pb.tt0", 0.2)
    assert ic.relative_difference(str(final / "ctb80.image.tt0"), f"{ref}.image.tt0",
                                  region) <= 1e-3
    # the jobs ran under HTCondor: a schedd submitted them and a startd's slot ran them
    log = (rundir / "logs" / "imaging.log").read_text()
    assert "alias=dagrunner" not in log and "SlotName: slot" in log
    assert "state:   finished" in status(rundir)


@pytest.fixture(scope="module")
def recovery_run(session_dir, shared, sim_ms, in_pool):
    """The first cycle (niter = 0) with a shared filesystem, its CF cache made by the DAG
    on the pool, a gridding job that fails once and a sub-MS that disappears: submitted
    once (the test below goes on from there)."""
    own_cache = str(session_dir / "pool_cfcache" / "ctb80.cf")
    rundir = new_run(session_dir / "pool_recovery", {**shared, "cfcache": own_cache, "niter": 0,
                                                     "maxsubmssize": size_for(2, sim_ms)})
    inject(rundir, "allImagers.py", FAIL_ONCE.format(target=("n1", "0")))
    inject(rundir, "allImagers.py", REMOVE_SUBMS)
    _, metrics = submit_and_wait(in_pool, rundir)
    return rundir, metrics


def test_failures_on_htcondor_are_retried_then_rescued(recovery_run, tclean_ref, in_pool):
    """The DAG makes its CF cache with two fill jobs; DAGMan retries a gridding job that
    fails once; a sub-MS that disappears stops the run (rescue DAG, failed node and log
    named by `make status`); after MSpartition writes it again, condor_submit_dag
    continues from the rescue DAG without re-doing what finished, to tclean's first
    cycle (every image of it to 1e-5 of the peak)."""
    rundir, metrics = recovery_run
    assert metrics["exitcode"] == 1, metrics
    tries = attempts(rundir)
    assert tries["allImagers_c0_n1"] == [1, 0]                      # retried by DAGMan
    assert tries["allImagers_c0_n2"] == [1, 1, 1]                   # RETRY 2, then failed
    assert tries["CFfill_1"] == tries["CFfill_2"] == [0]             # the CF stage, in 2 jobs
    assert (rundir / "dag" / "condor_imaging.dag.rescue001").exists()
    text = status(rundir)
    assert "state:   failed" in text
    assert "failed:  allImagers_c0_n2: see logs/allImagers_c0_n2.err" in text
    finished = inodes(rundir, ["parts/psf/n1", "parts/cycle0/n1"])

    run(["scripts/runjob", "MSpartition.py"], cwd=rundir)
    _, metrics = submit_and_wait(in_pool, rundir)
    assert metrics["exitcode"] == 0 and metrics["rescue_dag_number"] == 1, metrics
    assert inodes(rundir, ["parts/psf/n1", "parts/cycle0/n1"]).items() >= finished.items()
    assert attempts(rundir)["allImagers_c0_n1"] == [1, 0]           # not run again
    assert_first_cycle_equals_tclean(rundir / "products" / "cycle0" / "ctb80", tclean_ref,
                                     ("psf", "weight", "pb", "residual", "sumwt"),
                                     ic.pb_region(f"{tclean_ref}.pb.tt0", 0.2))


def dag_checker(in_pool, folder, dagfile):
    """condor_dagman's own parser on a DAG file: -DumpRescue parses it, writes a full
    rescue DAG listing every node, and exits 0, or 1 naming the line it rejects."""
    command = (f'condor_dagman -f -l . -Lockfile {dagfile}.lock -AutoRescue 1 -DoRescueFrom 0 '
               f'-Dag {dagfile} -DumpRescue -CsdVersion "$(condor_version | head -1)"')
    return run([*in_pool, "sh", "-c", command], cwd=folder, check=False)


def test_generated_dags_pass_condor_dagman(pool_run, in_pool, session_dir):
    rundir = pool_run[0]
    check = session_dir / "dagcheck"       # a copy: the checker writes rescue files
    for name in ("dag", "htc", "scripts"):
        shutil.copytree(rundir / name, check / name, ignore=shutil.ignore_patterns("*.dag.*"))
    (check / "products").mkdir()
    for dag in (rundir / "products").glob("*.dag"):
        shutil.copy(dag, check / "products")
    plan = json.loads((rundir / "products" / "partitions.json").read_text())
    nparts = len(plan["parts"])
    (check / "products" / "weighted.dag").write_text(dagutils.gridding_subdag(plan, density=True))
    (check / "products" / "startmodel.dag").write_text(
        dagutils.gridding_subdag(plan, density=True, startmodel=True))
    (check / "products" / "modelColumn.dag").write_text(dagutils.model_column_dag(plan))
    ncycles = len(list(check.glob("products/cycle*.dag")))
    batch = json.loads((rundir / "products" / "params.json").read_text())["majorcyclebatch"]
    expected = {"dag/condor_imaging.dag": 9, "dag/cfs.dag": 3, "products/cfFill.dag": 1,
                "products/allImagers.dag": nparts, "products/weighted.dag": 2 * nparts + 1,
                "products/startmodel.dag": 3 * nparts + 2,
                "products/modelColumn.dag": nparts + 1,
                "products/cycle1.dag": nparts + 2, "products/majorCycles.dag": batch + 1}
    for dagfile, nodes in expected.items():
        proc = dag_checker(in_pool, check, dagfile)
        assert proc.returncode == 0, f"{dagfile}:\n{proc.stdout[-2000:]}"
        rescue = (check / f"{dagfile}.rescue001").read_text()
        assert f"# Total number of Nodes: {nodes}\n" in rescue, rescue
    (check / "bad.dag").write_text("JOB a htc/restore.htc\nPARENT a CHILD b\n")
    assert dag_checker(in_pool, check, "bad.dag").returncode == 1    # the checker does reject


def test_submit_files_pass_condor_submit(recovery_run, in_pool):
    """condor_submit -dry-run on each job kind with a node's VARS, in the run directory
    of a shared filesystem: no error and no unused-macro warning; the job ad holds what
    the node runs."""
    rundir = recovery_run[0]
    plan = json.loads((rundir / "products" / "partitions.json").read_text())
    part = plan["parts"][0]
    nodes = {"allImagers": {"JOB": "allImagers_c1_n1", "part": part["part"],
                            "subms": part["subms"], "cycle": "1"},
             "MSpartition": {"JOB": "MSpartition"}, "addImages": {"JOB": "addImages", "cycle": "0"},
             "deconvolve": {"JOB": "deconvolve_c2", "cycle": "2"}, "restore": {"JOB": "restore"},
             "makeCFs": {"JOB": "CFfill_1", "mode": "fill", "part": "1"},
             "weightDensity": {"JOB": "weights_n1", "mode": "part", "part": part["part"],
                               "subms": part["subms"]}}
    for kind, vars_ in nodes.items():
        ad = rundir / "logs" / f"{kind}.dryrun.ad"
        appended = [arg for k, v in vars_.items() for arg in ("-a", f"{k} = {v}")]
        proc = run([*in_pool, "condor_submit", "-dry-run", ad, *appended, f"htc/{kind}.htc"],
                   cwd=rundir)
        assert "WARNING" not in proc.stderr + proc.stdout, proc.stderr
        text = ad.read_text()
        args = " ".join([f"{kind}.py", *[v for k, v in vars_.items() if k != "JOB"]])
        assert f'Arguments="{args}"' in text and 'ShouldTransferFiles="NO"' in text
        requests = (rundir / "products" / "resources" / f"{kind}.htc").read_text()
        memory = re.search(r"^request_memory = (\d+)MB$", requests, re.M).group(1)
        disk = re.search(r"^request_disk = (\d+)KB$", requests, re.M).group(1)   # (resources.py)
        assert f'Err="logs/{vars_["JOB"]}.err"' in text and f"RequestMemory={memory}\n" in text
        assert f"RequestDisk={disk}\n" in text


# The personal pool's directory, and in it the run directories its `isolated` execute
# node cannot see (scripts/tools/pool.sh).
POOL_DIR = os.environ.get("POOL_DIR", "/var/tmp/imaging-pool")
APONLY = os.path.join(POOL_DIR, "aponly")
PROBE = """executable = /bin/ls
arguments = {target}
transfer_executable = false
should_transfer_files = {transfer}
output = {name}.out
error = {name}.err
log = {name}.log
queue
"""


def probe_sees(in_pool, folder, target, transfer):
    """Whether a job (`ls target`) can see a path: its exit code, from its user log."""
    name = f"probe_{transfer}"
    (folder / f"{name}.sub").write_text(PROBE.format(target=target, transfer=transfer, name=name))
    run([*in_pool, "condor_submit", f"{name}.sub"], cwd=folder)
    run([*in_pool, "condor_wait", "-wait", "300", f"{name}.log"], cwd=folder)
    ends = [e for e in htcondor2.JobEventLog(str(folder / f"{name}.log")).events(0)
            if e.type == htcondor2.JobEventType.JOB_TERMINATED]
    return ends[0]["ReturnValue"] == 0


def test_no_shared_filesystem_on_htcondor(pool_run, in_pool, session_dir):
    """sharedfs = False on the pool: the gridding, adding, deconvolving and restoring jobs
    ran on the node that cannot see the run directory (a probe job there cannot list it,
    one on the shared node can); the images are tclean's (the test above)."""
    if not in_pool:
        pytest.skip("on a real access point there is no execute node known not to see the run")
    rundir, _, metrics = pool_run
    assert metrics["exitcode"] == 0, metrics
    probes = session_dir / "probes"
    probes.mkdir(exist_ok=True)
    assert not probe_sees(in_pool, probes, rundir, "YES")
    assert probe_sees(in_pool, probes, rundir, "NO")         # control: the probe can see
    jobs = executed(in_pool, rundir)
    remote = {node: host for node, (universe, host) in jobs.items() if universe == "vanilla"}
    assert {"allImagers_c0_n1", "allImagers_c0_n2", "addImages", "deconvolve", "restore",
            "allImagers_c1_n2", "deconvolve_c1"} <= set(remote)
    assert all("@isolated@" in host for host in remote.values()), remote
    assert jobs["MSpartition"][0] == jobs["CFmerge"][0] == "local", jobs


UNIVERSES = {"5": "vanilla", "7": "scheduler", "12": "local"}


def executed(in_pool, rundir):
    """Node -> (universe, slot it last ran on) for every job submitted from the run
    directory, from condor_history (DAGMan's own sub-DAG jobs: scheduler universe)."""
    out = run([*in_pool, "condor_history", "-constraint", f'Iwd == "{rundir}"',
               "-af", "DAGNodeName", "JobUniverse", "LastRemoteHost"], cwd=rundir).stdout
    jobs = {}
    for line in out.splitlines():
        node, universe, host = line.split()
        jobs.setdefault(node, (UNIVERSES.get(universe, universe), host))   # newest first
    return jobs


# The tclean features of a real run together (README: tclean's features): automasking and
# the model written into the MS (tclean then predicts once after its major cycles).
# (Not with a start model too: tclean 6.7 then fails at that prediction, its second
# initializeImagers finding the model it made beside the start model.)
FEATURES = {"gridder": "standard", "cfcache": "", "wbawp": False, "conjbeams": False,
            "aterm": False, "imsize": [128, 128], "cell": "4arcsec", "niter": 120,
            "cycleniter": 60, "threshold": "0mJy", "weighting": "briggs", "robust": 0.5,
            "usemask": "auto-multithresh", "sidelobethreshold": 2.0, "noisethreshold": 4.25,
            "lownoisethreshold": 1.5, "minbeamfrac": 0.3, "fastnoise": True,
            "savemodel": "modelcolumn"}


def model_column(ms):
    from casatools import table
    tb = table()
    tb.open(str(ms))
    try:
        return tb.getcol("MODEL_DATA")
    finally:
        tb.close()


def test_automasking_and_savemodel_on_htcondor_equal_tclean(session_dir, sim_ms, in_pool):
    copies = {who: session_dir / f"pool_features_{who}.ms" for who in ("dag", "tclean")}
    for copy in copies.values():
        shutil.copytree(sim_ms, copy)
    rundir = new_run(session_dir / "pool_features", {**FEATURES, "vis": str(copies["dag"]),
                                                     "maxsubmssize": size_for(2, sim_ms)})
    _, metrics = submit_and_wait(in_pool, rundir)
    assert metrics["exitcode"] == 0, metrics
    ref = session_dir / "pool_features_tclean" / "ref"
    ref.parent.mkdir()
    run([PYTHON, "-m", "tools.tcleanReference", rundir / "params" / "imaging.py",
         copies["tclean"], ref], cwd=ref.parent)
    assert_equals_tclean(rundir, ref, 1e-3)
    ours, theirs = model_column(copies["dag"]), model_column(copies["tclean"])
    assert np.abs(theirs).max() > 0.1
    assert np.abs(ours - theirs).max() <= 1e-5 * np.abs(theirs).max()
    assert "state:   finished" in status(rundir)


# ---- issue 18: the personal pool lets in only its owner

POOL_ROOT = os.path.join(POOL_DIR, "root")                  # the chroot
POOL_LOCAL = os.path.join(POOL_ROOT, "var/lib/imaging-pool")  # its LOCAL_DIR
AUTH_DIR = os.path.join(POOL_LOCAL, "auth")                  # FS_LOCAL_DIR (condor_config)
OTHER_SUBMIT = "executable = /bin/true\nlog = other.log\nqueue\n"


def other_uid():
    """A local uid other than the owner's (root): one no account of the host has."""
    return next(uid for uid in range(4242, 60000) if not _has_account(uid))


def _has_account(uid):
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


@pytest.fixture
def other_user(in_pool):
    """Runs a command as another local user with the pool's own HTCondor tools: chroot
    into the pool, then a uid the pool's user namespace does not map (its daemons see
    the overflow uid, `nobody`).  The user gets every address it needs, which it could
    not read itself, and a client that offers CLAIMTOBE and ANONYMOUS besides FS."""
    if not in_pool:
        pytest.skip("on a real access point the site's own security applies")
    uid = other_uid()
    home = tempfile.mkdtemp(prefix="other-", dir=os.path.join(POOL_ROOT, "var/tmp"))
    inside = "/" + os.path.relpath(home, POOL_ROOT)
    shutil.copy(os.path.join(POOL_LOCAL, "spool", ".schedd_address"), home)
    with open(os.path.join(home, "other.sub"), "w") as f:
        f.write(OTHER_SUBMIT)
    for path in [home, *(os.path.join(home, f) for f in os.listdir(home))]:
        os.chown(path, uid, uid)
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": inside, "LANG": "C.UTF-8",
           "CONDOR_CONFIG": "/etc/imaging-pool/condor_config",
           "_CONDOR_SCHEDD_ADDRESS_FILE": f"{inside}/.schedd_address",
           "_CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS": "FS, CLAIMTOBE, ANONYMOUS"}

    def become():
        os.chroot(POOL_ROOT)
        os.chdir(inside)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)

    def as_other(*command):
        proc = subprocess.run(command, env=env, preexec_fn=become, capture_output=True,
                              text=True, timeout=120)
        return proc.returncode, proc.stdout + proc.stderr

    yield as_other
    shutil.rmtree(home, ignore_errors=True)


def master_address():
    with open(os.path.join(POOL_LOCAL, "log", ".master_address")) as f:
        return f.readline().strip()


def attempts_by_other(as_other):
    """condor_submit to the schedd, condor_reconfig and condor_off to the master: answers."""
    master = master_address()
    return {"condor_submit": as_other("condor_submit", "other.sub"),
            "condor_reconfig": as_other("condor_reconfig", "-addr", master),
            "condor_off": as_other("condor_off", "-addr", master)}


def test_pool_refuses_other_users(other_user, in_pool, session_dir):
    """Another local user cannot authenticate: FS asks for a directory in the pool's
    auth directory, which only the owner can create (so CLAIMTOBE or ANONYMOUS, which
    the pool does not accept, do not help either).  With that directory opened to all,
    as /tmp is, the user authenticates (as nobody, the uid being unmapped in the pool's
    user namespace) and is DENIED by the pool's ALLOW lists.  The owner's same
    condor_reconfig is obeyed, and the pool is still up with no job of theirs."""
    for tool, (code, text) in attempts_by_other(other_user).items():
        assert code != 0, f"{tool}: {text}"
        assert "Failed to authenticate using FS" in text, f"{tool}: {text}"
        assert "mkdir(/var/lib/imaging-pool/auth/FS_" in text, f"{tool}: {text}"
        assert "Permission denied" in text, f"{tool}: {text}"
    os.chmod(AUTH_DIR, 0o1777)
    os.chmod(POOL_LOCAL, 0o711)
    try:
        answers = attempts_by_other(other_user)
    finally:
        os.chmod(AUTH_DIR, 0o700)
        os.chmod(POOL_LOCAL, 0o700)
    for tool, (code, text) in answers.items():
        assert code != 0, f"{tool}: {text}"
        assert ('Received "DENIED" from server for user nobody@imaging-pool using method FS'
                in text), f"{tool}: {text}"
    owner = run([*in_pool, "condor_reconfig", "-addr", master_address()], cwd=session_dir)
    assert "Sent" in owner.stdout + owner.stderr, owner.stdout + owner.stderr
    # both execute nodes' partitionable slots are still there (a job of an earlier test
    # may leave a dynamic slot, slot1_1, beside them for a while)
    slots = run([*in_pool, "condor_status", "-constraint", "PartitionableSlot =?= true",
                 "-af", "Name"], cwd=session_dir).stdout
    assert len(slots.split()) == 2, slots
    owners = run([*in_pool, "condor_q", "-allusers", "-af", "Owner"], cwd=session_dir).stdout
    assert "nobody" not in owners, owners


def test_pool_files_closed_to_other_users(in_pool):
    """The pool's directory (chroot, aponly's run directories), its LOCAL_DIR with FS's
    auth directory and the pool user's home are neither readable nor writable by others;
    its configuration is readable (no secret in it) but not writable."""
    if not in_pool:
        pytest.skip("on a real access point the site's own security applies")
    closed = [POOL_DIR, APONLY, POOL_LOCAL, AUTH_DIR, os.path.join(POOL_ROOT, "home/imgpool")]
    for path in closed:
        st = os.stat(path)
        assert st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & 0o077 == 0, \
            (path, oct(st.st_mode))
    for config in ("condor_config", "condor_config_isolated"):
        mode = stat.S_IMODE(os.stat(os.path.join(POOL_ROOT, "etc/imaging-pool", config)).st_mode)
        assert mode & 0o022 == 0, (config, oct(mode))
