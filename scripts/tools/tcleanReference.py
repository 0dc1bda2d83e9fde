"""Monolithic tclean on the same data with the same parameters: the reference
that the tests and the benchmark (make bench) hold the DAG against.

    tcleanReference.py PARAMFILE VIS IMAGENAME [name=value ...]

The parameters are the assignments of PARAMFILE as a user wrote them (read as
literals, later ones winning), passed straight to CASA's tclean, with vis,
imagename and cfcache (a fresh one beside the images) replaced, and the
decomposition's own parameters left out.  Extra name=value overrides are
Python literals (cfcache among them: then that cache is used).  tclean's
return value (iterations, major cycles, stop code) is written to
IMAGENAME.summary.json.
"""
import ast
import json
import sys

from imaging import casaenv  # noqa: F401
from imaging import parameters


def main(paramfile, vis, imagename, *overrides):
    run_tclean(tclean_arguments(paramfile, vis, imagename, overrides), imagename)


def tclean_arguments(paramfile, vis, imagename, overrides=()):
    """tclean's arguments: PARAMFILE's assignments less the decomposition's own,
    vis, imagename and a fresh cfcache beside the images, then the overrides."""
    args = parameters.read_assignments(paramfile)
    overridden = {}
    for item in overrides:
        name, value = item.split("=", 1)
        overridden[name] = ast.literal_eval(value)
    for name in parameters.DECOMPOSITION:
        args.pop(name, None)
    args.update(vis=vis, imagename=imagename)
    args["cfcache"] = imagename + ".cf"
    args.update(overridden)
    return args


def run_tclean(args, imagename):
    """tclean(**args); its iterations, major cycles and stop code to IMAGENAME.summary.json."""
    from casatasks import tclean
    summary = tclean(**args) or {}
    keep = {k: summary[k] for k in ("iterdone", "nmajordone", "stopcode") if k in summary}
    with open(imagename + ".summary.json", "w") as f:
        json.dump({k: int(v) for k, v in keep.items()}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
