"""One node's attempt, as DAGMan runs it: PRE script, job, POST script; PRE_SKIP,
RETRY and ABORT-DAG-ON (docs/dagrunner.md)."""
from __future__ import annotations

import typing

from dagengine.messages import describe
from dagengine.nodes import Node, NodeState, Stage

if typing.TYPE_CHECKING:
    from dagengine.run import DagRun


class NodeLifecycle:
    """Moves a node of a DagRun through its attempts; the DagRun hears of the outcome."""

    def __init__(self, run: DagRun):
        self.run = run

    def start(self, node: Node):
        """A new attempt: the PRE script, else the job at once."""
        node.pre_rc, node.job_rc, node.stage, node.submit_error = -1, None, Stage.NONE, ""
        self.run.set(node, NodeState.PRE)
        if node.pre:
            self.run.scripts.start(node, node.pre, self.pre_exited)
        else:
            self.run.jobs.submit(node)

    def pre_exited(self, node: Node, rc: int):
        node.pre_rc = rc
        self.run.event(node, f"PRE script exited ({describe(rc)})")
        skip = rc != 0 and rc == node.pre_skip
        rc, node.stage = (0, Stage.NONE) if skip else (rc, Stage.PRE)
        if self.abort_on(node, rc, completed=False):
            return
        if skip:
            self.run.event(node, "PRE_SKIP: job and POST script skipped")
            self.run.node_done(node)
        elif rc:
            self.attempt_failed(node, rc)
        else:
            self.run.jobs.submit(node)

    def job_done(self, node: Node, rc: int):
        """The job (or sub-DAG) ended, was a NOOP or could not be submitted."""
        node.job_rc = rc
        if node.post:
            self.run.set(node, NodeState.POST)
            self.run.scripts.start(node, node.post, self.post_exited)
        else:
            node.stage = Stage.JOB
            self.attempt_done(node, rc)

    def post_exited(self, node: Node, rc: int):
        self.run.event(node, f"POST script exited ({describe(rc)})")
        node.stage = Stage.POST
        self.attempt_done(node, rc)

    def abort_on(self, node: Node, rc: int, completed: bool = True) -> bool:
        """Whether rc is the node's ABORT-DAG-ON value (the DAG is then aborted)."""
        if node.abort_on is not None and rc == node.abort_on:
            node.rc = rc
            self.run.abort(node, rc, completed)
            return True
        return False

    def attempt_done(self, node: Node, rc: int):
        if self.abort_on(node, rc):
            return
        if rc == 0:
            self.run.node_done(node)
        else:
            self.attempt_failed(node, rc)

    def attempt_failed(self, node: Node, rc: int):
        """Retry the node if RETRY allows, else it fails."""
        node.rc = rc
        if node.retry < node.retries and rc != node.unless_exit and not node.poisoned:
            node.retry += 1
            self.run.event(node, f"failed ({describe(rc)}), retry {node.retry} of {node.retries}")
            self.start(node)
        else:
            self.run.node_failed(node)
