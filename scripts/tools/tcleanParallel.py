"""CASA's own parallel imager, tclean(parallel=True), on the same data with the
same parameters as tcleanReference.py's serial tclean: the benchmark's third
contender (make bench BENCH_MPI=1).

    tcleanParallel.py --servers N PARAMFILE VIS IMAGENAME [name=value ...]

launches itself under Open MPI's mpirun with N MPI servers and one client
(N + 1 ranks, in the environment of .venv-mpi: make mpi-setup), then checks from
CASA's logs (CASA_LOGDIR) that N servers really started: casampi switches MPI on
only under Open MPI's mpirun and otherwise tclean(parallel=True) runs serially
without a word.  Each rank runs

    tcleanParallel.py PARAMFILE VIS IMAGENAME [name=value ...]

in which casampi keeps the servers serving until the client, rank 0, has run
tclean (tcleanReference's arguments plus parallel=True) and stops them.
"""
import glob
import os
import re
import subprocess
import sys

# what each rank must see: CASA's offline site configuration, the project's modules, the log folder
PASSED = ("CASASITECONFIG", "PYTHONPATH", "CASA_LOGDIR")
# what casampi and tclean log when they run in parallel: the client sees each server
# start, the parallel imager sets up that many engines, each server selects its rows
STARTED = re.compile(r"Server with rank (\d+) started at")
ENGINES = re.compile(r"setupCluster, Setting up (\d+) engines")
SELECTED = re.compile(r"MPIServer-(\d+)\s*\tSelecting via TaQL")


def mpirun_command(python, servers, arguments, root=None):
    """mpirun's command line: servers + 1 ranks of this script (oversubscribing the
    cores, unbound: casampi's client mostly waits), the environment passed to every rank."""
    root = os.geteuid() == 0 if root is None else root
    argv = ["mpirun", "-n", str(servers + 1), "--oversubscribe", "--bind-to", "none"]
    if root:
        argv.append("--allow-run-as-root")
    for name in PASSED:
        argv += ["-x", name]
    return argv + [python, "-m", "tools.tcleanParallel", *arguments]


def servers_seen(log_text):
    """From CASA's log: the ranks of the servers that started, the numbers of engines
    the parallel imager set up, the servers that selected data to grid."""
    return {"started": {int(r) for r in STARTED.findall(log_text)},
            "engines": {int(n) for n in ENGINES.findall(log_text)},
            "selected": {int(r) for r in SELECTED.findall(log_text)}}


def check_servers(logdir, servers):
    """Fail unless CASA's logs in logdir (one per rank) show `servers` MPI servers
    started, the imager set up as many engines, and each server selected data."""
    seen = {"started": set(), "engines": set(), "selected": set()}
    for path in glob.glob(os.path.join(logdir, "casa-*.log")):
        with open(path, errors="replace") as f:
            for key, values in servers_seen(f.read()).items():
                seen[key] |= values
    ranks = set(range(1, servers + 1))
    if seen != {"started": ranks, "engines": {servers}, "selected": ranks}:
        shown = "; ".join(f"{k}: {sorted(v) or 'none'}" for k, v in seen.items())
        raise SystemExit(f"tcleanParallel: CASA's logs in {logdir} do not show {servers} MPI "
                         f"servers at work (servers {shown}): tclean did not run in parallel "
                         "(is mpirun Open MPI's, and casampi in this environment?)")
    return seen


def launch(servers, arguments):
    """Run under mpirun with this Python, then check that the servers ran."""
    for name in PASSED:
        if name not in os.environ:
            raise SystemExit(f"tcleanParallel: {name} is not set (make bench sets it)")
    subprocess.run(mpirun_command(sys.executable, servers, arguments), check=True)
    check_servers(os.environ["CASA_LOGDIR"], servers)


def rank(paramfile, vis, imagename, *overrides):
    """One rank: a server serves here until the client stops it; the client runs tclean."""
    from imaging import casaenv  # noqa: F401
    import casampi.private.start_mpi  # noqa: F401  (servers exit inside)
    from tools import tcleanReference
    args = tcleanReference.tclean_arguments(paramfile, vis, imagename, overrides)
    tcleanReference.run_tclean({**args, "parallel": True}, imagename)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--servers"]:
        launch(int(sys.argv[2]), sys.argv[3:])
    else:
        rank(*sys.argv[1:])
