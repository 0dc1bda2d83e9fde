"""The DAG-file language: lines, INCLUDE files and commands, read into a Dag (docs/dagrunner.md)."""
from __future__ import annotations

import dataclasses
import os
import re

from dagengine import rescue
from dagengine.messages import notice
from dagengine.nodes import Dag, DebugStreams, Node, NodeState, Script, Stage

NODE_COMMANDS = ("JOB", "SUBDAG", "FINAL")
IGNORED = ("CONFIG", "DOT", "NODE_STATUS_FILE", "JOBSTATE_LOG", "PRIORITY")
UNSUPPORTED = ("SPLICE", "SUBMIT_DESCRIPTION", "WEAK", "SERVICE", "PROVISIONER", "TOLERANCE",
               "SAVE_POINT_FILE", "SET_JOB_ATTR", "ENV", "REJECT", "CONNECT", "PIN_IN", "PIN_OUT")
RESERVED = ("PARENT", "CHILD", "ALL_NODES")
VARS_KEY = re.compile(r"[ \t\r]*([^ \t\r=\"']+)[ \t\r]*=[ \t\r]*")   # key = (before a VARS value)


class DagError(Exception):
    """A DAG file that cannot be parsed (the message names the file and line), or a DAG
    that cannot be run (already running)."""


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
        included = included_file(line)
        if included is None:
            lines.append(line)
        else:
            lines += read_commands(os.path.join(cwd, included), included, cwd,
                                   seen | {os.path.realpath(path)})
    return lines


def included_file(line: Line) -> str | None:
    """Read the line's keyword; the file named if it is an INCLUDE line, else None."""
    try:
        line.keyword = line.lexer.next().upper().replace("-", "_")
        name = line.lexer.next(trim=True) if line.keyword == "INCLUDE" else ""
        extra = line.lexer.next() if name else ""
    except ValueError as e:
        raise line.error(str(e)) from None
    if line.keyword != "INCLUDE":
        return None
    if not name or extra:
        raise line.error("INCLUDE takes one file name")
    return name


def parse_dag(path: str, cwd: str) -> Dag:
    """Read a DAG file (path relative to cwd) and apply its newest rescue file."""
    dag = Dag(os.path.normpath(os.path.join(cwd, path)), path, cwd)
    lines = read_commands(dag.path, path, cwd)
    dag.rescue = rescue.newest(dag.path)
    if dag.rescue:
        lines += read_commands(dag.rescue, path + dag.rescue[len(dag.path):], cwd)
    parser = Parser(dag)
    for line in lines:   # nodes first, then the other commands in order (DAGMan's two passes)
        if line.keyword in NODE_COMMANDS:
            parser.parse(line)
    for line in lines:
        if line.keyword not in NODE_COMMANDS:
            parser.parse(line)
    return dag


class Parser:
    """Applies DAG commands to a Dag: one method a command."""

    HANDLERS = {"JOB": "node", "SUBDAG": "node", "FINAL": "node", "PARENT": "parent",
                "VARS": "vars", "RETRY": "retry", "SCRIPT": "script", "PRE_SKIP": "pre_skip",
                "ABORT_DAG_ON": "abort_dag_on", "CATEGORY": "category", "MAXJOBS": "maxjobs",
                "DONE": "done"}

    def __init__(self, dag: Dag):
        self.dag = dag

    def parse(self, line: Line):
        if line.keyword in IGNORED:
            line.lexer.rest()
            notice(f"{line.file}, line {line.number}: {line.keyword} ignored")
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

    # ---- words of a line
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

    # ---- the commands
    def node(self, line: Line):
        if line.keyword == "SUBDAG" and self.word(line, "EXTERNAL").upper() != "EXTERNAL":
            raise ValueError("SUBDAG must be followed by EXTERNAL")
        name = self.word(line, "node name")
        if name.upper() in RESERVED or "+" in name:
            raise ValueError(f"'{name}' cannot be a node name")
        node = Node(name, self.word(line, "submit file", trim=True), self.dag.cwd,
                    subdag=line.keyword == "SUBDAG", final=line.keyword == "FINAL")
        self.node_options(line, node)
        self.add(node)

    def add(self, node: Node):
        if node.name in self.dag.nodes or (self.dag.final and self.dag.final.name == node.name):
            raise ValueError(f"node '{node.name}' is defined twice")
        if node.final and self.dag.final:
            raise ValueError("a DAG can have only one FINAL node")
        if node.final:
            self.dag.final = node
        else:
            self.dag.nodes[node.name] = node

    def node_options(self, line: Line, node: Node):
        while word := line.lexer.next():
            if word.upper() == "NOOP":
                node.noop = True
            elif word.upper() == "DONE" and not node.final:
                node.status = NodeState.DONE
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
        kind, options = self.script_options(line)
        nodes, command = self.targets(line), line.lexer.rest()
        if not command:
            raise ValueError("no script given")
        if kind == "HOLD":
            notice(f"{line.file}, line {line.number}: HOLD script ignored")
            return
        for node in nodes:
            setattr(node, kind.lower(), Script(Stage(kind), command, **options))

    def script_options(self, line: Line) -> tuple[str, dict]:
        """PRE, POST or HOLD, and the DEFER and DEBUG options before it."""
        options = {}
        while (kind := self.word(line, "PRE or POST").upper()) not in ("PRE", "POST", "HOLD"):
            if kind == "DEFER":
                options["defer_status"] = self.integer(line, "DEFER status")
                options["defer_time"] = self.integer(line, "DEFER time")
            elif kind == "DEBUG":
                options["debug_file"] = self.word(line, "DEBUG file")
                streams = self.word(line, "DEBUG stream").upper()
                if streams not in DebugStreams.__members__:
                    raise ValueError("DEBUG stream must be STDOUT, STDERR or ALL")
                options["debug_streams"] = DebugStreams[streams]
            else:
                raise ValueError(f"unexpected '{kind}' (expected PRE or POST)")
        return kind, options

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
        self.lookup(line, self.word(line, "node name"), final_ok=False).status = NodeState.DONE
