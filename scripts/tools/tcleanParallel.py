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
STARTED = re.compile(r"Server with rank (\d+) started at")


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


def servers_started(log_text):
    """The ranks of the MPI servers that casampi's client saw start, from its log."""
    return {int(rank) for rank in STARTED.findall(log_text)}


def check_servers(logdir, servers):
    """Fail unless CASA's logs in logdir show exactly `servers` MPI servers started."""
    ranks = set()
    for path in glob.glob(os.path.join(logdir, "casa-*.log")):
        with open(path, errors="replace") as f:
            ranks |= servers_started(f.read())
    if ranks != set(range(1, servers + 1)):
        raise SystemExit(f"tcleanParallel: CASA's logs in {logdir} show MPI servers "
                         f"{sorted(ranks) or 'none'} started, not {servers}: tclean did not "
                         "run in parallel (is mpirun Open MPI's, and casampi in this environment?)")
    return ranks


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
