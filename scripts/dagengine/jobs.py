"""A node's job: submitted (read from its submit file), queued for cores, started as a
local process or as a sub-DAG run, and its end (docs/dagrunner.md)."""
from __future__ import annotations

import collections
import contextlib
import functools
import os
import subprocess
import time
import typing

from dagengine import filetransfer, userlog
from dagengine.dagfile import DagError, parse_dag
from dagengine.messages import describe, shown, warn
from dagengine.nodes import Node, NodeState
from dagengine.submitfile import JobSpec, job_spec
from dagengine.submitsyntax import SubmitError

if typing.TYPE_CHECKING:
    from dagengine.run import DagRun

SUBMIT_FAILED = -1001     # DAGMan's job exit value when the submission fails


class JobLauncher:
    """Submits and starts the jobs of a DagRun's nodes; counts those running per category."""

    def __init__(self, run: DagRun):
        self.run = run
        self.running = collections.Counter()       # running jobs per category

    def submit(self, node: Node):
        """Submit the job: it then waits in the queue for cores."""
        run = self.run
        run.set(node, NodeState.QUEUED)
        if node.noop:
            run.event(node, "NOOP: job not run")
            return run.scheduler.soon(run, run.lifecycle.job_done, node, 0)
        try:
            self.prepare(node)
        except (SubmitError, OSError) as e:
            return self.submit_failed(node, str(e))
        node.cluster = run.scheduler.cluster()
        if node.spec:
            userlog.submitted(node.spec, node.cluster, node.name)
        run.event(node, f"job submitted (request_cpus={node.cpus})" if node.spec else "sub-DAG submitted")
        run.scheduler.waiting.append((run, node))

    def prepare(self, node: Node):
        if node.subdag:
            node.spec, node.cpus = None, 0
            if not os.path.isfile(os.path.join(node.dir, node.submit)):
                raise SubmitError(f"sub-DAG file {shown(os.path.join(node.dir, node.submit))} does not exist")
        else:
            node.spec = job_spec(node, self.run.status, len(self.run.failed))
            node.cpus = node.spec.cpus

    def submit_failed(self, node: Node, message: str):
        """No submit retries here: like DAGMan's last failed attempt (retries cancelled)."""
        warn(f"node '{self.run.label}{node.name}': job submission failed: {message}")
        node.poisoned, node.submit_error = True, message
        self.run.lifecycle.job_done(node, SUBMIT_FAILED)

    def may_start(self, node: Node) -> bool:
        """Whether the node's category (MAXJOBS) lets one more job run."""
        limit = self.run.dag.maxjobs.get(node.category)
        return limit is None or self.running[node.category] < limit

    def launch(self, node: Node):
        """Start the job of a node that got its cores."""
        self.run.set(node, NodeState.RUNNING)
        self.running[node.category] += 1
        try:
            self.launch_subdag(node) if node.subdag else self.launch_job(node)
        except OSError as e:
            self.running[node.category] -= 1
            self.submit_failed(node, f"cannot start {node.spec.argv[0]}: {e}")

    def launch_job(self, node: Node):
        spec = node.spec
        argv, cwd, env = spec.argv, spec.cwd, spec.env
        if spec.transfer:
            node.scratch = filetransfer.send_inputs(node.name, spec)
            argv, cwd = filetransfer.scratch_argv(spec, node.scratch), node.scratch
            env = {**env, "_CONDOR_SCRATCH_DIR": node.scratch}
        with contextlib.ExitStack() as files:
            p = self.run.scheduler.spawn(self.run, argv, functools.partial(self.exited, node),
                                         cpus=node.cpus, job=True, cwd=cwd, env=env,
                                         **job_streams(spec, files))
        node.started = time.monotonic()
        userlog.executing(spec, node.cluster)
        self.run.event(node, f"job started (pid {p.pid}, {node.cpus} cpus)")

    def launch_subdag(self, node: Node):
        try:
            dag = parse_dag(node.submit, node.dir)
        except (DagError, OSError, ValueError) as e:
            warn(f"error: {e}")
            return self.run.scheduler.soon(self.run, self.exited, node, 1)
        node.subrun = self.run.child(dag, node, functools.partial(self.exited, node))
        self.run.event(node, f"sub-DAG {dag.shown} started")
        node.subrun.start()

    def exited(self, node: Node, rc: int, usage=None):
        """The job's process (or sub-DAG) ended with rc."""
        self.running[node.category] -= 1
        if node.scratch:
            rc = self.fetch_outputs(node, rc)
        if node.spec:
            userlog.terminated(node.spec, node.cluster, rc, usage, time.monotonic() - node.started)
        self.run.event(node, f"{'sub-DAG' if node.subdag else 'job'} exited ({describe(rc)})")
        self.run.lifecycle.job_done(node, rc)

    def fetch_outputs(self, node: Node, rc: int) -> int:
        """Bring the outputs back from the scratch directory; the job's rc after that."""
        missing = filetransfer.fetch_outputs(node.spec, node.scratch)
        node.scratch = ""
        if missing:   # HTCondor would hold the job; here it fails
            warn(f"node '{self.run.label}{node.name}': output file {missing} was not written by the job")
            rc = rc or 1
        return rc


def job_streams(spec: JobSpec, files: contextlib.ExitStack) -> dict:
    """stdin, stdout and stderr of the job: its input, output and error files."""
    stdin = files.enter_context(open(spec.input, "rb")) if spec.input else subprocess.DEVNULL
    stdout = open_output(spec.output, files)
    stderr = stdout if spec.error == spec.output else open_output(spec.error, files)
    return {"stdin": stdin, "stdout": stdout, "stderr": stderr}


def open_output(path: str | None, files: contextlib.ExitStack):
    if not path:
        return subprocess.DEVNULL
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return files.enter_context(open(path, "wb"))
