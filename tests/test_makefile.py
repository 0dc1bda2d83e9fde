"""The Makefile's `run` target, as make itself plans it (`make -n`: a dry run, in which
make still runs the recipe line that calls make again, so the check whether to simulate
is made for real).

`make run` simulates data/sim_evla.ms only when params/imaging.py's vis is that MS and
it does not exist yet; otherwise it goes straight to the DAG.
"""
import pytest

from helpers import new_run, run

pytestmark = pytest.mark.fast

SIMULATE = "-m tools.simulate data/sim_evla.ms"
DAG = "-m dagengine dag/condor_imaging.dag"


@pytest.mark.parametrize("vis, exists, simulates", [
    ("data/sim_evla.ms", False, True),
    ("data/sim_evla.ms", True, False),
    ("/data/elsewhere/real.ms", False, False),
])
def test_make_run_simulates_only_the_missing_default_ms(tmp_path, vis, exists, simulates):
    rundir = new_run(tmp_path / "run", {"vis": vis})
    if exists:
        (rundir / "data" / "sim_evla.ms").mkdir(parents=True)
    out = run(["make", "-n", "run"], cwd=rundir).stdout
    assert (SIMULATE in out) == simulates, out
    assert DAG in out
