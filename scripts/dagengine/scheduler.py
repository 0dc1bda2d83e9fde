"""One event loop, one core budget and the processes, shared by a DAG and all its
sub-DAGs (docs/dagrunner.md)."""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import signal
import subprocess
import time
import typing

from dagengine.messages import warn

if typing.TYPE_CHECKING:
    from dagengine.nodes import Node
    from dagengine.run import DagRun

KILL_GRACE = 5.0          # seconds between SIGTERM and SIGKILL when aborting
POLL = 0.02               # seconds between polls of the running processes


@dataclasses.dataclass(eq=False)
class Process:
    popen: subprocess.Popen
    owner: DagRun
    on_exit: object
    cpus: int
    job: bool
    usage: object = None           # resource.struct_rusage once it has exited

    def exited(self) -> bool:
        """Reap the process if it has exited, keeping its resource usage (wait4)."""
        if self.popen.returncode is not None:
            return True
        try:
            pid, status, usage = os.wait4(self.popen.pid, os.WNOHANG)
        except ChildProcessError:            # reaped elsewhere: fall back on Popen
            return self.popen.poll() is not None
        if pid == 0:
            return False
        self.popen.returncode, self.usage = os.waitstatus_to_exitcode(status), usage
        return True


def terminate(processes: list[subprocess.Popen]):
    """Kill processes and their children: SIGTERM, then SIGKILL after a grace time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in processes:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, sig)
        deadline = time.monotonic() + KILL_GRACE
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            time.sleep(POLL)


class Scheduler:
    """Runs the callbacks of the DAG runs in order, starts queued jobs when their cores
    are free, and reports processes that exited and timers that are due."""

    def __init__(self, cores: int):
        self.cores, self.used = cores, 0
        self.processes: list[Process] = []
        self.waiting: list[tuple[DagRun, Node]] = []       # jobs waiting for cores
        self.timers: list[tuple[float, DagRun, object, tuple]] = []
        self.events: collections.deque = collections.deque()
        self.runs: list[DagRun] = []
        self.clusters = 0

    def soon(self, owner: DagRun, function, *args):
        self.events.append((owner, function, args))

    def later(self, owner: DagRun, delay: float, function, *args):
        self.timers.append((time.monotonic() + delay, owner, function, args))

    def cluster(self) -> int:
        self.clusters += 1
        return self.clusters

    def spawn(self, owner: DagRun, argv: list, on_exit, cpus=0, job=False, **popen) -> subprocess.Popen:
        p = subprocess.Popen(argv, start_new_session=True, **popen)
        self.processes.append(Process(p, owner, on_exit, cpus, job))
        self.used += cpus
        return p

    def run(self, root: DagRun) -> int:
        try:
            root.start()
            while not root.finished:
                self.step()
        except BaseException:
            self.interrupt()
            raise
        return root.exit_code

    def step(self):
        if self.events:
            owner, function, args = self.events.popleft()
            function(*args)
        elif not (self.dispatch() or self.reap() or self.fire_timers()):
            if not self.processes and not self.timers:
                names = ", ".join(node.name for _, node in self.waiting)
                raise RuntimeError(f"no progress possible (waiting forever: {names})")
            time.sleep(POLL)

    def fits(self, node: Node) -> bool:
        return node.cpus == 0 or self.used == 0 or self.used + node.cpus <= self.cores

    def dispatch(self) -> bool:
        """Start the waiting jobs that fit in the free cores and their category limits."""
        started = False
        for item in list(self.waiting):
            run, node = item
            if item in self.waiting and self.fits(node) and run.jobs.may_start(node):
                self.waiting.remove(item)   # (an abort during a launch may have removed it)
                run.jobs.launch(node)
                started = True
        return started

    def reap(self) -> bool:
        ended = [p for p in self.processes if p.exited()]
        for p in ended:
            self.processes.remove(p)
            self.used -= p.cpus
            if p.job:   # the starter kills what a job leaves behind
                with contextlib.suppress(OSError):
                    os.killpg(p.popen.pid, signal.SIGKILL)
                self.soon(p.owner, p.on_exit, p.popen.returncode, p.usage)
            else:
                self.soon(p.owner, p.on_exit, p.popen.returncode)
        return bool(ended)

    def fire_timers(self) -> bool:
        due = [t for t in self.timers if t[0] <= time.monotonic()]
        for t in due:
            self.timers.remove(t)
            self.soon(t[1], t[2], *t[3])
        return bool(due)

    def kill(self, owners: set):
        """Kill the processes of some DAG runs and forget their pending work."""
        victims = [p for p in self.processes if p.owner in owners]
        self.processes = [p for p in self.processes if p.owner not in owners]
        self.used -= sum(p.cpus for p in victims)
        self.waiting = [w for w in self.waiting if w[0] not in owners]
        self.timers = [t for t in self.timers if t[1] not in owners]
        self.events = collections.deque(e for e in self.events if e[0] not in owners)
        terminate([p.popen for p in victims])

    def interrupt(self):
        """On Ctrl-C (or an error): kill every job and write the rescue files."""
        runs = list(self.runs)
        self.kill(set(runs))
        for run in runs:
            run.reset_active()
            run.write_rescue()
        if runs:
            warn("interrupted: running jobs were killed")
