"""The run lock <dag>.lock, as condor_dagman keeps one: one run of a DAG at a time.

Imports no HTCondor bindings: prepareRun and tools/progress ask holder_alive
whether a DAG runs (docs/dagrunner.md).
"""
from __future__ import annotations

import contextlib
import os
import re

from dagengine.dagfile import DagError
from dagengine.messages import shown


@contextlib.contextmanager
def lock_file(path: str, shown_dag: str):
    """<dag>.lock while the DAG runs: refuse a second run while the first is alive."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        if holder_alive(path):
            raise DagError(f"{shown_dag} is being run already ({shown(path)}: "
                           f"{open(path).read().strip() or 'condor_dagman'}); "
                           f"remove that file if no run is going on") from None
        os.remove(path)                       # left by a dagrunner that was killed
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    with os.fdopen(fd, "w") as f:
        f.write(f"dagrunner pid {os.getpid()}\n")
    try:
        yield
    finally:
        os.remove(path)


def holder_alive(path: str) -> bool:
    """Whether the run that wrote a lock file is alive (a lock not ours counts as alive)."""
    m = re.match(r"dagrunner pid (\d+)", open(path).read())
    if not m:
        return True
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
