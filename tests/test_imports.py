"""What a job imports, read from the sources (ast) without importing them.

The walk follows every import statement, at module level or inside a function, of a
script and of the project's modules it reaches (scripts/, scripts/imaging,
scripts/dagengine, scripts/tools); other packages (CASA, numpy, matplotlib) are named but
not entered.
"""
import ast

import pytest

from helpers import ROOT

pytestmark = pytest.mark.fast

SCRIPTS = ROOT / "scripts"
BINDINGS = {"htcondor", "htcondor2", "classad", "classad2"}   # HTCondor's Python bindings


def project_file(module):
    """The project's file of a module or package name, or None for any other module."""
    path = SCRIPTS.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def named_imports(path):
    """The modules the import statements of a file name (for `from a import b`, both a and
    a.b: b may be a module)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (the walk reads absolute ones)"
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def imports_of(module):
    """Every module an import of `module` may import: the project's, followed, and the
    others they name (with the packages that hold them)."""
    reached, todo = set(), [module]
    while todo:
        path = project_file(todo.pop())
        if path is None:
            continue
        for name in named_imports(path):
            parts = name.split(".")
            for package in (".".join(parts[:k]) for k in range(1, len(parts) + 1)):
                if package not in reached:
                    reached.add(package)
                    todo.append(package)
    return {name for name in reached if project_file(name) or "." not in name}


def bindings_in(modules):
    return sorted(m for m in modules if m.split(".")[0] in BINDINGS)


def test_a_restore_job_does_not_import_the_htcondor_bindings():
    reached = imports_of("restore")
    assert {"imaging.synthesis", "imaging.plots", "dagutils"} <= reached     # (the walk follows)
    assert bindings_in(reached) == []


def test_the_walk_finds_the_bindings_the_local_dag_engine_imports():
    """The DAG engine reads and writes HTCondor's job log with htcondor2: the walk, from
    `python -m dagengine`, finds that import."""
    assert "htcondor2" in bindings_in(imports_of("dagengine.__main__"))
