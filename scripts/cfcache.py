"""The CF cache of a run: which parameters shape it, and whether it is usable.

A finished cache is a folder of CASA CF images plus, beside it,
`<cfcache>.json` recording the parameters that shaped it.  It is built under
a temporary name and renamed when complete, so a cache folder that exists is
whole.
"""
import json
import os

# tclean parameters that change the convolution functions.
CF_PARAMETERS = ("vis", "field", "spw", "imsize", "cell", "phasecenter", "stokes",
                 "projection", "specmode", "reffreq", "gridder", "wprojplanes",
                 "aterm", "psterm", "wbawp", "conjbeams", "computepastep",
                 "rotatepastep", "usepointing", "pointingoffsetsigdev")


def recorded_path(params):
    return os.path.normpath(params["cfcache"]) + ".json"


def shaping(params):
    """The parameters (and CASA version) that shape this run's CFs."""
    import casaenv  # noqa: F401
    import casatools
    values = {k: params[k] for k in CF_PARAMETERS}
    values["casatools"] = casatools.version_string()
    return json.loads(json.dumps(values))


def status(params):
    """'unused', 'missing', 'stale' (made for other parameters) or 'ok'."""
    if not params["cfcache"]:
        return "unused"
    if not (os.path.isdir(params["cfcache"]) and os.path.isfile(recorded_path(params))):
        return "missing"
    with open(recorded_path(params)) as f:
        return "ok" if json.load(f) == shaping(params) else "stale"


def differences(params):
    """Parameters whose values differ from those the cache was made with."""
    with open(recorded_path(params)) as f:
        recorded = json.load(f)
    now = shaping(params)
    return {k: (recorded.get(k), now[k]) for k in now if recorded.get(k) != now[k]}
