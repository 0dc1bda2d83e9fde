"""The DAG as the engine holds it: its nodes, their scripts and states (docs/dagrunner.md)."""
from __future__ import annotations

import collections
import dataclasses
import enum
import typing

if typing.TYPE_CHECKING:
    from dagengine.run import DagRun
    from dagengine.submitfile import JobSpec


class NodeState(enum.Enum):
    """Where a node stands in its DAG's run."""
    WAITING = "waiting"
    PRE = "pre"              # PRE script running (or about to)
    QUEUED = "queued"        # job submitted, waiting for cores
    RUNNING = "running"
    POST = "post"            # POST script running
    DONE = "done"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        """An attempt is in progress (a process of the node runs or may start)."""
        return self in (NodeState.PRE, NodeState.QUEUED, NodeState.RUNNING, NodeState.POST)


class Stage(enum.Enum):
    """A part of a node's attempt: what decided a failure, or which script a Script is."""
    NONE = ""
    PRE = "PRE"
    JOB = "job"
    POST = "POST"

    def __str__(self) -> str:
        return self.value


class DagStatus(enum.IntEnum):
    """The $DAG_STATUS values (a DAG's state, as its FINAL node and scripts see it)."""
    OK = 0
    ERROR = 1
    NODE_FAILED = 2
    ABORTED = 3


class DebugStreams(enum.Enum):
    """Which output of a script SCRIPT DEBUG keeps."""
    STDOUT = "STDOUT"
    STDERR = "STDERR"
    ALL = "ALL"

    @property
    def stdout(self) -> bool:
        return self in (DebugStreams.STDOUT, DebugStreams.ALL)

    @property
    def stderr(self) -> bool:
        return self in (DebugStreams.STDERR, DebugStreams.ALL)


@dataclasses.dataclass(eq=False)
class Script:
    kind: Stage                    # Stage.PRE or Stage.POST
    command: str                   # executable and arguments, as written
    defer_status: int | None = None
    defer_time: int = 0
    debug_file: str | None = None
    debug_streams: DebugStreams = DebugStreams.ALL


@dataclasses.dataclass(eq=False)
class Node:
    name: str
    submit: str                    # submit file (or sub-DAG file), relative to dir
    dir: str                       # absolute directory the node is submitted from
    subdag: bool = False
    final: bool = False
    noop: bool = False
    status: NodeState = NodeState.WAITING
    vars: list = dataclasses.field(default_factory=list)      # (key, value, prepend)
    retries: int = 0
    unless_exit: int | None = None
    pre: Script | None = None
    post: Script | None = None
    pre_skip: int | None = None
    abort_on: int | None = None
    abort_return: int | None = None
    category: str | None = None
    parents: list = dataclasses.field(default_factory=list)
    children: list = dataclasses.field(default_factory=list)
    # the current attempt
    retry: int = 0
    pre_rc: int = -1
    job_rc: int | None = None
    rc: int = 0
    stage: Stage = Stage.NONE      # what decided a failure: PRE, job or POST
    submit_error: str = ""
    poisoned: bool = False         # no more retries (failed submission)
    spec: JobSpec | None = None
    cpus: int = 0
    cluster: int = 0
    started: float = 0.0           # when the job's process started (monotonic)
    scratch: str = ""              # the job's scratch directory (file transfer)
    subrun: DagRun | None = None

    def ready(self) -> bool:
        """Waiting, and every parent has succeeded."""
        return self.status == NodeState.WAITING and all(p.status == NodeState.DONE for p in self.parents)


@dataclasses.dataclass(eq=False)
class Dag:
    path: str                      # absolute path of the DAG file
    shown: str                     # the path as given, for messages
    cwd: str                       # directory the DAG is submitted from
    nodes: dict = dataclasses.field(default_factory=dict)
    final: Node | None = None
    maxjobs: dict = dataclasses.field(default_factory=dict)
    rescue: str | None = None      # the rescue file applied

    def all_nodes(self) -> list[Node]:
        return [*self.nodes.values(), *([self.final] if self.final else [])]


class StateCounts:
    """How many nodes of a DAG are in each state; every change of state goes through set."""

    def __init__(self, nodes: list[Node]):
        self.counts = collections.Counter(n.status for n in nodes)

    def __getitem__(self, state: NodeState) -> int:
        return self.counts[state]

    def set(self, node: Node, state: NodeState):
        self.counts[node.status] -= 1
        node.status = state
        self.counts[state] += 1

    def active(self) -> int:
        """Nodes with an attempt in progress."""
        return sum(count for state, count in self.counts.items() if state.active)
