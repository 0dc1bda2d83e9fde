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
import tempfile

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


# ---------------------------------------------------------------- a part's windows only
# With partitionby 'spw' or 'both' a sub-MS holds some spectral windows, and its gridder
# is given a folder of only the CFs it uses, under their own names, beside the record.
# Found by experiment (casatools 6.7.0.31, awproject, wbawp, conjbeams; 2 and 4 SPWs):
# - a CF image names its SPW in its miscinfo, BandName 'SPW<id>' (the MS's SPW id; the
#   _CF_<k>_ of its name is its place among the SPWs drygridding was given), and its
#   frequency is its spectral axis' reference value (the SPW's highest channel);
# - the gridder reads no index or auxiliary file: it lists the CFS_* and WTCFS_* in the
#   folder and, for each channel nu, takes the CF nearest nu and, for the conjugate
#   beam, the CF nearest sqrt(2 reffreq^2 - nu^2) (CASA's conjugate frequency; reffreq:
#   the image's), silently, whatever the folder holds.  4 SPWs with CFs at 2.096,
#   2.596, 3.096, 3.596 GHz, channels 64 MHz below each, reffreq 3 GHz: SPW 0 needs the
#   CFs of SPWs 0 and 3, SPW 1 of 1 and 3, SPW 2 its own, SPW 3 of 0, 1 and 3 (its lower
#   channel's conjugate, 2.3505 GHz, lies nearer 2.596 than 2.096; the miscinfo's
#   ConjFreq, 2.096, is its highest channel's only).  With those CFs each SPW's sub-MS
#   grids to pixels identical to the whole cache's; without SPW 1's, SPW 3's PSF was
#   0.25% off, without the conjugates SPW 0's 3% (its weight 12%).  With conjbeams =
#   False (a cache made for it) SPW 0's and SPW 3's sub-MSes gridded with only their own
#   SPW's CFs gave pixels identical to the whole cache's: no conjugate is looked up.
# So a group's folder holds the CFs nearest each of its channels and (with conjbeams)
# each channel's conjugate frequency, as the whole cache has them (a subset never holds a CF nearer
# than the whole cache's nearest: extra CFs are harmless, a missing one is not).
# SUBSETS holds one folder per SPW group, of symbolic links into the cache, beside a
# copy of its record; without a shared filesystem its tar is sent (transfer.py).
SUBSETS = os.path.join("products", "cfsubsets")
NEAR = 1e-4        # CFs this much (relative) farther than the nearest are taken too:
                   # the channels' frame (TOPO, LSRK) moves them by ~1e-4


def cf_windows(folder):
    """{CF name ('CFS_*'): (its SPW id, frequency)}, from each CF image."""
    from imaging import casaenv  # noqa: F401
    from casatools import image
    windows = {}
    with casa.using(image()) as ia:
        for name in cf_names(folder):
            with casa.opened(ia, os.path.join(folder, name)):
                misc, csys = ia.miscinfo(), ia.coordsys()
                freq = float(csys.referencevalue(type="spectral")["numeric"][0])
                csys.done()
            band = str(misc.get("BandName", ""))
            if not band.startswith("SPW") or not band[3:].isdigit():
                raise parameters.ParameterError(
                    f"{folder}/{name}: its miscinfo names no spectral window (BandName "
                    f"{band!r}, expected 'SPW<id>'): not a CF cache of awproject")
            windows[name] = (int(band[3:]), freq)
    return windows


def needed_windows(windows, channels, spws, reffreq, conjbeams=True):
    """The SPWs whose CFs a part of SPWs `spws` is gridded with: for each channel
    frequency nu of its SPWs (channels: {spw: [Hz]}), those of the CFs (windows:
    cf_windows) nearest nu and, with conjbeams, nearest its conjugate frequency
    sqrt(2 reffreq^2 - nu^2) (every SPW's where that is not real)."""
    freqs = [(freq, spw) for spw, freq in windows.values()]
    cached = {spw for _, spw in freqs}          # (SPWs out of the data selection have none)
    needed = set()
    for nu in (nu for spw in spws if spw in cached for nu in channels[spw]):
        square = 2 * reffreq ** 2 - nu ** 2
        if conjbeams and square <= 0:
            return {spw for _, spw in freqs}
        for target in (nu, math.sqrt(square)) if conjbeams else (nu,):
            nearest = min(abs(f - target) for f, _ in freqs)
            needed |= {spw for f, spw in freqs if abs(f - target) <= nearest + NEAR * target}
    return needed


def channel_freqs(vis):
    """{spw: [channel frequencies, Hz]} of an MS (its SPECTRAL_WINDOW table)."""
    from imaging import casaenv  # noqa: F401
    from casatools import table
    with casa.opened(table(), os.path.join(vis, "SPECTRAL_WINDOW"), nomodify=True) as tb:
        return {spw: [float(f) for f in tb.getcell("CHAN_FREQ", spw)] for spw in range(tb.nrows())}


def reference_frequency(csys):
    """The image's reference frequency, from a coordinate-system record (getcsys)."""
    coords = csys["coordsys"]
    spectral = next(v for k, v in coords.items() if k.startswith("spectral"))
    return float(spectral["wcs"]["crval"])


def group_name(spws):
    return "spw" + "_".join(str(s) for s in spws)


def subset_path(params, spws):
    """Where the CF cache of a group of SPWs is (SUBSETS/<group>/<cache's name>)."""
    name = os.path.basename(os.path.normpath(params["cfcache"]))
    return os.path.join(SUBSETS, group_name(spws), name)


def subset(params, part, reffreq):
    """The CF cache of the part's SPW group: a folder of symbolic links to the CFS_* and
    WTCFS_* its gridder uses (needed_windows) in the run's (whole, checked) cache, and
    its record; made once per group, atomically, kept while the cache's record and path
    are the same.  Nothing is computed."""
    spws = part["spws"]
    final = subset_path(params, spws)
    cache = os.path.abspath(params["cfcache"])
    with open(recorded_path(params)) as f:
        record = f.read()
    group = os.path.dirname(final)
    stale = os.path.exists(group)
    if os.path.isfile(final + ".json") and os.path.islink(final + ".source"):
        with open(final + ".json") as f:
            if f.read() == record and os.readlink(final + ".source") == cache:
                return final
    windows = cf_windows(cache)
    needed = needed_windows(windows, channel_freqs(part["subms"]), spws, reffreq,
                            params["conjbeams"])
    os.makedirs(SUBSETS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=os.path.basename(group) + ".", suffix=".tmp", dir=SUBSETS)
    work = os.path.join(tmp, os.path.basename(final))
    os.makedirs(work)
    for name, (spw, _) in windows.items():
        if spw in needed:
            for n in (name, "WT" + name):
                os.symlink(os.path.join(cache, n), os.path.join(work, n))
    os.symlink(cache, work + ".source")
    with open(work + ".json", "w") as f:
        f.write(record)
    if stale:                     # (made for another cache, or by an interrupted try)
        shutil.rmtree(group, ignore_errors=True)
    try:
        os.rename(tmp, group)
    except OSError:               # another job put the same one in place meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def for_part(params, part, csys, remote=False):
    """The parameters a job on a sub-MS grids with: with a CF cache and a part of some
    SPWs (the plan's `spws`), cfcache names the cache of the CFs that part uses only
    (subset; a remote job was sent it alone, transfer.py); else as they are.  Stops
    unless that cache holds CFs of the part's SPWs."""
    if not params["cfcache"] or part.get("spws") is None:
        return params
    cache = params["cfcache"] if remote else subset(params, part, reference_frequency(csys))
    held = {spw for spw, _ in cf_windows(cache).values()}
    if not set(part["spws"]) & held:
        raise parameters.ParameterError(
            f"the CF cache {cache} of part {part['part']} (SPWs {part['spws']}) holds the "
            f"CFs of SPWs {sorted(held)}: run the DAG again (the CF cache and its subsets "
            "are checked and made again where they do not fit)")
    return {**params, "cfcache": cache}


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
