"""condor_submit's value syntax: arguments, environment, getenv, request sizes.

Plain text in, Python values out; no HTCondor bindings (docs/dagrunner.md).
"""
from __future__ import annotations

import fnmatch
import functools
import os
import re

ENV_V1_DELIMITERS = "!#$%&*+,-/:;<>?@^`|~\x1f"
V2_WORD = r"(?:[^ \t\r\n']|'(?:[^']|'')*')+"


class SubmitError(Exception):
    """A node job that condor_submit would refuse."""


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
    matches = lambda name, pats: any(fnmatch.fnmatchcase(name.lower(), p) for p in pats)  # noqa: E731
    return {k: v for k, v in os.environ.items() if matches(k, accept) and not matches(k, reject)}
