"""What `make run` prints while the DAG runs: one line per stage and major cycle.

    python -m tools.console COMMAND...     (make run: COMMAND is the local DAG engine)

Runs COMMAND with its stdout (every node's start and end) in logs/dagrunner.log and its
stderr (the engine's warnings and failures) both there and on the console.  Every
POLL seconds (CONSOLE_POLL, default 2) it reads where the run stands from its products and job log (progress.py,
as `make status` does) and prints a line when the stage or the major cycle changes,
with the jobs done and running; on a terminal the counts within a stage (sub-MSes
gridded, CF jobs filled) update that line in place.  At the end it names the failed
nodes and their logs, or where the images and the quick-look sheet are, and exits
with COMMAND's exit status.
"""
import datetime
import os
import re
import subprocess
import sys
import threading
import time

from tools import progress
from tools.progress import JobState, RunState

LOG = os.path.join(progress.LOGS, "dagrunner.log")
POLL = float(os.environ.get("CONSOLE_POLL", 2))   # seconds between looks at the run


def main(*command):
    os.makedirs(progress.LOGS, exist_ok=True)
    with open(LOG, "a", buffering=1) as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.PIPE, text=True)
        relay = threading.Thread(target=tee, args=(proc.stderr, log), daemon=True)
        relay.start()
        line = Line(sys.stdout.isatty())
        try:
            while proc.poll() is None:
                line.show(where())
                time.sleep(POLL)
        except KeyboardInterrupt:        # (the engine got it too: it stops its jobs)
            proc.wait()
        relay.join()
        line.show(where())
        line.end()
    print(ending(proc.returncode))
    return proc.returncode


def tee(stream, log):
    """The engine's stderr to the console and its log, line by line."""
    for text in stream:
        log.write(text)
        sys.stderr.write(text)
        sys.stderr.flush()


def where():
    """'major cycle 2: gridding (allImagers): 1 of 3 sub-MSes done (jobs: 14 done, 2 running)';
    None if the run's files cannot be read now (one being replaced: the next poll)."""
    try:
        return stage_line()
    except (OSError, ValueError, KeyError):
        return None


def stage_line():
    nodes = progress.jobs()
    what, cycle = progress.stage(nodes)
    states = [j["state"] for j in nodes.values()]
    jobs = (f"{states.count(JobState.DONE)} done, {states.count(JobState.RUNNING)} running"
            + (f", {states.count(JobState.FAILED)} failed" if JobState.FAILED in states else ""))
    return ("" if cycle is None else f"major cycle {cycle}: ") + f"{what} (jobs: {jobs})"


class Line:
    """The console's current line: a new one when the stage changes; on a terminal, the
    same one rewritten when only its counts change."""

    def __init__(self, tty):
        self.tty, self.key, self.text = tty, None, None

    def show(self, text):
        if text is None:
            return
        key = re.sub(r"\d+", "#", text)
        if text == self.text or (key == self.key and not self.tty):
            return
        stamp = datetime.datetime.now().strftime("%H:%M:%S")
        if key == self.key:          # (a terminal) the same stage: rewrite the line
            sys.stdout.write(f"\r\033[K{stamp}  {text}")
        else:
            sys.stdout.write(("\n" if self.tty and self.text else "") + f"{stamp}  {text}"
                             + ("" if self.tty else "\n"))
        sys.stdout.flush()
        self.key, self.text = key, text

    def end(self):
        if self.tty and self.text:
            sys.stdout.write("\n")


def ending(rc):
    """The last lines: where the images are, or which nodes failed and why."""
    state, detail = progress.run_state()
    if rc == 0 and state == RunState.FINISHED:
        final = os.path.dirname(progress.summary_path())
        return (f"finished: images in {final} (FITS beside them); the run at a glance in "
                f"{final}/report.html; every node in {LOG}")
    lines = [f"{state}: {detail}" if detail else str(state)]
    lines += [f"failed:  {node}" + (f": see {log}" if log else " (sub-DAG; see its nodes)")
              for node, log in progress.failed_nodes()]
    return "\n".join(lines + [f"every node: {LOG}"])


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
