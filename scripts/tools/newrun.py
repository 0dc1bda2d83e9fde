"""make newrun NAME=DIR: a new run directory for another test run of the same data.

    newrun.py DIR

Copies this run's Makefile, requirements, scripts, submit files, DAG and
parameters into DIR (which must not exist), without products, logs, caches or
DAGMan's files, and appends to DIR/params/imaging.py the absolute paths of
this run's MS and, with a CF gridder, of its CF cache: the new run shares the
cache while its CF parameters match (prepareRun refuses to remake a cache
outside its own run directory).  DIR/.venv links this run's environment, and
DIR/.venv-mpi its parallel-tclean environment when there is one (make mpi-setup).
"""
import os
import shutil
import sys

from imaging import parameters


RUN_FILES = ("Makefile", "requirements.txt", "requirements-mpi.txt", "scripts", "htc", "dag",
             "params")


def copy_run(root, folder, overrides, why="overrides"):
    """A run directory as a user makes one: a copy of root's, overrides appended to
    params/imaging.py (later assignments win)."""
    os.makedirs(folder)
    for name in RUN_FILES:
        src = os.path.join(root, name)
        if os.path.isdir(src):   # (not DAGMan's files beside the DAGs, nor Python's caches)
            shutil.copytree(src, os.path.join(folder, name),
                            ignore=shutil.ignore_patterns("*.dag.*", "__pycache__"))
        else:
            shutil.copy2(src, os.path.join(folder, name))
    with open(os.path.join(folder, "params", "imaging.py"), "a") as f:
        f.write(f"\n# {why}\n")
        f.writelines(f"{k} = {v!r}\n" for k, v in overrides.items())
    return folder


def main(dest):
    if not dest:
        sys.exit("make newrun: give the new run directory: make newrun NAME=../run-robust05")
    if os.path.exists(dest):
        sys.exit(f"make newrun: NAME={dest} exists; give a new directory (nothing was copied)")
    try:
        params = parameters.load()
    except parameters.ParameterError as e:
        sys.exit(f"make newrun: this run's parameters: {e}")
    shared = {"vis": params["vis"]}
    if params["cfcache"]:
        shared["cfcache"] = os.path.abspath(params["cfcache"])
    here = os.getcwd()
    copy_run(here, dest, shared, f"made by `make newrun` from {here}: the same MS "
                      "and CF cache (give cfcache a path of this run's if you change CF parameters)")
    for name in (".venv", ".venv-mpi"):
        venv = os.path.join(here, name)
        if os.path.isdir(venv):
            os.symlink(os.path.realpath(venv), os.path.join(dest, name))
    print(f"make newrun: {dest}: edit {os.path.join(dest, 'params', 'imaging.py')}, then "
          f"`make submit` (or `make run`) there; MS {params['vis']}"
          + (f", CF cache {shared['cfcache']}" if params["cfcache"] else ""))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
