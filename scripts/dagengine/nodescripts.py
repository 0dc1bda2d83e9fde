"""PRE and POST scripts: their $ macros, DEFER and DEBUG files (docs/dagrunner.md)."""
from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
import time
import typing

from dagengine.messages import warn
from dagengine.nodes import Node, Script, Stage

if typing.TYPE_CHECKING:
    from dagengine.run import DagRun


class ScriptRunner:
    """Runs the scripts of a DagRun's nodes; `then(node, rc)` hears how each exited."""

    def __init__(self, run: DagRun):
        self.run = run

    def argv(self, node: Node, script: Script) -> list[str]:
        """The script's words, with DAGMan's $ macros replaced (script.cpp)."""
        macros = {"$JOB": node.name, "$NODE": node.name, "$RETRY": str(node.retry),
                  "$MAX_RETRIES": str(node.retries), "$DAG_STATUS": str(self.run.status),
                  "$FAILED_COUNT": str(len(self.run.failed))}
        if script.kind == Stage.POST:
            macros.update({"$RETURN": str(node.job_rc), "$PRE_SCRIPT_RETURN": str(node.pre_rc),
                           "$JOBID": f"{node.cluster}.0"})
        return [macros.get(word.upper(), word) for word in re.split(r"[ \t]+", script.command) if word]

    def start(self, node: Node, script: Script, then):
        run, argv = self.run, self.argv(node, script)
        run.event(node, f"{script.kind} script started: {' '.join(argv)}")
        capture = tempfile.TemporaryFile() if script.debug_file else None
        exited = functools.partial(self.exited, node, script, then, capture, argv)
        try:
            run.scheduler.spawn(run, [os.path.join(node.dir, argv[0]), *argv[1:]], exited,
                                cwd=node.dir, stdin=subprocess.DEVNULL, **debug_streams(script, capture))
        except OSError as e:
            warn(f"node '{run.label}{node.name}': cannot run {script.kind} script {argv[0]}: {e}")
            run.scheduler.soon(run, exited, 1)   # DAGMan: a script that cannot start exits 1

    def exited(self, node: Node, script: Script, then, capture, argv: list, rc: int):
        if capture:
            write_debug(node, script, capture, argv, rc)
        if script.defer_status is not None and rc == script.defer_status:
            self.run.event(node, f"{script.kind} script deferred for {script.defer_time} s")
            return self.run.scheduler.later(self.run, script.defer_time, self.start, node, script, then)
        then(node, rc)


def debug_streams(script: Script, capture) -> dict:
    """stdout and stderr of a script: into `capture` as SCRIPT DEBUG asks, else the runner's."""
    if not capture:
        return {}
    streams = script.debug_streams
    return {"stdout": capture if streams.stdout else subprocess.DEVNULL,
            "stderr": capture if streams.stderr else subprocess.DEVNULL}


def write_debug(node: Node, script: Script, capture, argv: list, rc: int):
    """Append the script's captured output to its DEBUG file, after DAGMan's header line."""
    capture.seek(0)
    status = f"Signal={-rc}" if rc < 0 else f"ExitCode={rc}"
    with capture, open(os.path.join(node.dir, script.debug_file), "ab") as f:
        f.write(f"*** Node={node.name} Type={script.kind} {status} Completion={int(time.time())} "
                f"Cmd='{' '.join(argv)}'\n".encode())
        f.write(capture.read())
