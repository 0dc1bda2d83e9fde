"""The local DAG engine's public entry: run_dag, and the command line behind
`python -m dagengine DAGFILE [--cores N]` (what it does: docs/dagrunner.md)."""
from __future__ import annotations

import argparse
import os
import signal

from dagengine.dagfile import DagError, parse_dag
from dagengine.lock import lock_file
from dagengine.messages import warn
from dagengine.run import DagRun
from dagengine.scheduler import Scheduler


def run_dag(dagfile: str, cores: int | None = None) -> int:
    """Run a DAG file (relative to the current directory) as condor_submit_dag would.

    Returns the DAG's exit status: 0 on success, 1 on failure, or the
    ABORT-DAG-ON value.  Raises DagError if the DAG file cannot be parsed.
    """
    scheduler = Scheduler(max(1, cores or os.cpu_count() or 1))
    dag = parse_dag(dagfile, os.getcwd())
    with lock_file(f"{dag.path}.lock", dag.shown):
        return scheduler.run(DagRun(dag, scheduler))


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run an HTCondor DAGMan DAG on this machine.")
    parser.add_argument("dagfile", help="the DAG file, as given to condor_submit_dag")
    parser.add_argument("--cores", type=int, default=None,
                        help="cores to share between the jobs (default: all of this machine's)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)   # like Ctrl-C: kill the jobs, write rescue files
    try:
        return run_dag(args.dagfile, args.cores)
    except (DagError, OSError) as e:
        warn(f"error: {e}")
    except KeyboardInterrupt:
        pass
    return 1
