"""CASA's parallel imager in the benchmark (tools/tcleanParallel.py, make bench BENCH_MPI=1),
without MPI: the mpirun command line it builds, and the check that casampi really
started its servers and that they gridded, on lines of real CASA logs of a run
(casampi 0.6.0 under Open MPI 4.1.4's mpirun -n 3).
"""
import pytest

from helpers import run, new_run
from tools import tcleanParallel

pytestmark = pytest.mark.fast

# lines of CASA's logs of a parallel tclean run (one log per rank), as casampi 0.6.0 and
# casatasks 6.7.0.31 wrote them: make bench BENCH_MPI=1 BENCH_HOURS=1 on 2026-12-02
CLIENT_LOG = (
    "2026-12-02 00:06:52\tINFO\tcasa::casa::casa\tMPI Enabled at host vm with rank 0 as "
    "MPIClient using MPI version 3.1 from Open MPI v4.1.4 implementation \n"
    "2026-12-02 00:07:11\tINFO\tMPICommandClient::send_start_service_signal::MPICommandClient::"
    "send_start_service_signal::casa\tServer with rank 2 started at vm with PID 22931\n"
    "2026-12-02 00:07:12\tINFO\tMPICommandClient::send_start_service_signal::MPICommandClient::"
    "send_start_service_signal::casa\tServer with rank 1 started at vm with PID 22930\n"
    "2026-12-02 00:07:16\tINFO\ttclean::::casa\tsetupCluster, Setting up 2 engines.\n")
SERVER_LOGS = [
    "2026-12-02 00:07:11\tINFO\tserver_run::server_run::casa::MPIServer-{n}\tMPI Enabled at host "
    "vm with rank {n} as  using MPI version 3.1 from Open MPI v4.1.4 implementation \n"
    "2026-12-02 00:07:19\tINFO\tMPICommandServer::command_request_handler_service::"
    "SynthesisImagerVi2::selectData::MPIServer-{n} \tSelecting via TaQL : ROWNUMBER() >= {first} "
    "&& ROWNUMBER() <= {last} |   NRows selected : {rows}\n".format(**rows)
    for rows in ({"n": 1, "first": 1, "last": 252721, "rows": 252721},
                 {"n": 2, "first": 252722, "last": 505440, "rows": 252719})]

# without mpirun casampi stays off and tclean(parallel=True) runs serially: none of that
SERIAL_LOG = (
    "2026-12-01 23:59:01\tINFO\ttclean::::casa\t##### Begin Task: tclean             #####\n")


@pytest.mark.parametrize("root", [True, False])
def test_mpirun_runs_servers_and_a_client_with_the_environment(root):
    argv = tcleanParallel.mpirun_command("/venv-mpi/bin/python", 2,
                                         ["params/imaging.py", "a.ms", "ref"], root=root)
    assert argv[:6] == ["mpirun", "-n", "3", "--oversubscribe", "--bind-to", "none"]
    assert ("--allow-run-as-root" in argv) == root
    passed = [argv[i + 1] for i, a in enumerate(argv) if a == "-x"]
    assert passed == ["CASASITECONFIG", "PYTHONPATH", "CASA_LOGDIR"]
    assert argv[-6:] == ["/venv-mpi/bin/python", "-m", "tools.tcleanParallel",
                         "params/imaging.py", "a.ms", "ref"]


def test_servers_seen_in_casampi_logs():
    assert tcleanParallel.servers_seen(CLIENT_LOG) == {"started": {1, 2}, "engines": {2},
                                                       "selected": set()}
    assert tcleanParallel.servers_seen(SERVER_LOGS[1]) == {"started": set(), "engines": set(),
                                                           "selected": {2}}
    assert tcleanParallel.servers_seen(SERIAL_LOG) == {"started": set(), "engines": set(),
                                                       "selected": set()}


def write_logs(folder, texts):
    for pid, text in enumerate(texts):
        (folder / f"casa-vm-{pid}.log").write_text(text)


def test_check_servers_passes_on_the_real_run(tmp_path):
    write_logs(tmp_path, [CLIENT_LOG] + SERVER_LOGS)
    assert tcleanParallel.check_servers(tmp_path, 2)["selected"] == {1, 2}


@pytest.mark.parametrize("logs, servers", [
    ([CLIENT_LOG] + SERVER_LOGS, 3),           # fewer servers than asked for
    ([CLIENT_LOG, SERVER_LOGS[0]], 2),         # one server started but gridded nothing
    ([SERIAL_LOG], 2),                         # no MPI at all
])
def test_check_servers_fails_loudly_otherwise(tmp_path, logs, servers):
    write_logs(tmp_path, logs)
    with pytest.raises(SystemExit, match=f"do not show {servers} MPI servers at work"):
        tcleanParallel.check_servers(tmp_path, servers)


@pytest.mark.parametrize("mpi", [False, True])
def test_make_bench_adds_parallel_tclean_only_when_asked(tmp_path, mpi):
    rundir = new_run(tmp_path / "run", {})
    out = run(["make", "-n", "bench"] + (["BENCH_MPI=1"] if mpi else []), cwd=rundir).stdout
    assert ("-r requirements.txt -r requirements-mpi.txt" in out) == mpi, out
    assert (f"--mpi-python {rundir}/.venv-mpi/bin/python" in out) == mpi, out
    assert "-m tools.bench --hours 3 --repeats 2" in out
