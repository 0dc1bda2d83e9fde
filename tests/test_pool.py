"""The same DAG under real HTCondor: condor_submit_dag and condor_dagman on a pool.

Where condor_submit_dag is on PATH (an access point, a personal HTCondor) it
is used; otherwise the project's personal pool in a Debian 13 chroot
(scripts/pool.sh, needs root) is brought up for these tests and taken down
after.  The run's restored image equals tclean's, with tclean's cycles,
iterations and stop reason, as for the local runner.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

import imagecompare as ic
from conftest import ROOT, new_run, run
from test_first_cycle import size_for

POOL = ROOT / "scripts" / "pool.sh"


@pytest.fixture(scope="module")
def submit_dag():
    """The command that submits a DAG: the PATH's condor_submit_dag, or the chroot pool's."""
    if shutil.which("condor_submit_dag"):
        yield ["condor_submit_dag"]
        return
    if os.geteuid() != 0:
        pytest.skip("no condor_submit_dag on PATH, and the personal pool needs root")
    subprocess.run([POOL, "up"], check=True)
    yield [POOL, "run", "condor_submit_dag"]
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


def test_dag_on_htcondor_equals_tclean(session_dir, shared, sim_ms, cf_run, references,
                                       submit_dag):
    rundir = new_run(session_dir / "pool_run", {**shared, "maxsubmssize": size_for(2, sim_ms)})
    run([*submit_dag, "-include_env", "IMAGING_PYTHON", "dag/condor_imaging.dag"], cwd=rundir)
    metrics = wait_for_metrics(rundir / "dag" / "condor_imaging.dag")
    assert metrics["client"] == "condor_dagman" and metrics["exitcode"] == 0, metrics
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
    assert "Job submitted from host:" in log and "SlotName:" in log
