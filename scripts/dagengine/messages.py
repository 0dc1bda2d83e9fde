"""What the engine prints: notices, warnings, and why a node failed (docs/dagrunner.md)."""
from __future__ import annotations

import datetime
import os
import sys

from dagengine.nodes import Node, Stage


def now() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def shown(path: str) -> str:
    """A path as the user will find it: relative to the current directory if below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe(rc: int) -> str:
    return f"signal {-rc}" if -64 < rc < 0 else f"exit code {rc}"


def notice(text: str):
    """A line on stdout: what the engine does."""
    print(f"dagrunner: {text}", flush=True)


def warn(text: str):
    """A line on stderr: what went wrong."""
    print(f"dagrunner: {text}", file=sys.stderr, flush=True)


def failure_message(node: Node, label: str) -> str:
    """Why a node failed, after how many attempts, and where to look."""
    attempts = f"after {plural(node.retry + 1, 'attempt')}"
    if node.stage == Stage.PRE:
        what, where = f"PRE script failed with {describe(node.rc)}", "job not run"
        if node.pre.debug_file:
            where += f"; its output: {shown(os.path.join(node.dir, node.pre.debug_file))}"
    elif node.submit_error:
        what, where = "could not be submitted", node.submit_error
    elif node.stage == Stage.POST:
        what = f"POST script failed with {describe(node.rc)} (job: {describe(node.job_rc)})"
        where = stderr_note(node)
    else:
        what, where = f"failed with {describe(node.rc)}", stderr_note(node)
    return f"node '{label}{node.name}' {what} {attempts} ({where})"


def stderr_note(node: Node) -> str:
    if node.subdag:
        return f"sub-DAG: {shown(os.path.join(node.dir, node.submit))}"
    if node.noop or not node.spec:
        return "no job output"
    return f"stderr: {shown(node.spec.error)}" if node.spec.error else "stderr not kept: no 'error' file"
