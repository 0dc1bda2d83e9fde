"""Rescue DAG files: <dag>.rescue001, 002, ... in DAGMan's partial format (docs/dagrunner.md)."""
from __future__ import annotations

import datetime
import glob

from dagengine.messages import plural, shown, warn
from dagengine.nodes import Dag, Node, NodeState

MAX_RESCUE = 100          # DAGMAN_MAX_RESCUE_NUM


def rescue_number(dag_path: str) -> int:
    """The number of the newest rescue file of a DAG (0 if none)."""
    found = [int(f[-3:]) for f in glob.glob(glob.escape(dag_path) + ".rescue[0-9][0-9][0-9]")]
    return max([n for n in found if 0 < n <= MAX_RESCUE], default=0)


def rescue_path(dag_path: str, number: int) -> str:
    return f"{dag_path}.rescue{number:03d}"


def newest(dag_path: str) -> str | None:
    """The rescue file the next run of a DAG applies (condor_submit_dag's autorescue)."""
    number = rescue_number(dag_path)
    return rescue_path(dag_path, number) if number else None


def next_path(dag_path: str) -> str:
    """The rescue file a failing run of a DAG writes."""
    return rescue_path(dag_path, min(rescue_number(dag_path) + 1, MAX_RESCUE))


def write(path: str, dag: Dag, failed: list[Node]):
    """A partial rescue DAG in DAGMan's format (dag.cpp WriteRescue): DONE lines."""
    nodes, stamp = dag.all_nodes(), datetime.datetime.now(datetime.timezone.utc)
    done = [n for n in dag.nodes.values() if n.status == NodeState.DONE]
    with open(path, "w") as f:
        f.write(f"# Rescue DAG file, created after running\n#   the {dag.shown} DAG file\n"
                f"# Created {stamp.month}/{stamp.day}/{stamp.year} {stamp:%H:%M:%S} UTC\n"
                f"# Rescue DAG version: 2.1.0 (partial), written by dagrunner\n#\n"
                f"# Total number of Nodes: {len(nodes)}\n# Nodes premarked DONE: {len(done)}\n"
                f"# Nodes that failed: {len(failed)}\n"
                f"#   {''.join(n.name + ',' for n in failed)}<ENDLIST>\n\n")
        f.writelines(f"DONE {n.name}\n" for n in done)
    warn(f"rescue file {shown(path)} written ({plural(len(done), 'node')} done)")
