"""The CF cache of a run: which parameters shape it, whether it is usable, where it is built.

A finished cache is a folder of CASA CF images plus, beside it,
`<cfcache>.json` recording the parameters that shaped it.  It is built in a
folder of this run's own (`<cfcache>.build-<run>`: the dry cache and one
copy per fill job, so that no two CASA processes ever open one folder while
one of them writes it), merged, checked and renamed into place, so a cache
folder that exists is whole; the record is written last.  Several runs may
share a cache by its path.
"""
import contextlib
import enum
import fcntl
import hashlib
import json
import math
import os
import shutil

from imaging import casa, parameters

# tclean parameters that change the convolution functions (and, in place of the MS's
# path, what of its content does: CF_MS_CONTENT of identity.ms_content).
CF_PARAMETERS = ("field", "spw", "imsize", "cell", "phasecenter", "stokes",
                 "projection", "specmode", "reffreq", "gridder", "wprojplanes",
                 "aterm", "psterm", "wbawp", "conjbeams", "computepastep",
                 "rotatepastep", "usepointing", "pointingoffsetsigdev")
CF_MS_CONTENT = ("telescope", "spectral windows", "polarizations", "antennas", "fields",
                 "data descriptions", "first and last times")
PADDING = 1.2           # the gridders' padding of the image (CASA's default; tclean has no knob)
EMPTY_CF_BYTES = 32     # table.f0_TSM0 of a CF that drygridding made and nobody filled


class Status(enum.StrEnum):
    """A run's CF cache (status)."""
    UNUSED = "unused"            # the gridder needs none
    MISSING = "missing"          # no cache, or no record of its parameters
    STALE = "stale"              # made for other parameters
    INCOMPLETE = "incomplete"    # has CFs nobody filled
    OK = "ok"


def recorded_path(params):
    return os.path.normpath(params["cfcache"]) + ".json"


def shaping(params):
    """The parameters, the MS's content (not its path: an MS replaced at the same path
    by another observation is another MS) and CASA's version that shape this run's CFs."""
    from imaging import casaenv  # noqa: F401
    import casatools
    values = {k: params[k] for k in CF_PARAMETERS}
    content = ms_content(params)
    values.update({f"the MS's {k}": content[k] for k in CF_MS_CONTENT})
    values["casatools"] = casatools.version_string()
    return json.loads(json.dumps(values))


def ms_content(params):
    """The MS's content as prepareRun recorded it (identity.py), else read now."""
    if "identity" in params:
        return params["identity"]["ms"]["ms"]
    from imaging import identity
    return identity.ms_content(params["vis"])


def status(params):
    """The cache's Status for these parameters."""
    if not params["cfcache"]:
        return Status.UNUSED
    if not (os.path.isdir(params["cfcache"]) and os.path.isfile(recorded_path(params))):
        return Status.MISSING
    with open(recorded_path(params)) as f:
        if json.load(f) != shaping(params):
            return Status.STALE
    return Status.INCOMPLETE if empty_cfs(params["cfcache"]) else Status.OK


def differences(params):
    """Parameters whose values differ from those the cache was made with."""
    with open(recorded_path(params)) as f:
        recorded = json.load(f)
    now = shaping(params)
    return {k: (recorded.get(k), now[k]) for k in now if recorded.get(k) != now[k]}


def cf_names(folder):
    """The CFs of a cache ('CFS_*'; each fills its 'WTCFS_*' partner too)."""
    return sorted(f for f in os.listdir(folder) if f.startswith("CFS_"))


def empty_cfs(folder):
    """CF images (CFS_* and WTCFS_*) still as drygridding left them: not filled."""
    names = [n for cf in cf_names(folder) for n in (cf, "WT" + cf)]
    if not names:
        return ["(no CFS_* entries at all)"]
    return [n for n in names
            if not os.path.isfile(data := os.path.join(folder, n, "table.f0_TSM0"))
            or os.path.getsize(data) <= EMPTY_CF_BYTES]


def too_small_grid(params, folder):
    """Why no visibility can be gridded with this cache's CFs on this image's grid, or ''.

    A CF spans Xsupport uv cells either side of a visibility, and the gridder drops a
    visibility whose CF leaves the grid (imsize x PADDING cells): with 2 x support + 1
    cells or fewer nothing is gridded, the PSF is blank and CASA aborts.  The support in
    uv cells grows with the field of view (imsize x cell), so at a given field of view
    only more, smaller pixels help.
    """
    from imaging import casaenv  # noqa: F401
    from casatools import image
    support = 0
    with casa.using(image()) as ia:
        for name in cf_names(folder):
            with casa.opened(ia, os.path.join(folder, name)):
                misc = ia.miscinfo()
            support = max(support, misc.get("Xsupport", 0), misc.get("Ysupport", 0))
    imsize = parameters.as_list(params["imsize"])
    grid = int(min(imsize) * PADDING)
    if 2 * support + 1 < grid:
        return ""
    needed = math.ceil((2 * support + 2) / PADDING / 2) * 2
    return (f"imsize = {params['imsize']} is too small for the CF support: the CFs span "
            f"{support} uv cells either side of a visibility, more than the {grid}-cell "
            f"grid (imsize x padding {PADDING}) holds, so no visibility can be "
            "gridded.  The support grows with the field of view (imsize x cell): keep that "
            f"and use at least {needed} pixels across, e.g. imsize = [{needed}, {needed}] "
            f"with a cell {needed / min(imsize):.3g} times smaller than {params['cell']!r}")


def share(cfs, njobs, k):
    """The CFs fill job k (1..njobs) fills: every njobs-th, starting at the k-th."""
    return cfs[k - 1::njobs]


# ---------------------------------------------------------------- where it is built
def build_dir(params, rundir=None):
    """This run's own work folder beside the cache (runs sharing a cache do not meet)."""
    run = hashlib.sha1((rundir or os.getcwd()).encode()).hexdigest()[:8]
    return f"{os.path.normpath(params['cfcache'])}.build-{run}"


def plan_path(params):
    """The dry step's plan: the CFs of each fill job, and the parameters it was made for."""
    return os.path.join(build_dir(params), "plan.json")


def dry_dir(params):
    return os.path.join(build_dir(params), "dry")


def fill_dir(params, k):
    return os.path.join(build_dir(params), f"fill{k}")


@contextlib.contextmanager
def locked(params):
    """An exclusive lock on <cfcache>.lock while a cache is put in place."""
    with open(os.path.normpath(params["cfcache"]) + ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def merge(params, plan):
    """The dry cache with every fill job's CFs: a whole cache in a scratch folder."""
    merged = build_dir(params) + ".merged"
    shutil.rmtree(merged, ignore_errors=True)
    shutil.copytree(dry_dir(params), merged)
    for k, cfs in enumerate(plan, start=1):
        for name in (n for cf in cfs for n in (cf, "WT" + cf)):
            shutil.rmtree(os.path.join(merged, name))
            shutil.copytree(os.path.join(fill_dir(params, k), name), os.path.join(merged, name))
    return merged


def leftovers(rundir="."):
    """This run's half-built caches (`make clean` removes them): the build folders
    beside the cache named in the run's params/imaging.py, read without CASA."""
    given = parameters.read_assignments(os.path.join(rundir, parameters.DEFAULT_FILE))
    name = given.get("cfcache") or given.get("imagename", "") + ".cf"
    build = build_dir({"cfcache": os.path.join(rundir, name)}, os.path.abspath(rundir))
    return [p for p in (build, build + ".merged") if os.path.exists(p)]


if __name__ == "__main__":     # python -m imaging.cfcache clean: used by `make clean`
    for folder in leftovers():
        shutil.rmtree(folder)
        print(f"removed the half-built CF cache {folder}")
