"""make status: where a run stands, locally (make run) or on the pool (make submit).

    status.py [--warnings] [RUNDIR]

Prints the run's state, its stage and major cycle, its nodes (done, running,
idle, held, failed, retried), the peak residual of each major cycle so far
and the elapsed time; for a failed run, each failed node and the log that
says why; CASA's SEVERE messages not known to be harmless (imaging/casalogs.py);
for a finished run, last, the guards' warnings (imaging/guards.py,
from products/final/summary.json).  With --warnings only those warnings (the
end of `make run`).  Reads the run directory only (see progress.py).
"""
import datetime
import os
import sys

from imaging import products
from tools import progress
from tools.progress import JobState, RunState


def main(*args):
    only_warnings = "--warnings" in args
    rundir = ([a for a in args if a != "--warnings"] or ["."])[0]
    os.chdir(rundir)
    if only_warnings:
        print_warnings()
        return
    state, detail = progress.run_state()
    print(f"run:     {os.getcwd()}")
    print(f"state:   {state}" + (f" ({detail})" if detail else ""))
    if state == RunState.NOT_STARTED:
        print("stage:   none yet: `make run` runs it here, `make submit` on HTCondor")
        return
    nodes = progress.jobs()
    what, cycle = progress.stage(nodes)
    limit = progress.cycle_limit(products.read_json(products.PARAMS_RECORD))
    where = "" if cycle is None else f"major cycle {cycle} ({limit}): "
    print(f"stage:   {where}{what}")
    print(f"jobs:    {job_counts(nodes)}")
    for name, job in sorted(nodes.items()):
        if job["state"] in (JobState.RUNNING, JobState.HELD):
            print(f"         {job['state']}: {name}" + (f" ({job['reason']})" if job.get("reason") else ""))
    seconds = progress.elapsed(nodes, state == RunState.RUNNING)
    if seconds is not None:
        print(f"elapsed: {datetime.timedelta(seconds=round(seconds))} since the first job was submitted")
    print_cycles(progress.cycles())
    print_severe(progress.severe())
    if state == RunState.FAILED:
        for node, log in progress.failed_nodes():
            print(f"failed:  {node}" + (f": see {log}" if log else " (sub-DAG; see its nodes)"))
    if state == RunState.FINISHED:
        report = os.path.join(os.path.dirname(progress.summary_path()), "report.html")
        print(f"report:  {report}" if os.path.exists(report) else
              "report:  none yet: `make report` writes products/final/report.html")
        print_warnings()


def job_counts(nodes):
    if not nodes:
        return f"none yet ({progress.JOB_LOG} does not exist)"
    states = [j["state"] for j in nodes.values()]
    counts = [f"{states.count(s)} {s}" for s in JobState
              if states.count(s) or s in (JobState.DONE, JobState.RUNNING, JobState.FAILED)]
    retried = sum(j["attempts"] > 1 for j in nodes.values())
    return ", ".join(counts) + f"; {retried} retried"


def print_cycles(records):
    if not records:
        return
    print("cycle  peak residual (Jy/beam)  iterations done")
    for r in records:
        peak = f"{r['peakresidual']:.6g}" if r["peakresidual"] is not None else "-"
        print(f"{r['cycle']:5d}  {peak:>23}  {r['iterdone']:>15}")


def print_severe(found):
    """CASA's SEVERE messages not known to be harmless, with the nodes that logged them."""
    for message, nodes in found.items():
        more = f" and {len(nodes) - 1} more" if len(nodes) > 1 else ""
        print(f"casa:    SEVERE in {nodes[0]}{more} (logs/{nodes[0]}.err): {message}")


def print_warnings():
    """The guards' warnings of a finished run, one `warning: ...` line each (none for
    a summary written before the guards existed)."""
    summary = products.read_json(progress.summary_path()) or {}
    for line in summary.get("warnings", []):
        print(f"warning: {line}")


if __name__ == "__main__":
    main(*sys.argv[1:])
