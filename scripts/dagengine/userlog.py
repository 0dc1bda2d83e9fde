"""The HTCondor user job event log (a job's `log` file), written as a schedd would.

htcondor2.JobEventLog (and condor_q/condor_wait) read it as they read a
schedd's; tools/progress.py reads it so (docs/dagrunner.md).
"""
from __future__ import annotations

import datetime
import os
import socket
import typing

if typing.TYPE_CHECKING:
    from dagengine.submitfile import JobSpec

HOST = "<127.0.0.1:0?alias=dagrunner>"   # the "host" named in the user log
NO_USAGE = "Usr 0 00:00:00, Sys 0 00:00:00"


def write_event(path: str | None, cluster: int, head: str, *body: str):
    """Append one event to a job's `log` file in HTCondor's user-log format.

    `head` is the event number and its title ("000 Job submitted from host: ..."),
    `body` its indented lines.
    """
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        code, title = head.split(" ", 1)
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with open(path, "a") as f:
            f.write(f"{code} ({cluster:03d}.000.000) {stamp} {title}\n"
                    + "".join(f"{line}\n" for line in body) + "...\n")


def submitted(spec: JobSpec, cluster: int, node_name: str):
    write_event(spec.log, cluster, f"000 Job submitted from host: {HOST}", f"    DAG Node: {node_name}")


def executing(spec: JobSpec, cluster: int):
    write_event(spec.log, cluster, f"001 Job executing on host: {HOST}",
                f"\tSlotName: dagrunner@{socket.gethostname()}")


def terminated(spec: JobSpec, cluster: int, rc: int, usage, wall: float):
    write_event(spec.log, cluster, "005 Job terminated.", *usage_lines(rc, usage, spec, wall))


def aborted(spec: JobSpec, cluster: int):
    write_event(spec.log, cluster, "009 Job was aborted.",
                "\tkilled by dagrunner (DAG aborted or interrupted)")


def usage_lines(rc: int, usage, spec: JobSpec, wall: float) -> list[str]:
    """The body of a terminated event (005): exit, CPU times, peak memory."""
    cpu = f"Usr {hms(usage.ru_utime)}, Sys {hms(usage.ru_stime)}" if usage else NO_USAGE
    how = ([f"\t(1) Normal termination (return value {rc})"] if rc >= 0 else
           [f"\t(0) Abnormal termination (signal {-rc})", "\t(0) No core file"])
    lines = [*how, f"\t\t{cpu}  -  Run Remote Usage", f"\t\t{NO_USAGE}  -  Run Local Usage",
             f"\t\t{cpu}  -  Total Remote Usage", f"\t\t{NO_USAGE}  -  Total Local Usage",
             *(f"\t0  -  {what}" for what in ("Run Bytes Sent By Job", "Run Bytes Received By Job",
                                            "Total Bytes Sent By Job", "Total Bytes Received By Job"))]
    return lines + (resource_lines(usage, spec, wall) if usage else [])


def resource_lines(usage, spec: JobSpec, wall: float) -> list[str]:
    """The partitionable-resources table: CPUs and memory used and requested."""
    used = (usage.ru_utime + usage.ru_stime) / max(wall, 1e-3)
    memory = (usage.ru_maxrss + 1023) // 1024          # kB to MB, as HTCondor rounds
    return ["\tPartitionable Resources :    Usage  Request Allocated",
            f"\t   Cpus                 : {used:8.2f} {spec.cpus:8d} {spec.cpus:9d}",
            f"\t   Memory (MB)          : {memory:8d} {spec.memory:8d} {spec.memory:9d}"]


def hms(seconds: float) -> str:
    """CPU time as the user log writes it: days hh:mm:ss."""
    s = int(round(seconds))
    return f"{s // 86400} {s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"
