"""DagRun: one DAG's run (the top-level DAG or a sub-DAG) with DAGMan's rules: which
nodes start, failure, abort, FINAL node, rescue file and exit status (docs/dagrunner.md).

One node's attempt is in lifecycle.py, its job in jobs.py, its scripts in nodescripts.py.
"""
from __future__ import annotations

from dagengine import rescue, userlog
from dagengine.jobs import JobLauncher
from dagengine.lifecycle import NodeLifecycle
from dagengine.messages import failure_message, notice, now, plural, shown, warn
from dagengine.nodes import Dag, DagStatus, Node, NodeState, StateCounts
from dagengine.nodescripts import ScriptRunner
from dagengine.scheduler import Scheduler


class DagRun:
    """The execution of one DAG; its nodes' attempts are run by its lifecycle, jobs and
    scripts, which report back through node_done, node_failed and abort."""

    def __init__(self, dag: Dag, scheduler: Scheduler, label: str = "",
                 parent: DagRun | None = None, on_exit=None):
        self.dag, self.scheduler, self.label = dag, scheduler, label
        self.parent, self.on_exit = parent, on_exit
        self.status = DagStatus.OK
        self.states = StateCounts(dag.all_nodes())
        self.failed: list[Node] = []
        self.aborted = self.final_started = self.finished = False
        self.exit_code: int | None = None
        self.rescue_file: str | None = None
        self.lifecycle = NodeLifecycle(self)
        self.jobs = JobLauncher(self)
        self.scripts = ScriptRunner(self)

    def set(self, node: Node, state: NodeState):
        self.states.set(node, state)

    def event(self, node: Node, text: str):
        print(f"{now()} {self.label}{node.name}: {text}", flush=True)

    def child(self, dag: Dag, node: Node, on_exit) -> DagRun:
        """The run of a SUBDAG node's DAG."""
        return DagRun(dag, self.scheduler, f"{self.label}{node.name}/", self, on_exit)

    def tree(self) -> list[DagRun]:
        """This run and the sub-DAG runs below it."""
        subruns = [n.subrun for n in self.dag.nodes.values()
                   if n.status == NodeState.RUNNING and n.subrun and not n.subrun.finished]
        return [self, *(run for sub in subruns for run in sub.tree())]

    # ---- progress of the DAG
    def start(self):
        self.scheduler.runs.append(self)
        done = self.states[NodeState.DONE]
        notice(f"{self.dag.shown}: {plural(len(self.dag.all_nodes()), 'node')}"
               + (f", {done} done per {shown(self.dag.rescue)}" if self.dag.rescue else ""))
        for node in self.dag.nodes.values():
            if node.ready():
                self.lifecycle.start(node)
        self.check()

    def node_done(self, node: Node):
        self.set(node, NodeState.DONE)
        self.event(node, "node succeeded")
        for child in node.children:
            if child.ready():
                self.lifecycle.start(child)
        self.check()

    def node_failed(self, node: Node):
        self.set(node, NodeState.FAILED)
        self.failed.append(node)
        self.status = DagStatus.NODE_FAILED if self.status == DagStatus.OK else self.status
        self.event(node, "node FAILED")
        warn(failure_message(node, self.label))
        self.check()

    def check(self):
        """Once nothing is running: FINAL node, rescue file and exit, as DAGMan does."""
        if self.finished or self.states.active():
            return
        if self.final_started:
            return self.finish(self.final_verdict())
        if self.states[NodeState.DONE] == len(self.dag.nodes):
            return self.shutdown(0)
        if not self.failed:
            self.status = DagStatus.ERROR
            warn(f"{self.dag.shown}: nodes left that can never run (a cycle?)")
        self.shutdown(1)

    # ---- the end
    def shutdown(self, exit_code: int):
        """DAGMan's main_shutdown_rescue: rescue file if failing, then the FINAL node."""
        if exit_code != 0:
            self.write_rescue()
        final = self.dag.final
        if final is None:
            return self.finish(exit_code)
        self.final_started = True
        self.event(final, f"FINAL node starting (DAG_STATUS={self.status})")
        self.lifecycle.start(final)

    def final_verdict(self) -> int:
        """The FINAL node's success overrides everything (dag.cpp DoneSuccess)."""
        if self.dag.final.status == NodeState.DONE or (self.aborted and self.status == DagStatus.OK):
            return 0
        self.write_rescue()
        return 1

    def finish(self, exit_code: int):
        self.finished, self.exit_code = True, exit_code
        self.scheduler.runs.remove(self)
        if exit_code == 0:
            notice(f"{self.dag.shown}: DAG succeeded")
        else:
            warn(f"{self.dag.shown}: DAG failed (exit status {exit_code})")
        if self.on_exit:
            self.scheduler.soon(self.parent, self.on_exit, exit_code)

    def write_rescue(self):
        if self.rescue_file is None:
            self.rescue_file = rescue.next_path(self.dag.path)
        rescue.write(self.rescue_file, self.dag, self.failed)

    # ---- ABORT-DAG-ON
    def abort(self, node: Node, rc: int, completed: bool):
        """ABORT-DAG-ON matched: kill everything, then rescue, FINAL node and exit."""
        returned = rc if node.abort_return is None else node.abort_return
        if rc:
            self.set(node, NodeState.FAILED)
            self.failed.append(node)
            warn(failure_message(node, self.label))
        elif completed:   # (after a successful PRE script the node is not done yet)
            self.set(node, NodeState.DONE)
        self.aborted = True
        self.status = DagStatus.OK if node.abort_return == 0 else DagStatus.ABORTED
        warn(f"node '{self.label}{node.name}' exited with {rc}: ABORT-DAG-ON {node.abort_on}, "
             f"aborting {self.dag.shown} (exit status {returned})")
        self.kill_all()
        self.shutdown(returned)

    def kill_all(self):
        tree = self.tree()
        self.scheduler.kill(set(tree))
        for run in tree:
            run.reset_active()
        for run in tree[1:]:
            run.write_rescue()
            run.finished, run.exit_code = True, 1
            self.scheduler.runs.remove(run)

    def reset_active(self):
        """Forget the attempts in progress (their processes were killed)."""
        for node in self.dag.all_nodes():
            if node.status.active:
                if node.status == NodeState.RUNNING and node.spec:
                    userlog.aborted(node.spec, node.cluster)
                self.event(node, "stopped (killed or removed from the queue)")
                self.set(node, NodeState.WAITING)
        self.jobs.running.clear()
