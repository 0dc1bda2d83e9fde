#!/usr/bin/env python3
"""Run an HTCondor DAGMan workflow on this machine, without HTCondor.

The DAG file and the submit (.htc) files given to ``condor_submit_dag`` on a
pool are run here unchanged, as local processes, with the semantics of the
HTCondor manual: docs/automated-workflows/ in github.com/htcondor/htcondor
(dagman-introduction, node-pass-or-fail / dagman-completion, dagman-scripts,
dagman-vars, dagman-all-nodes, dagman-node-types, dagman-using-other-dags) and
the condor_submit manual page (arguments, environment, getenv, initialdir).
Where the manual is silent, DAGMan's source was followed (dag_parser.cpp,
dag.cpp, dagman_main.cpp, dagman_submit.cpp, script.cpp).

Usage:  python scripts/dagrunner.py DAGFILE [--cores N]   (default: all cores)
        run_dag(dagfile, cores=None) -> exit status, from Python.
The exit status is DAGMan's: 0 if the DAG succeeded, 1 if it failed, or the
value chosen by ABORT-DAG-ON.  A DAG file that cannot be parsed raises
DagError (the CLI prints it, naming the file and line, and exits 1).

As with condor_submit_dag without -usedagdir, paths in a DAG file are relative
to the directory the runner is started from.  Keywords are case-insensitive
('-' and '_' are the same); lines starting with '#' or '//' are comments; a
line ending with a backslash continues on the next one.  Commands:

JOB name file [DIR d] [NOOP] [DONE]
    A node whose job is described by the submit file `file`.  DIR: the node is
    submitted, and its scripts run, from directory d.  NOOP: the job is not
    run (its scripts are).  DONE: the node is already complete.
SUBDAG EXTERNAL name file [DIR d] [NOOP] [DONE]
    A node whose job is the DAG `file`, run when the node is ready (the file
    may be written by a parent node or by the node's own PRE script); the
    sub-DAG's exit status is the node job's exit code.  It gets its own rescue
    files, and its jobs share the one core budget.
FINAL name file [DIR d] [NOOP]
    Run last, even after a failure or an abort; its success decides the DAG's.
PARENT p1 p2 ... CHILD c1 c2 ...
    Each child runs only once all its parents have succeeded.
VARS node|ALL_NODES [PREPEND|APPEND] key="value" ...
    Submit-file macros for the node ('\\"' is a quote and '\\\\' a backslash in
    a value).  PREPEND (the default, DAGMAN_DEFAULT_APPEND_VARS = False) sets
    them before the submit file is read, so the file's own definitions win
    and they can be tested in `if`; APPEND sets them after it.  Like DAGMan,
    JOB (node name), RETRY (0 on the first attempt), DAG_STATUS and
    FAILED_COUNT are prepended too.
RETRY node|ALL_NODES n [UNLESS-EXIT v]
    Re-run a failed node (PRE script, job and POST script) up to n times,
    unless its exit value is v.
SCRIPT [DEFER status time] [DEBUG file STDOUT|STDERR|ALL] PRE|POST node|ALL_NODES exe args...
    Run exe before (PRE) or after (POST) the job, from the node directory and
    with the runner's environment; its words are split on white space and
    the words $JOB, $NODE, $RETRY, $MAX_RETRIES, $DAG_STATUS, $FAILED_COUNT
    (and, for POST, $RETURN, $PRE_SCRIPT_RETURN, $JOBID) are replaced.  The
    script's output goes to the runner's own stdout and stderr, unless
    DEBUG appends it to `file`.  DEFER: if the script exits with `status`,
    run it again `time` seconds later.  HOLD scripts are ignored.
PRE_SKIP node|ALL_NODES code
    A PRE script exiting with `code` skips the job and POST script; the node
    succeeds.
ABORT-DAG-ON node|ALL_NODES v [RETURN r]
    If the node's exit value (the PRE script's, then the POST script's if
    there is one, else the job's) is v, the DAG is aborted at once, retries
    notwithstanding: running nodes are killed, a rescue file is written, the
    FINAL node runs, and the DAG exits with r (default: v).
CATEGORY node|ALL_NODES cat  /  MAXJOBS cat n
    At most n jobs of category cat run at once.
DONE node
    Mark a node complete (the form used by rescue files).
INCLUDE file
    Read the commands of another DAG file here.
CONFIG, DOT, NODE_STATUS_FILE, JOBSTATE_LOG, PRIORITY
    Accepted and ignored, with a one-line notice.
Other DAGMan commands (SPLICE, SUBMIT_DESCRIPTION, WEAK, SERVICE,
PROVISIONER, TOLERANCE, SAVE_POINT_FILE, SET_JOB_ATTR, ENV, ...) are refused.

A node succeeds as DAGMan's table says: if its PRE script fails, the node
fails and neither job nor POST script runs; otherwise the last thing run (the
POST script if any, else the job) decides.  Nodes start as soon as all their
parents succeeded.  After a failure, nodes that do not depend on the failed
one carry on until nothing more can run; the DAG then fails, writes a rescue
file and runs the FINAL node.

Jobs.  The submit file is read by htcondor2.Submit (so `include :`, `if` and
macros behave as in condor_submit), from the node directory, with the node's
macros.  `queue` may only make one job.  The job runs `executable` (relative
to the node directory, as condor_submit resolves it) with `arguments` split by
condor_submit's rules (old syntax, or new syntax in double quotes), in
`initialdir` (else the node directory), stdin from `input`, stdout to
`output` and stderr to `error` (truncated at each attempt; /dev/null when
not set).  One line per event (submitted, executing, terminated, aborted) is
appended to `log`.  As HTCondor does, the job gets only its `environment`
entries plus, with `getenv` (true or a match list), the runner's variables;
PATH, HOME, CASASITECONFIG and CASA_LOGDIR are always passed on, and
OMP_NUM_THREADS and the other STARTER_NUM_THREADS_ENV_VARS are set to
request_cpus unless the job sets them.  Processes left behind by a job are
killed when it exits, as the starter does.

File transfer.  With should_transfer_files = YES a job runs as on a pool
without a shared filesystem: in a fresh scratch directory (also in
$_CONDOR_SCRATCH_DIR) holding its transfer_input_files (a path ending in /
sends a folder's contents) and, unless transfer_executable is false, its
executable; transfer_output_files are then moved back to the submit
directory, renamed by transfer_output_remaps, and the scratch directory is
removed.  A missing output fails the job (HTCondor would hold it).

Cores.  A job takes `request_cpus` cores (default 1) of the --cores budget
while it runs; jobs wait for free cores in submission order, and a job asking
for more than the budget runs alone.  Scripts and sub-DAG nodes take no cores
(their jobs do: one budget for all nested DAGs).

Rescue.  A failed DAG writes DONE lines for its completed nodes to
<dag>.rescue001 (then 002, ...) next to the DAG file, in DAGMan's partial
rescue format; the next run of that DAG applies the newest rescue file, so
completed nodes are not run again (condor_submit_dag's default autorescue).
As in DAGMan, the rescue file is written before the FINAL node runs, so it
stays even if the FINAL node then makes the DAG succeed.

Not implemented: splices, inline submit descriptions, weak edges, service and
provisioner nodes, node priorities, DAGMAN_ALWAYS_RUN_POST, -usedagdir,
submit retries (a submission that fails makes the job's exit value -1001 and
cancels retries, as after DAGMan's last submit attempt), universes (a
local-universe job runs as any other), holds, and queue counts other than 1.  A sub-DAG killed because
its parent DAG aborted writes its rescue file but does not run its FINAL node.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import datetime
import fnmatch
import functools
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import htcondor2

DAG_OK, DAG_ERROR, DAG_NODE_FAILED, DAG_ABORTED = 0, 1, 2, 3   # $DAG_STATUS values
SUBMIT_FAILED = -1001     # DAGMan's job exit value when the submission fails
MAX_RESCUE = 100          # DAGMAN_MAX_RESCUE_NUM
KILL_GRACE = 5.0          # seconds between SIGTERM and SIGKILL when aborting
HOST = "<127.0.0.1:0?alias=dagrunner>"   # the "host" named in the user log
POLL = 0.02               # seconds between polls of the running processes
KEEP_ENV = ("PATH", "HOME", "CASASITECONFIG", "CASA_LOGDIR")
THREAD_ENV = ("CUBACORES", "GOMAXPROCS", "JULIA_NUM_THREADS", "MKL_NUM_THREADS",
              "NUMEXPR_NUM_THREADS", "OMP_NUM_THREADS", "OMP_THREAD_LIMIT",
              "OPENBLAS_NUM_THREADS", "PYTHON_CPU_COUNT", "ROOT_MAX_THREADS",
              "TF_LOOP_PARALLEL_ITERATIONS", "TF_NUM_THREADS")
NODE_COMMANDS = ("JOB", "SUBDAG", "FINAL")
IGNORED = ("CONFIG", "DOT", "NODE_STATUS_FILE", "JOBSTATE_LOG", "PRIORITY")
UNSUPPORTED = ("SPLICE", "SUBMIT_DESCRIPTION", "WEAK", "SERVICE", "PROVISIONER", "TOLERANCE",
               "SAVE_POINT_FILE", "SET_JOB_ATTR", "ENV", "REJECT", "CONNECT", "PIN_IN", "PIN_OUT")
RESERVED = ("PARENT", "CHILD", "ALL_NODES")
ENV_V1_DELIMITERS = "!#$%&*+,-/:;<>?@^`|~\x1f"
VARS_KEY = re.compile(r"[ \t\r]*([^ \t\r=\"']+)[ \t\r]*=[ \t\r]*")   # key = (before a VARS value)

WAITING, PRE, QUEUED, RUNNING, POST, DONE, FAILED = (
    "waiting", "pre", "queued", "running", "post", "done", "failed")
ACTIVE = (PRE, QUEUED, RUNNING, POST)


class DagError(Exception):
    """A DAG file that cannot be parsed; the message names the file and line."""


class SubmitError(Exception):
    """A node job that condor_submit would refuse."""


# --------------------------------------------------------------------------- DAG files

class Lexer:
    """The words of one DAG line, split as DAGMan's DagLexer does (dag_parser.cpp)."""

    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def next(self, trim: bool = False) -> str:
        """The next word ('' at the end).  Quotes group; inside them a backslash escapes."""
        word, quote = [], None
        while self.pos < len(self.text):
            c = self.text[self.pos]
            self.pos += 1
            if quote and c == "\\" and self.pos < len(self.text):
                word.append(self.text[self.pos])
                self.pos += 1
            elif c == quote or (not quote and c in "\"'"):
                quote = None if quote else c
                word.append("" if trim else c)
            elif not quote and c in " \t\r":
                if word:
                    break
            else:
                word.append(c)
        if quote:
            raise ValueError("invalid quoting: no ending quote found")
        return "".join(word)

    def peek(self) -> str:
        pos, word = self.pos, self.next()
        self.pos = pos
        return word

    def rest(self) -> str:
        """The rest of the line, as written."""
        text, self.pos = self.text[self.pos:].strip(), len(self.text)
        return text

    def pair(self) -> tuple[str, str] | None:
        """The next key="value" of a VARS line (None at the end)."""
        if not self.text[self.pos:].strip():
            return None
        m = VARS_KEY.match(self.text, self.pos)
        if not m:
            raise ValueError("malformed key=value pair")
        self.pos = m.end()
        value = self.next()
        if not value:
            raise ValueError(f"no value for '{m.group(1)}'")
        return m.group(1), value[1:-1] if value[0] in "\"'" else value


@dataclasses.dataclass(eq=False)
class Script:
    kind: str                      # PRE or POST
    command: str                   # executable and arguments, as written
    defer_status: int | None = None
    defer_time: int = 0
    debug_file: str | None = None
    debug_streams: str = "ALL"


@dataclasses.dataclass(eq=False)
class Node:
    name: str
    submit: str                    # submit file (or sub-DAG file), relative to dir
    dir: str                       # absolute directory the node is submitted from
    subdag: bool = False
    final: bool = False
    noop: bool = False
    status: str = WAITING
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
    stage: str = ""                # what decided a failure: PRE, job or POST
    submit_error: str = ""
    poisoned: bool = False         # no more retries (failed submission)
    spec: JobSpec | None = None
    cpus: int = 0
    cluster: int = 0
    started: float = 0.0           # when the job's process started (monotonic)
    scratch: str = ""              # the job's scratch directory (file transfer)
    subrun: DagRun | None = None


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


@dataclasses.dataclass
class Line:
    file: str
    number: int
    keyword: str
    lexer: Lexer

    def error(self, message: str) -> DagError:
        return DagError(f"{self.file}, line {self.number}: {message}")


def read_lines(path: str):
    """(line number, text) of each command: comments skipped, continuations joined."""
    with open(path) as f:
        raw = f.read().splitlines()
    text, start = "", 0
    for number, line in enumerate(raw, 1):
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        start = start if text else number
        text = f"{text} {line}" if text else line
        if text.endswith("\\"):
            text = text[:-1]
            continue
        yield start, text
        text = ""
    if text:
        yield start, text


def read_commands(path: str, shown: str, cwd: str, seen: frozenset = frozenset()) -> list[Line]:
    """The commands of a DAG file, with its INCLUDE files read in place."""
    if os.path.realpath(path) in seen:
        raise DagError(f"{shown}: included recursively")
    lines = []
    for number, text in read_lines(path):
        line = Line(shown, number, "", Lexer(text))
        try:
            line.keyword = line.lexer.next().upper().replace("-", "_")
            name = line.lexer.next(trim=True) if line.keyword == "INCLUDE" else ""
            extra = line.lexer.next() if name else ""
        except ValueError as e:
            raise line.error(str(e)) from None
        if line.keyword != "INCLUDE":
            lines.append(line)
        elif not name or extra:
            raise line.error("INCLUDE takes one file name")
        else:
            lines += read_commands(os.path.join(cwd, name), name, cwd, seen | {os.path.realpath(path)})
    return lines


def rescue_number(dag_path: str) -> int:
    """The number of the newest rescue file of a DAG (0 if none)."""
    found = [int(f[-3:]) for f in glob.glob(glob.escape(dag_path) + ".rescue[0-9][0-9][0-9]")]
    return max([n for n in found if 0 < n <= MAX_RESCUE], default=0)


def parse_dag(path: str, cwd: str) -> Dag:
    """Read a DAG file (path relative to cwd) and apply its newest rescue file."""
    dag = Dag(os.path.normpath(os.path.join(cwd, path)), path, cwd)
    lines = read_commands(dag.path, path, cwd)
    number = rescue_number(dag.path)
    if number:
        dag.rescue = f"{dag.path}.rescue{number:03d}"
        lines += read_commands(dag.rescue, f"{path}.rescue{number:03d}", cwd)
    parser = Parser(dag)
    for line in lines:   # nodes first, then the other commands in order (DAGMan's two passes)
        if line.keyword in NODE_COMMANDS:
            parser.parse(line)
    for line in lines:
        if line.keyword not in NODE_COMMANDS:
            parser.parse(line)
    return dag


class Parser:
    """Applies DAG commands to a Dag."""

    HANDLERS = {"JOB": "node", "SUBDAG": "node", "FINAL": "node", "PARENT": "parent",
                "VARS": "vars", "RETRY": "retry", "SCRIPT": "script", "PRE_SKIP": "pre_skip",
                "ABORT_DAG_ON": "abort_dag_on", "CATEGORY": "category", "MAXJOBS": "maxjobs",
                "DONE": "done"}

    def __init__(self, dag: Dag):
        self.dag = dag

    def parse(self, line: Line):
        if line.keyword in IGNORED:
            line.lexer.rest()
            print(f"dagrunner: {line.file}, line {line.number}: {line.keyword} ignored", flush=True)
        elif line.keyword in UNSUPPORTED:
            raise line.error(f"the DAGMan command {line.keyword} is not supported by dagrunner")
        elif line.keyword not in self.HANDLERS:
            raise line.error(f"'{line.keyword}' is not a valid DAG command")
        else:
            self.apply(line, getattr(self, self.HANDLERS[line.keyword]))

    def apply(self, line: Line, handler):
        try:
            handler(line)
            extra = line.lexer.next()
        except ValueError as e:
            raise line.error(str(e)) from None
        if extra:
            raise line.error(f"unexpected '{extra}'")

    def word(self, line: Line, what: str, trim: bool = False) -> str:
        word = line.lexer.next(trim)
        if not word:
            raise ValueError(f"missing {what}")
        return word

    def integer(self, line: Line, what: str) -> int:
        word = self.word(line, what)
        try:
            return int(word)
        except ValueError:
            raise ValueError(f"invalid {what} '{word}'") from None

    def lookup(self, line: Line, name: str, final_ok: bool = True) -> Node:
        final = self.dag.final
        node = self.dag.nodes.get(name) or (final if final and final.name == name else None)
        if node is None:
            raise ValueError(f"unknown node '{name}'")
        if node.final and not final_ok:
            raise ValueError(f"{line.keyword} cannot be used with the FINAL node '{name}'")
        return node

    def targets(self, line: Line, final_ok: bool = True) -> list[Node]:
        """The nodes named next on the line (ALL_NODES: every node but the FINAL one)."""
        name = self.word(line, "node name")
        if name.upper() == "ALL_NODES":
            return list(self.dag.nodes.values())
        return [self.lookup(line, name, final_ok)]

    def node(self, line: Line):
        if line.keyword == "SUBDAG" and self.word(line, "EXTERNAL").upper() != "EXTERNAL":
            raise ValueError("SUBDAG must be followed by EXTERNAL")
        name = self.word(line, "node name")
        if name.upper() in RESERVED or "+" in name:
            raise ValueError(f"'{name}' cannot be a node name")
        node = Node(name, self.word(line, "submit file", trim=True), self.dag.cwd,
                    subdag=line.keyword == "SUBDAG", final=line.keyword == "FINAL")
        self.node_options(line, node)
        if name in self.dag.nodes or (self.dag.final and self.dag.final.name == name):
            raise ValueError(f"node '{name}' is defined twice")
        if node.final and self.dag.final:
            raise ValueError("a DAG can have only one FINAL node")
        if node.final:
            self.dag.final = node
        else:
            self.dag.nodes[name] = node

    def node_options(self, line: Line, node: Node):
        while word := line.lexer.next():
            if word.upper() == "NOOP":
                node.noop = True
            elif word.upper() == "DONE" and not node.final:
                node.status = DONE
            elif word.upper() == "DIR":
                node.dir = os.path.normpath(os.path.join(self.dag.cwd, self.word(line, "directory", True)))
            else:
                raise ValueError(f"unexpected '{word}'")

    def parent(self, line: Line):
        words = [w for w in iter(line.lexer.next, "")]
        upper = [w.upper() for w in words]
        if "CHILD" not in upper:
            raise ValueError("PARENT without CHILD")
        parents, children = words[:upper.index("CHILD")], words[upper.index("CHILD") + 1:]
        if not parents or not children:
            raise ValueError("PARENT ... CHILD needs nodes on both sides")
        for p in (self.lookup(line, w, final_ok=False) for w in parents):
            for c in (self.lookup(line, w, final_ok=False) for w in children):
                if c not in p.children:
                    p.children.append(c)
                    c.parents.append(p)

    def vars(self, line: Line):
        nodes = self.targets(line)
        placement = line.lexer.peek().upper()
        if placement in ("PREPEND", "APPEND"):
            line.lexer.next()
        pairs = list(iter(line.lexer.pair, None))
        if not pairs:
            raise ValueError("no key=\"value\" pairs")
        for key, value in pairs:
            if key.lower().startswith("queue"):
                raise ValueError(f"illegal variable name '{key}'")
            key = "My." + key[1:] if key.startswith("+") else key
            for node in nodes:
                node.vars.append((key, value, placement != "APPEND"))

    def retry(self, line: Line):
        nodes = self.targets(line, final_ok=False)
        count = self.integer(line, "retry count")
        unless = None
        if line.lexer.peek():
            if self.word(line, "UNLESS-EXIT").upper().replace("-", "_") != "UNLESS_EXIT":
                raise ValueError("expected UNLESS-EXIT")
            unless = self.integer(line, "UNLESS-EXIT value")
        if count < 0:
            raise ValueError("negative retry count")
        for node in nodes:
            node.retries, node.unless_exit = count, unless

    def script(self, line: Line):
        options = {}
        while (kind := self.word(line, "PRE or POST").upper()) not in ("PRE", "POST", "HOLD"):
            if kind == "DEFER":
                options["defer_status"] = self.integer(line, "DEFER status")
                options["defer_time"] = self.integer(line, "DEFER time")
            elif kind == "DEBUG":
                options["debug_file"] = self.word(line, "DEBUG file")
                options["debug_streams"] = self.word(line, "DEBUG stream").upper()
                if options["debug_streams"] not in ("STDOUT", "STDERR", "ALL"):
                    raise ValueError("DEBUG stream must be STDOUT, STDERR or ALL")
            else:
                raise ValueError(f"unexpected '{kind}' (expected PRE or POST)")
        nodes, command = self.targets(line), line.lexer.rest()
        if not command:
            raise ValueError("no script given")
        if kind == "HOLD":
            print(f"dagrunner: {line.file}, line {line.number}: HOLD script ignored", flush=True)
            return
        for node in nodes:
            setattr(node, kind.lower(), Script(kind, command, **options))

    def pre_skip(self, line: Line):
        nodes, code = self.targets(line), self.integer(line, "exit code")
        for node in nodes:
            node.pre_skip = code

    def abort_dag_on(self, line: Line):
        nodes, value = self.targets(line, final_ok=False), self.integer(line, "exit value")
        returned = None
        if line.lexer.peek():
            if self.word(line, "RETURN").upper() != "RETURN":
                raise ValueError("expected RETURN")
            returned = self.integer(line, "RETURN value")
            if not 0 <= returned <= 255:
                raise ValueError("RETURN value must be between 0 and 255")
        for node in nodes:
            node.abort_on, node.abort_return = value, returned

    def category(self, line: Line):
        nodes, name = self.targets(line, final_ok=False), self.word(line, "category")
        for node in nodes:
            node.category = name

    def maxjobs(self, line: Line):
        name, limit = self.word(line, "category"), self.integer(line, "MAXJOBS limit")
        if limit < 0:
            raise ValueError("negative MAXJOBS limit")
        self.dag.maxjobs[name] = limit

    def done(self, line: Line):
        self.lookup(line, self.word(line, "node name"), final_ok=False).status = DONE


# --------------------------------------------------------------------------- submit files

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


@dataclasses.dataclass
class Transfer:
    """HTCondor's file transfer: the job runs in a scratch directory of its own, its
    inputs copied in (a path ending in / sends a folder's contents), its outputs
    copied back to the submit directory (renamed by transfer_output_remaps)."""
    inputs: list
    outputs: list
    remaps: dict
    executable: bool               # transfer_executable (default true)


def submit_value(sub: htcondor2.Submit, key: str) -> str:
    """A submit command, macros expanded ('' when unset or empty)."""
    try:
        return sub.expand(key).strip()
    except KeyError:
        return ""


def load_submit(node: Node, run: DagRun) -> htcondor2.Submit:
    """The node's submit description, read as DAGMan's direct submission reads it."""
    path = os.path.join(node.dir, node.submit)
    with open(path) as f:
        text = f.read()
    macros = [("JOB", node.name), ("RETRY", str(node.retry)),
              ("DAG_STATUS", str(run.status)), ("FAILED_COUNT", str(len(run.failed)))]
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


def job_spec(node: Node, run: DagRun) -> JobSpec:
    """What to run for the node's job, from its submit file."""
    sub = load_submit(node, run)
    if sub.getQArgs().strip() not in ("", "1"):
        raise SubmitError(f"'queue {sub.getQArgs()}': only one job per node is supported")
    iwd = os.path.normpath(os.path.join(node.dir, submit_value(sub, "initialdir")
                                        or submit_value(sub, "initial_dir")))
    executable = submit_value(sub, "executable")
    if not executable:
        raise SubmitError("no executable in the submit file")
    executable = os.path.normpath(os.path.join(node.dir, executable))
    if not os.path.isfile(executable):
        raise SubmitError(f"executable {executable} does not exist")
    cpus = request_cpus(submit_value(sub, "request_cpus") or "1")
    files = {key: submit_value(sub, key) for key in ("input", "output", "error", "log")}
    files = {key: os.path.normpath(os.path.join(iwd, v)) if v else None for key, v in files.items()}
    return JobSpec([executable, *split_arguments(submit_value(sub, "arguments"))], iwd,
                   job_environment(sub, cpus), cpus, **files,
                   memory=request_memory(submit_value(sub, "request_memory")),
                   transfer=file_transfer(sub))


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


def request_cpus(text: str) -> int:
    try:
        cpus = int(text)
    except ValueError:
        raise SubmitError(f"request_cpus = {text} is not a number") from None
    if cpus < 0:
        raise SubmitError(f"request_cpus = {text} is negative")
    return cpus


def request_memory(text: str) -> int:
    """request_memory in MB, as condor_submit reads a size (default unit MB)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", text, re.IGNORECASE)
    if not m:
        return 0
    scale = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 ** 2}[m.group(2).upper()]
    return int(float(m.group(1)) * scale + 0.999)


def unquote_v2(text: str) -> str:
    """The inside of a new-syntax value: outer double quotes removed, "" made "."""
    m = re.fullmatch(r'\s*"((?:[^"]|"")*)"\s*', text)
    if not m:
        raise SubmitError(f"bad double quotes in {text!r}")
    return m.group(1).replace('""', '"')


V2_WORD = r"(?:[^ \t\r\n']|'(?:[^']|'')*')+"


def split_v2(text: str) -> list[str]:
    """New-syntax words: white space separates, '...' groups, '' in a group is '."""
    if not re.fullmatch(rf"[ \t\r\n]*(?:{V2_WORD}[ \t\r\n]*)*", text):
        raise SubmitError(f"unbalanced single quote in {text!r}")
    unquote = functools.partial(re.sub, r"'((?:[^']|'')*)'", lambda m: m.group(1).replace("''", "'"))
    return [unquote(word) for word in re.findall(V2_WORD, text)]


def split_arguments(text: str) -> list[str]:
    """argv of an `arguments` value, by condor_submit's rules (condor_arglist.cpp)."""
    if text.lstrip().startswith('"'):
        return split_v2(unquote_v2(text))
    if re.search(r'(?<!\\)"', text):
        raise SubmitError(f"unescaped double quote in old-syntax arguments {text!r}")
    return [word for word in re.split(r"[ \t\r\n]+", text.replace('\\"', '"')) if word]


def parse_environment(text: str) -> dict:
    """The variables of an `environment` value (new syntax in double quotes, or old syntax)."""
    if text.lstrip().startswith('"'):
        entries = split_v2(unquote_v2(text))
    else:
        delimiter = text[0] if text and text[0] in ENV_V1_DELIMITERS else ";"
        text = text[1:] if text.startswith(delimiter) else text
        entries = [e.lstrip(" \t\r\n") for e in re.split(f"[{re.escape(delimiter)}\n]", text)]
    env = {}
    for entry in filter(None, entries):
        name, equals, value = entry.partition("=")
        if not name or not equals:
            raise SubmitError(f"bad environment entry {entry!r}")
        env[name] = value
    return env


def getenv_variables(text: str) -> dict:
    """The runner's variables that `getenv` (true/false or a match list) passes to the job."""
    if text.lower() in ("", "false", "0"):
        return {}
    if text.lower() in ("true", "1"):
        return dict(os.environ)
    patterns = [p.lower() for p in re.split(r"[\s,;]+", text) if p]
    accept = [p for p in patterns if not p.startswith("!")] or ["*"]
    reject = [p[1:] for p in patterns if p.startswith("!")]
    matches = lambda name, pats: any(fnmatch.fnmatchcase(name.lower(), p) for p in pats)
    return {k: v for k, v in os.environ.items() if matches(k, accept) and not matches(k, reject)}


def job_environment(sub: htcondor2.Submit, cpus: int) -> dict:
    env = getenv_variables(submit_value(sub, "getenv"))
    env.update(parse_environment(submit_value(sub, "environment") or submit_value(sub, "env")))
    for name in KEEP_ENV:
        if name in os.environ:
            env.setdefault(name, os.environ[name])
    for name in THREAD_ENV:
        env.setdefault(name, str(max(cpus, 1)))
    return env


def user_log(path: str | None, cluster: int, head: str, *body: str):
    """Append one event to a job's `log` file in HTCondor's user-log format.

    `head` is the event number and its title ("000 Job submitted from host: ..."),
    `body` its indented lines; htcondor2.JobEventLog (and condor_q/condor_wait)
    read the file as they read a schedd's.
    """
    if path:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        code, title = head.split(" ", 1)
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with open(path, "a") as f:
            f.write(f"{code} ({cluster:03d}.000.000) {stamp} {title}\n"
                    + "".join(f"{line}\n" for line in body) + "...\n")


def usage_lines(rc: int, usage, spec: JobSpec, wall: float) -> list[str]:
    """The body of a terminated event (005): exit, CPU times, peak memory."""
    cpu = f"Usr {hms(usage.ru_utime)}, Sys {hms(usage.ru_stime)}" if usage else "Usr 0 00:00:00, Sys 0 00:00:00"
    zero = "Usr 0 00:00:00, Sys 0 00:00:00"
    how = ([f"\t(1) Normal termination (return value {rc})"] if rc >= 0 else
           [f"\t(0) Abnormal termination (signal {-rc})", "\t(0) No core file"])
    lines = [*how, f"\t\t{cpu}  -  Run Remote Usage", f"\t\t{zero}  -  Run Local Usage",
             f"\t\t{cpu}  -  Total Remote Usage", f"\t\t{zero}  -  Total Local Usage",
             *(f"\t0  -  {what}" for what in ("Run Bytes Sent By Job", "Run Bytes Received By Job",
                                            "Total Bytes Sent By Job", "Total Bytes Received By Job"))]
    if usage:
        used = (usage.ru_utime + usage.ru_stime) / max(wall, 1e-3)
        memory = (usage.ru_maxrss + 1023) // 1024          # kB to MB, as HTCondor rounds
        lines += ["\tPartitionable Resources :    Usage  Request Allocated",
                  f"\t   Cpus                 : {used:8.2f} {spec.cpus:8d} {spec.cpus:9d}",
                  f"\t   Memory (MB)          : {memory:8d} {spec.memory:8d} {spec.memory:9d}"]
    return lines


def hms(seconds: float) -> str:
    """CPU time as the user log writes it: days hh:mm:ss."""
    s = int(round(seconds))
    return f"{s // 86400} {s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def send_inputs(name: str, spec: JobSpec) -> str:
    """A fresh scratch directory holding the job's transfer_input_files (and executable)."""
    scratch = tempfile.mkdtemp(prefix=f"dagrunner-{name}.")
    sources = spec.transfer.inputs + ([spec.argv[0]] if spec.transfer.executable else [])
    for item in sources:
        source = os.path.join(spec.cwd, item)
        if item.endswith("/"):        # the folder's contents
            shutil.copytree(source, scratch, dirs_exist_ok=True, symlinks=True)
        elif os.path.isdir(source):
            shutil.copytree(source, os.path.join(scratch, os.path.basename(item)), symlinks=True)
        else:
            shutil.copy2(source, scratch)
    return scratch


def fetch_outputs(spec: JobSpec, scratch: str) -> str:
    """Copy the job's outputs back (remapped); the first missing one's name, else ''."""
    try:
        for name in spec.transfer.outputs:
            source = os.path.join(scratch, name)
            if not os.path.lexists(source):
                return name
            target = os.path.join(spec.cwd, spec.transfer.remaps.get(name, name))
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.move(source, target)
        return ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def open_output(path: str | None, files: contextlib.ExitStack):
    if not path:
        return subprocess.DEVNULL
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return files.enter_context(open(path, "wb"))


# --------------------------------------------------------------------------- helpers

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


def warn(text: str):
    print(f"dagrunner: {text}", file=sys.stderr, flush=True)


def terminate(processes: list[subprocess.Popen]):
    """Kill processes and their children: SIGTERM, then SIGKILL after a grace time."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in processes:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, sig)
        deadline = time.monotonic() + KILL_GRACE
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            time.sleep(POLL)


# --------------------------------------------------------------------------- execution

@dataclasses.dataclass(eq=False)
class Process:
    popen: subprocess.Popen
    owner: DagRun
    on_exit: object
    cpus: int
    job: bool
    usage: object = None           # resource.struct_rusage once it has exited


def exited(p: Process) -> bool:
    """Reap the process if it has exited, keeping its resource usage (wait4)."""
    if p.popen.returncode is not None:
        return True
    try:
        pid, status, usage = os.wait4(p.popen.pid, os.WNOHANG)
    except ChildProcessError:            # reaped elsewhere: fall back on Popen
        return p.popen.poll() is not None
    if pid == 0:
        return False
    p.popen.returncode, p.usage = os.waitstatus_to_exitcode(status), usage
    return True


class Scheduler:
    """One event loop and one core budget, shared by a DAG and all its sub-DAGs."""

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
            if item in self.waiting and self.fits(node) and run.may_start(node):
                self.waiting.remove(item)   # (an abort during a launch may have removed it)
                run.launch(node)
                started = True
        return started

    def reap(self) -> bool:
        ended = [p for p in self.processes if exited(p)]
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


class DagRun:
    """The execution of one DAG (the top-level one or a sub-DAG) with DAGMan's rules."""

    def __init__(self, dag: Dag, scheduler: Scheduler, label: str = "",
                 parent: DagRun | None = None, on_exit=None):
        self.dag, self.scheduler, self.label = dag, scheduler, label
        self.parent, self.on_exit = parent, on_exit
        self.status = DAG_OK
        self.counts = collections.Counter(n.status for n in dag.all_nodes())
        self.running = collections.Counter()       # running jobs per category
        self.failed: list[Node] = []
        self.aborted = self.final_started = self.finished = False
        self.exit_code: int | None = None
        self.rescue_file: str | None = None

    # ---- bookkeeping
    def set(self, node: Node, status: str):
        self.counts[node.status] -= 1
        node.status = status
        self.counts[status] += 1

    def active(self) -> int:
        return sum(self.counts[s] for s in ACTIVE)

    def event(self, node: Node, text: str):
        print(f"{now()} {self.label}{node.name}: {text}", flush=True)

    def tree(self) -> list[DagRun]:
        """This run and the sub-DAG runs below it."""
        subruns = [n.subrun for n in self.dag.nodes.values()
                   if n.status == RUNNING and n.subrun and not n.subrun.finished]
        return [self, *(run for sub in subruns for run in sub.tree())]

    # ---- progress of the DAG
    def start(self):
        self.scheduler.runs.append(self)
        done = self.counts[DONE]
        print(f"dagrunner: {self.dag.shown}: {plural(len(self.dag.all_nodes()), 'node')}"
              + (f", {done} done per {shown(self.dag.rescue)}" if self.dag.rescue else ""), flush=True)
        for node in self.dag.nodes.values():
            if node.status == WAITING and all(p.status == DONE for p in node.parents):
                self.start_node(node)
        self.check()

    def check(self):
        """Once nothing is running: FINAL node, rescue file and exit, as DAGMan does."""
        if self.finished or self.active():
            return
        if self.final_started:
            return self.finish(self.final_verdict())
        if self.counts[DONE] == len(self.dag.nodes):
            return self.shutdown(0)
        if not self.failed:
            self.status = DAG_ERROR
            warn(f"{self.dag.shown}: nodes left that can never run (a cycle?)")
        self.shutdown(1)

    def shutdown(self, exit_code: int):
        """DAGMan's main_shutdown_rescue: rescue file if failing, then the FINAL node."""
        if exit_code != 0:
            self.write_rescue()
        final = self.dag.final
        if final is None:
            return self.finish(exit_code)
        self.final_started = True
        self.event(final, f"FINAL node starting (DAG_STATUS={self.status})")
        self.start_node(final)

    def final_verdict(self) -> int:
        """The FINAL node's success overrides everything (dag.cpp DoneSuccess)."""
        if self.dag.final.status == DONE or (self.aborted and self.status == DAG_OK):
            return 0
        self.write_rescue()
        return 1

    def finish(self, exit_code: int):
        self.finished, self.exit_code = True, exit_code
        self.scheduler.runs.remove(self)
        if exit_code == 0:
            print(f"dagrunner: {self.dag.shown}: DAG succeeded", flush=True)
        else:
            warn(f"{self.dag.shown}: DAG failed (exit status {exit_code})")
        if self.on_exit:
            self.scheduler.soon(self.parent, self.on_exit, exit_code)

    def abort(self, node: Node, rc: int, completed: bool):
        """ABORT-DAG-ON matched: kill everything, then rescue, FINAL node and exit."""
        returned = rc if node.abort_return is None else node.abort_return
        if rc:
            self.set(node, FAILED)
            self.failed.append(node)
            warn(self.failure_message(node))
        elif completed:   # (after a successful PRE script the node is not done yet)
            self.set(node, DONE)
        self.aborted = True
        self.status = DAG_OK if node.abort_return == 0 else DAG_ABORTED
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
            if node.status in ACTIVE:
                if node.status == RUNNING and node.spec:
                    user_log(node.spec.log, node.cluster, "009 Job was aborted.",
                             "\tkilled by dagrunner (DAG aborted or interrupted)")
                self.event(node, "stopped (killed or removed from the queue)")
                self.set(node, WAITING)
        self.running.clear()

    def write_rescue(self):
        """A partial rescue DAG in DAGMan's format (dag.cpp WriteRescue): DONE lines."""
        if self.rescue_file is None:
            number = min(rescue_number(self.dag.path) + 1, MAX_RESCUE)
            self.rescue_file = f"{self.dag.path}.rescue{number:03d}"
        nodes, stamp = self.dag.all_nodes(), datetime.datetime.now(datetime.timezone.utc)
        done = [n for n in self.dag.nodes.values() if n.status == DONE]
        with open(self.rescue_file, "w") as f:
            f.write(f"# Rescue DAG file, created after running\n#   the {self.dag.shown} DAG file\n"
                    f"# Created {stamp.month}/{stamp.day}/{stamp.year} {stamp:%H:%M:%S} UTC\n"
                    f"# Rescue DAG version: 2.1.0 (partial), written by dagrunner\n#\n"
                    f"# Total number of Nodes: {len(nodes)}\n# Nodes premarked DONE: {len(done)}\n"
                    f"# Nodes that failed: {len(self.failed)}\n"
                    f"#   {''.join(n.name + ',' for n in self.failed)}<ENDLIST>\n\n")
            f.writelines(f"DONE {n.name}\n" for n in done)
        warn(f"rescue file {shown(self.rescue_file)} written ({plural(len(done), 'node')} done)")

    # ---- one node: PRE script, job, POST script
    def start_node(self, node: Node):
        node.pre_rc, node.job_rc, node.stage, node.submit_error = -1, None, "", ""
        self.set(node, PRE)
        if node.pre:
            self.run_script(node, node.pre, self.pre_exited)
        else:
            self.submit(node)

    def pre_exited(self, node: Node, rc: int):
        node.pre_rc = rc
        self.event(node, f"PRE script exited ({describe(rc)})")
        skip = rc != 0 and rc == node.pre_skip
        rc, node.stage = (0, "") if skip else (rc, "PRE")
        if self.abort_on(node, rc, completed=False):
            return
        if skip:
            self.event(node, "PRE_SKIP: job and POST script skipped")
            self.node_done(node)
        elif rc:
            self.attempt_failed(node, rc)
        else:
            self.submit(node)

    def submit(self, node: Node):
        """Submit the job: it then waits in the queue for cores."""
        self.set(node, QUEUED)
        if node.noop:
            self.event(node, "NOOP: job not run")
            return self.scheduler.soon(self, self.job_done, node, 0)
        try:
            self.prepare(node)
        except (SubmitError, OSError) as e:
            return self.submit_failed(node, str(e))
        node.cluster = self.scheduler.cluster()
        if node.spec:
            user_log(node.spec.log, node.cluster, f"000 Job submitted from host: {HOST}",
                     f"    DAG Node: {node.name}")
        self.event(node, f"job submitted (request_cpus={node.cpus})" if node.spec else "sub-DAG submitted")
        self.scheduler.waiting.append((self, node))

    def prepare(self, node: Node):
        if node.subdag:
            node.spec, node.cpus = None, 0
            if not os.path.isfile(os.path.join(node.dir, node.submit)):
                raise SubmitError(f"sub-DAG file {shown(os.path.join(node.dir, node.submit))} does not exist")
        else:
            node.spec = job_spec(node, self)
            node.cpus = node.spec.cpus

    def may_start(self, node: Node) -> bool:
        limit = self.dag.maxjobs.get(node.category)
        return limit is None or self.running[node.category] < limit

    def launch(self, node: Node):
        """Start the job of a node that got its cores."""
        self.set(node, RUNNING)
        self.running[node.category] += 1
        try:
            self.launch_subdag(node) if node.subdag else self.launch_job(node)
        except OSError as e:
            self.running[node.category] -= 1
            self.submit_failed(node, f"cannot start {node.spec.argv[0]}: {e}")

    def launch_job(self, node: Node):
        spec = node.spec
        argv, cwd, env = spec.argv, spec.cwd, spec.env
        if spec.transfer:
            node.scratch = send_inputs(node.name, spec)
            argv = [os.path.join(node.scratch, os.path.basename(argv[0])) if spec.transfer.executable
                    else argv[0], *argv[1:]]
            cwd, env = node.scratch, {**env, "_CONDOR_SCRATCH_DIR": node.scratch}
        with contextlib.ExitStack() as files:
            stdin = files.enter_context(open(spec.input, "rb")) if spec.input else subprocess.DEVNULL
            stdout = open_output(spec.output, files)
            stderr = stdout if spec.error == spec.output else open_output(spec.error, files)
            p = self.scheduler.spawn(self, argv, functools.partial(self.job_exited, node),
                                     cpus=node.cpus, job=True, cwd=cwd, env=env,
                                     stdin=stdin, stdout=stdout, stderr=stderr)
        node.started = time.monotonic()
        user_log(spec.log, node.cluster, f"001 Job executing on host: {HOST}",
                 f"\tSlotName: dagrunner@{socket.gethostname()}")
        self.event(node, f"job started (pid {p.pid}, {node.cpus} cpus)")

    def launch_subdag(self, node: Node):
        try:
            dag = parse_dag(node.submit, node.dir)
        except (DagError, OSError, ValueError) as e:
            warn(f"error: {e}")
            return self.scheduler.soon(self, self.job_exited, node, 1)
        node.subrun = DagRun(dag, self.scheduler, f"{self.label}{node.name}/", self,
                             functools.partial(self.job_exited, node))
        self.event(node, f"sub-DAG {dag.shown} started")
        node.subrun.start()

    def job_exited(self, node: Node, rc: int, usage=None):
        self.running[node.category] -= 1
        if node.scratch:
            missing = fetch_outputs(node.spec, node.scratch)
            node.scratch = ""
            if missing:   # HTCondor would hold the job; here it fails
                warn(f"node '{self.label}{node.name}': output file {missing} was not written by the job")
                rc = rc or 1
        if node.spec:
            lines = usage_lines(rc, usage, node.spec, time.monotonic() - node.started)
            user_log(node.spec.log, node.cluster, "005 Job terminated.", *lines)
        self.event(node, f"{'sub-DAG' if node.subdag else 'job'} exited ({describe(rc)})")
        self.job_done(node, rc)

    def submit_failed(self, node: Node, message: str):
        """No submit retries here: like DAGMan's last failed attempt (retries cancelled)."""
        warn(f"node '{self.label}{node.name}': job submission failed: {message}")
        node.poisoned, node.submit_error = True, message
        self.job_done(node, SUBMIT_FAILED)

    def job_done(self, node: Node, rc: int):
        node.job_rc = rc
        if node.post:
            self.set(node, POST)
            self.run_script(node, node.post, self.post_exited)
        else:
            node.stage = "job"
            self.attempt_done(node, rc)

    def post_exited(self, node: Node, rc: int):
        self.event(node, f"POST script exited ({describe(rc)})")
        node.stage = "POST"
        self.attempt_done(node, rc)

    def abort_on(self, node: Node, rc: int, completed: bool = True) -> bool:
        if node.abort_on is not None and rc == node.abort_on:
            node.rc = rc
            self.abort(node, rc, completed)
            return True
        return False

    def attempt_done(self, node: Node, rc: int):
        if self.abort_on(node, rc):
            return
        if rc == 0:
            self.node_done(node)
        else:
            self.attempt_failed(node, rc)

    def attempt_failed(self, node: Node, rc: int):
        node.rc = rc
        if node.retry < node.retries and rc != node.unless_exit and not node.poisoned:
            node.retry += 1
            self.event(node, f"failed ({describe(rc)}), retry {node.retry} of {node.retries}")
            self.start_node(node)
        else:
            self.node_failed(node)

    def node_done(self, node: Node):
        self.set(node, DONE)
        self.event(node, "node succeeded")
        for child in node.children:
            if child.status == WAITING and all(p.status == DONE for p in child.parents):
                self.start_node(child)
        self.check()

    def node_failed(self, node: Node):
        self.set(node, FAILED)
        self.failed.append(node)
        self.status = DAG_NODE_FAILED if self.status == DAG_OK else self.status
        self.event(node, "node FAILED")
        warn(self.failure_message(node))
        self.check()

    def failure_message(self, node: Node) -> str:
        attempts = f"after {plural(node.retry + 1, 'attempt')}"
        if node.stage == "PRE":
            what, where = f"PRE script failed with {describe(node.rc)}", "job not run"
            if node.pre.debug_file:
                where += f"; its output: {shown(os.path.join(node.dir, node.pre.debug_file))}"
        elif node.submit_error:
            what, where = "could not be submitted", node.submit_error
        elif node.stage == "POST":
            what = f"POST script failed with {describe(node.rc)} (job: {describe(node.job_rc)})"
            where = self.stderr_note(node)
        else:
            what, where = f"failed with {describe(node.rc)}", self.stderr_note(node)
        return f"node '{self.label}{node.name}' {what} {attempts} ({where})"

    def stderr_note(self, node: Node) -> str:
        if node.subdag:
            return f"sub-DAG: {shown(os.path.join(node.dir, node.submit))}"
        if node.noop or not node.spec:
            return "no job output"
        return f"stderr: {shown(node.spec.error)}" if node.spec.error else "stderr not kept: no 'error' file"

    # ---- PRE and POST scripts
    def script_argv(self, node: Node, script: Script) -> list[str]:
        """The script's words, with DAGMan's $ macros replaced (script.cpp)."""
        macros = {"$JOB": node.name, "$NODE": node.name, "$RETRY": str(node.retry),
                  "$MAX_RETRIES": str(node.retries), "$DAG_STATUS": str(self.status),
                  "$FAILED_COUNT": str(len(self.failed))}
        if script.kind == "POST":
            macros.update({"$RETURN": str(node.job_rc), "$PRE_SCRIPT_RETURN": str(node.pre_rc),
                           "$JOBID": f"{node.cluster}.0"})
        return [macros.get(word.upper(), word) for word in re.split(r"[ \t]+", script.command) if word]

    def run_script(self, node: Node, script: Script, then):
        argv = self.script_argv(node, script)
        self.event(node, f"{script.kind} script started: {' '.join(argv)}")
        capture = tempfile.TemporaryFile() if script.debug_file else None
        streams = {"stdout": capture if script.debug_streams in ("STDOUT", "ALL") else subprocess.DEVNULL,
                   "stderr": capture if script.debug_streams in ("STDERR", "ALL") else subprocess.DEVNULL}
        exited = functools.partial(self.script_exited, node, script, then, capture, argv)
        try:
            self.scheduler.spawn(self, [os.path.join(node.dir, argv[0]), *argv[1:]], exited,
                                 cwd=node.dir, stdin=subprocess.DEVNULL, **(streams if capture else {}))
        except OSError as e:
            warn(f"node '{self.label}{node.name}': cannot run {script.kind} script {argv[0]}: {e}")
            self.scheduler.soon(self, exited, 1)   # DAGMan: a script that cannot start exits 1

    def script_exited(self, node: Node, script: Script, then, capture, argv: list, rc: int):
        if capture:
            self.write_debug(node, script, capture, argv, rc)
        if script.defer_status is not None and rc == script.defer_status:
            self.event(node, f"{script.kind} script deferred for {script.defer_time} s")
            return self.scheduler.later(self, script.defer_time, self.run_script, node, script, then)
        then(node, rc)

    def write_debug(self, node: Node, script: Script, capture, argv: list, rc: int):
        capture.seek(0)
        status = f"Signal={-rc}" if rc < 0 else f"ExitCode={rc}"
        with capture, open(os.path.join(node.dir, script.debug_file), "ab") as f:
            f.write(f"*** Node={node.name} Type={script.kind} {status} Completion={int(time.time())} "
                    f"Cmd='{' '.join(argv)}'\n".encode())
            f.write(capture.read())


def run_dag(dagfile: str, cores: int | None = None) -> int:
    """Run a DAG file (relative to the current directory) as condor_submit_dag would.

    Returns the DAG's exit status: 0 on success, 1 on failure, or the
    ABORT-DAG-ON value.  Raises DagError if the DAG file cannot be parsed.
    """
    scheduler = Scheduler(max(1, cores or os.cpu_count() or 1))
    dag = parse_dag(dagfile, os.getcwd())
    with lock_file(f"{dag.path}.lock", dag.shown):
        return scheduler.run(DagRun(dag, scheduler))


@contextlib.contextmanager
def lock_file(path: str, shown_dag: str):
    """<dag>.lock while the DAG runs, as condor_dagman keeps one: refuse a second run."""
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


def interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run an HTCondor DAGMan DAG on this machine.")
    parser.add_argument("dagfile", help="the DAG file, as given to condor_submit_dag")
    parser.add_argument("--cores", type=int, default=None,
                        help="cores to share between the jobs (default: all of this machine's)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, interrupted)   # like Ctrl-C: kill the jobs, write rescue files
    try:
        return run_dag(args.dagfile, args.cores)
    except (DagError, OSError) as e:
        warn(f"error: {e}")
    except KeyboardInterrupt:
        pass
    return 1


if __name__ == "__main__":
    sys.exit(main())
