"""A node's submit (.htc) file, read with htcondor2 into what to run (docs/dagrunner.md)."""
from __future__ import annotations

import contextlib
import dataclasses
import os

import htcondor2

from dagengine.nodes import Node
from dagengine.submitsyntax import (SubmitError, getenv_variables, parse_environment,
                                    request_cpus, request_memory, split_arguments)

KEEP_ENV = ("PATH", "HOME", "CASASITECONFIG", "CASA_LOGDIR")
THREAD_ENV = ("CUBACORES", "GOMAXPROCS", "JULIA_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS", "OMP_THREAD_LIMIT",
              "OPENBLAS_NUM_THREADS", "PYTHON_CPU_COUNT", "ROOT_MAX_THREADS",
              "TF_LOOP_PARALLEL_ITERATIONS", "TF_NUM_THREADS")


@dataclasses.dataclass
class Transfer:
    """HTCondor's file transfer: the job runs in a scratch directory of its own, its
    inputs copied in (a path ending in / sends a folder's contents), its outputs
    copied back to the submit directory (renamed by transfer_output_remaps)."""
    inputs: list
    outputs: list
    remaps: dict
    executable: bool               # transfer_executable (default true)


@dataclasses.dataclass
class JobSpec:
    argv: list
    cwd: str
    env: dict
    cpus: int
    input: str | None
    output: str | None
    error: str | None
    log: str | None
    memory: int = 0                # request_memory in MB (0: none or not a plain size)
    transfer: Transfer | None = None   # should_transfer_files = YES


def submit_value(sub: htcondor2.Submit, key: str) -> str:
    """A submit command, macros expanded ('' when unset or empty)."""
    try:
        return sub.expand(key).strip()
    except KeyError:
        return ""


def load_submit(node: Node, dag_status: int, failed_count: int) -> htcondor2.Submit:
    """The node's submit description, read as DAGMan's direct submission reads it."""
    path = os.path.join(node.dir, node.submit)
    with open(path) as f:
        text = f.read()
    macros = [("JOB", node.name), ("RETRY", str(node.retry)),
              ("DAG_STATUS", str(dag_status)), ("FAILED_COUNT", str(failed_count))]
    macros += [(key, value) for key, value, prepend in node.vars if prepend]
    head = "".join(f"{key} = {value}\n" for key, value in macros)
    try:
        with contextlib.chdir(node.dir):   # `include :` is relative to the submit directory
            sub = htcondor2.Submit(head + text)
    except Exception as e:
        raise SubmitError(f"cannot read {path}: {e}") from None
    for key, value, prepend in node.vars:
        if not prepend:
            sub[key] = value
    return sub


def job_spec(node: Node, dag_status: int, failed_count: int) -> JobSpec:
    """What to run for the node's job, from its submit file."""
    sub = load_submit(node, dag_status, failed_count)
    if sub.getQArgs().strip() not in ("", "1"):
        raise SubmitError(f"'queue {sub.getQArgs()}': only one job per node is supported")
    iwd = os.path.normpath(os.path.join(node.dir, submit_value(sub, "initialdir")
                                        or submit_value(sub, "initial_dir")))
    executable = job_executable(sub, node.dir)
    cpus = request_cpus(submit_value(sub, "request_cpus") or "1")
    files = {key: submit_value(sub, key) for key in ("input", "output", "error", "log")}
    files = {key: os.path.normpath(os.path.join(iwd, v)) if v else None for key, v in files.items()}
    return JobSpec([executable, *split_arguments(submit_value(sub, "arguments"))], iwd,
                   job_environment(sub, cpus), cpus, **files,
                   memory=request_memory(submit_value(sub, "request_memory")),
                   transfer=file_transfer(sub))


def job_executable(sub: htcondor2.Submit, submit_dir: str) -> str:
    """The executable's path, resolved from the submit directory as condor_submit does."""
    executable = submit_value(sub, "executable")
    if not executable:
        raise SubmitError("no executable in the submit file")
    executable = os.path.normpath(os.path.join(submit_dir, executable))
    if not os.path.isfile(executable):
        raise SubmitError(f"executable {executable} does not exist")
    return executable


def file_transfer(sub: htcondor2.Submit) -> Transfer | None:
    """The job's file transfer, if should_transfer_files = YES (IF_NEEDED: the runner's
    one machine shares its filesystem, so no transfer, as HTCondor decides)."""
    if submit_value(sub, "should_transfer_files").upper() != "YES":
        return None
    listed = lambda key: [w.strip() for w in submit_value(sub, key).split(",") if w.strip()]  # noqa: E731
    remaps = {}
    for pair in filter(None, submit_value(sub, "transfer_output_remaps").strip('"').split(";")):
        name, _, target = pair.partition("=")
        remaps[name.strip()] = target.strip()
    return Transfer(listed("transfer_input_files"), listed("transfer_output_files"), remaps,
                    submit_value(sub, "transfer_executable").lower() not in ("false", "no", "0"))


def job_environment(sub: htcondor2.Submit, cpus: int) -> dict:
    """The job's environment, as HTCondor's starter makes it."""
    env = getenv_variables(submit_value(sub, "getenv"))
    env.update(parse_environment(submit_value(sub, "environment") or submit_value(sub, "env")))
    for name in KEEP_ENV:
        if name in os.environ:
            env.setdefault(name, os.environ[name])
    for name in THREAD_ENV:
        env.setdefault(name, str(max(cpus, 1)))
    return env
