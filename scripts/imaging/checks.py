"""Checks of values tclean's schema lets through but CASA rejects later, in a job.

tclean's schema (parameters.check_tclean_schema) types a cell, a threshold or a
phase centre only as "a string" or "a number"; CASA parses them when a job
builds its imager or iteration bot, minutes into the run.  The checks here
parse them as CASA does, with CASA's own parsers (casatools.quanta for
quantities, casatools.measures' frame names for directions, the ms tool's
selection parser for SPW channels), and refuse a bad value with a message
naming the parameter, the value and the form allowed.

    check_values(params)   no MS needed: every quantity parameter the DAG supports
                           (parameters.load calls it)
    check_ms(params)       against the MS: phase centre (a field, or a direction
                           CASA reads), SPW channels, and for
                           gridder='awproject' the telescope name and the
                           frequencies CASA's aperture model knows (prepareRun)
    check_mask(params, csys)  usemask='user': the mask read by CASA's region parser
                           on the image CASA's imager defines (prepareRun)
    check_memory(params, requests, pool)  each job's request_memory against this
                           machine's memory or the pool's largest slot (prepareRun)
"""
import contextlib
import os
import re
import shutil
import subprocess

from imaging import casa
from imaging.parameters import ParameterError, as_list

# What CASA's AW-projection aperture model (EVLAAperture::getVLABandName in CASA's
# C++, synthesis/TransformMachines2/EVLAAperture.cc; not a casadata table: casadata's
# nrao/VLA/responses/AntennaResponses has one 'all VLA bands' row) accepts: band ->
# (lowest, highest frequency in Hz).  Any other frequency aborts the CF jobs ("Don't
# know EVLA band for frequency", then a casacore ArrayError).
AW_BANDS = {
    "EVLA": {"L": (0.9e9, 2e9), "S": (2e9, 4e9), "C": (4e9, 8e9), "X": (8e9, 12e9),
             "U": (12e9, 18e9), "K": (18e9, 26e9), "A": (26e9, 40e9), "Q": (40e9, 50e9)},
    "VLA": {"4": (30e6, 100e6), "L": (0.9e9, 2e9), "C": (4.5e9, 5e9), "X": (8e9, 8.8e9),
            "U": (14.4e9, 15.4e9), "K": (22e9, 24e9), "Q": (40e9, 50e9)},
}
FLUX = ("Jy", "Jy/beam")
ANGLE_FORM = "a number (arcsec) or an angle such as '6arcsec'"
DIRECTION_FORM = ("a field id or name of the MS, or a direction such as "
                  "'J2000 19h59m28.5 +40d44m01.5'")


def quanta():
    """CASA's quanta tool (units and quantities, as CASA's C++ parses them)."""
    from imaging import casaenv  # noqa: F401
    from casatools import quanta as qa
    return qa()


def quantity(value):
    """CASA's reading of a value ({'value', 'unit'}), or None if CASA cannot read it
    (checked with isquantity first: CASA logs a SEVERE error for every bad string)."""
    qa = quanta()
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    text = str(value)
    return qa.quantity(text) if text.strip() and qa.isquantity(text) else None


def conforms(value, units, bare=True):
    """Whether CASA reads value as a quantity in one of units (e.g. 'Jy', 'arcsec');
    a bare number counts when `bare` (tclean then takes its default unit)."""
    q = quantity(value)
    if q is None:
        return False
    if not q["unit"]:
        return bare
    qa = quanta()
    return any(qa.compare(q, qa.quantity(f"1{u}")) for u in units)


def refuse(name, value, why):
    raise ParameterError(f"{name} = {value!r}: {why}")


# ---------------------------------------------------------------- quantities (no MS)
def check_values(params):
    """Every quantity parameter of tclean the DAG uses, read as CASA reads it (the
    phase centres, which may name a field, are check_ms')."""
    check_cell(params["cell"])
    for name in ("threshold", "noise"):
        if not conforms(params[name], FLUX):
            refuse(name, params[name], "not a flux density; give a number (Jy) or a number "
                   "with a unit such as '0.01Jy' or '10mJy'")
    if params["reffreq"] != "" and not conforms(params["reffreq"], ["Hz"], bare=False):
        refuse("reffreq", params["reffreq"], "not a frequency; give '' (the middle of the "
               "selected frequencies) or a frequency with a unit such as '3.0GHz'")
    check_taper(params["uvtaper"])
    check_beam(params["restoringbeam"])
    if params["nsigma"] < 0:
        refuse("nsigma", params["nsigma"], "must be >= 0 (0: no noise-based threshold)")


def check_cell(cell):
    """cell: one or two positive angles (a bare number is arcsec)."""
    cells = as_list(cell)
    if not 1 <= len(cells) <= 2 or not all(
            conforms(c, ["arcsec"]) and quantity(c)["value"] > 0 for c in cells):
        refuse("cell", cell, f"not an angle; give {ANGLE_FORM}, or two of them "
               "['6arcsec', '6arcsec'] for x and y")


def check_taper(taper):
    """uvtaper: up to three strings, major and minor axis (an angle on the sky or a
    uv distance such as '5klambda'; or a bare number) and position angle."""
    terms = [t for t in as_list(taper) if t != ""]
    axes_ok = all(conforms(t, ["arcsec", "lambda"]) for t in terms[:2])
    if len(terms) > 3 or not axes_ok or not all(conforms(t, ["deg"]) for t in terms[2:]):
        refuse("uvtaper", taper, "not a taper; give [] or up to three values: major and "
               "minor axis ('10arcsec' or '5klambda') and position angle ('10deg')")


def check_beam(beam):
    """restoringbeam: '' (the PSF's fit), 'common', or up to three angles."""
    terms = [t for t in as_list(beam) if t != ""]
    if terms == ["common"] or not terms:
        return
    if len(terms) > 3 or not all(conforms(t, ["arcsec"]) for t in terms):
        refuse("restoringbeam", beam, "not a beam; give '', 'common', or up to three angles "
               "such as ['10arcsec', '8arcsec', '30deg'] (major, minor, position angle)")


# ---------------------------------------------------------------- directions
def frames():
    """Direction frames CASA's measures know (J2000, B1950, GALACTIC, ...), and the
    solar-system bodies it can point at (MARS, ...)."""
    from imaging import casaenv  # noqa: F401
    from casatools import measures
    me = measures()
    codes = me.listcodes(me.direction())
    return list(codes["normal"]), list(codes["extra"])


def direction_syntax(name, value):
    """A phase centre that is neither a field (number, or a single word that may name
    one: checked against the MS by check_field) nor a readable direction."""
    if value == "" or isinstance(value, int) or not str(value).split():
        return
    words = str(value).split()
    normal, extra = frames()
    if len(words) == 1 and (words[0].isdigit() or words[0].upper() in extra + ["TRACKFIELD"]):
        return
    if len(words) == 1:
        return                                   # a field name: check_field
    if len(words) == 2 and words[0].upper() in normal:
        refuse(name, value, f"a frame and one angle; give {DIRECTION_FORM}")
    frame, lon, lat = words if len(words) == 3 else ["J2000", *words]
    if frame.upper() not in normal or len(words) > 3:
        refuse(name, value, f"{frame!r} is not a direction frame ({', '.join(normal[:6])}, ...); "
               f"give {DIRECTION_FORM}")
    check_angles(name, value, lon, lat)


def degrees(angle):
    """An angle CASA reads (e.g. '19h59m28.5', '+40.44.01.5', '1.2rad') in degrees."""
    return quanta().convert(quantity(angle), "deg")["value"]


def check_angles(name, value, lon, lat):
    """The longitude within 0 to 24h (0 to 360 deg, or negative to -360), the latitude
    within -90 to +90 deg, each readable as an angle by CASA's quanta."""
    for word in (lon, lat):
        if not conforms(word, ["deg"], bare=False):
            refuse(name, value, f"{word!r} is not an angle; give {DIRECTION_FORM}")
    if not -360 < degrees(lon) < 360:
        refuse(name, value, f"the longitude {lon} is not within 0 to 24h (360 deg); "
               f"give {DIRECTION_FORM}")
    if not -90 <= degrees(lat) <= 90:
        refuse(name, value, f"the latitude {lat} is not within -90 to +90 deg; "
               f"give {DIRECTION_FORM}")


# ---------------------------------------------------------------- against the MS
def check_ms(params):
    """The values that only the MS can tell right or wrong (prepareRun, before any job)."""
    from imaging import casaenv  # noqa: F401
    from casatools import msmetadata
    with casa.opened(msmetadata(), params["vis"]) as md:
        for name in ("phasecenter", "psfphasecenter"):
            check_direction(name, params[name], md.fieldnames())
        spws = check_channels(params)
        if params["gridder"] == "awproject":
            check_aperture(params, md, spws)


def check_direction(name, value, fields):
    """A phase centre: a field of the MS (by name, which may hold spaces, or id), or a
    direction CASA can read."""
    if str(value).strip() not in fields:
        direction_syntax(name, value)
        check_field(name, value, fields)


def check_field(name, value, fields):
    """A phase centre given as a field id (number) or a field name must be in the MS."""
    text = str(value).strip()
    known = ", ".join(f"{i} {f}" for i, f in enumerate(fields))
    if isinstance(value, int) or text.isdigit():
        if not 0 <= int(text) < len(fields):
            refuse(name, value, f"the MS has no field {text} (fields: {known}); "
                   f"give {DIRECTION_FORM}")
    elif (text and len(text.split()) == 1 and text not in fields
          and text.upper() not in frames()[1] + ["TRACKFIELD"]):
        refuse(name, value, f"the MS has no field {text} (fields: {known}) and it is no "
               f"direction; give {DIRECTION_FORM}")


def check_channels(params):
    """The SPWs spw selects (all if none).  CASA's selection parser limits a channel
    range beyond an SPW's channels to the channels it has, with only a warning in
    the log: that warning, caught here, refuses the value."""
    from imaging import casaenv  # noqa: F401
    from casatools import ms
    spw = ",".join(as_list(params["spw"]))
    with casa_log() as log:
        selected = ms().msseltoindex(vis=params["vis"], spw=spw or "*")["spw"].tolist()
    warned = [line.split("\t")[-1] for line in log if "out of range" in line]
    if spw and warned:
        why = warned[0].split(". Limiting")[0]
        refuse("spw", spw, f"{why} in {params['vis']}: give channels the SPW has "
               "(CASA would silently cut the range to them)")
    return selected


@contextlib.contextmanager
def casa_log():
    """The lines CASA's log file gains within the block, in the list the block gets
    once it ends.  (Read from the run's log file as CASA wrote it: pointing CASA's
    global log elsewhere for the block made a later casatasks log call crash.)"""
    from imaging import casaenv  # noqa: F401
    from casatools import logsink
    path, lines = logsink().logfile(), []
    start = os.path.getsize(path) if os.path.exists(path) else 0
    try:
        yield lines
    finally:
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                f.seek(start)
                lines += f.read().splitlines()


def check_aperture(params, md, spws):
    """gridder='awproject': CASA's aperture model knows the bands of the telescope
    names 'EVLA' and 'VLA' (AW_BANDS); a frequency of a selected SPW in no band, or
    'VLA' on EVLA data (S band is no VLA band), aborts every CF fill job."""
    for name in sorted(set(md.observatorynames()) & set(AW_BANDS)):
        bands = AW_BANDS[name]
        for spw in spws:
            outside = [f for f in md.chanfreqs(spw) if not in_band(f, bands)]
            if outside:
                refuse("gridder", params["gridder"], aperture_advice(
                    name, params["vis"], spw, outside[0], bands))


def in_band(freq, bands, tol=1.0):
    """Whether a frequency (Hz) lies in one of the bands (CASA's edges, within 1 Hz)."""
    return any(lo - tol <= freq <= hi + tol for lo, hi in bands.values())


def aperture_advice(name, vis, spw, freq, bands):
    """Why the AW gridder cannot image these data, and what to change."""
    table = ", ".join(f"{b} {lo / 1e9:g}-{hi / 1e9:g}" for b, (lo, hi) in bands.items())
    fix = ("if these are EVLA data, set the telescope name to 'EVLA' (casatasks.vishead(vis, "
           "mode='put', hdkey='telescope', hdvalue='EVLA'))" if name == "VLA" else
           "select SPWs inside them (spw) or image with another gridder ('standard', "
           "'wproject', 'mosaic')")
    where = "the bands CASA's AW-projection knows for the " + name
    return (f"telescope name {name!r} of {vis}: spw {spw} has a channel at {freq / 1e9:.4g} "
            f"GHz, outside {where} ({table} GHz): {fix}")


# ---------------------------------------------------------------- the image's mask
MASK_FORM = ("give a CRTF region such as 'circle[[19h59m28.5s, +40d44m01.5s], 30arcsec]', "
             "a CRTF file or a mask image")


def check_mask(params, csys):
    """usemask='user': each mask, unless a mask image, must be a region CASA's region
    parser reads on the image (csys: the coordinate system CASA's imager defines).
    For one it cannot read tclean only logs a SEVERE error, then cleans nothing (its
    mask is empty: seen with 'circle[[32pix, 32pix], 5pi', model all 0)."""
    if params["usemask"] != "user":
        return
    for mask in (m for m in as_list(params["mask"]) if m and not os.path.isdir(m)):
        try:
            read_region(mask, params, csys)
        except RuntimeError as e:
            why = " ".join(str(e).split()).split(" ... thrown by")[0].removeprefix("Exception: ")
            refuse("mask", params["mask"], f"CASA cannot read {mask!r} as a region ({why}); "
                   f"{MASK_FORM}")


def read_region(mask, params, csys):
    """CASA's reading of a CRTF region (text, or a file of it) on the image's axes."""
    from imaging import casaenv  # noqa: F401
    from casatools import coordsys, regionmanager
    cs = coordsys()
    cs.fromrecord(csys)
    nx, *ny = as_list(params["imsize"])
    shape = [nx, ny[0] if ny else nx, len(cs.stokes()), 1]
    rg = regionmanager()
    with casa_log():                       # (its SEVERE lines: the message says it)
        read = rg.fromtextfile if os.path.isfile(mask) else rg.fromtext
        read(mask, shape, csys)

# ---------------------------------------------------------------- memory
MEMORY_UNITS = {"": 1, "K": 2**-10, "M": 1, "G": 2**10, "T": 2**20}   # HTCondor's: MiB


def memory_mb(request):
    """MiB in an HTCondor request_memory value (a number is MB; units K, M, G, T with
    or without B are binary, as condor_submit reads them); 0 for an expression
    (`jobresources` may give one, e.g. ifThenElse(...)): HTCondor evaluates it."""
    m = re.fullmatch(r"\s*([0-9.]+)\s*([KMGT]?)B?\s*", str(request), re.I)
    return float(m.group(1)) * MEMORY_UNITS[m.group(2).upper()] if m else 0


def check_memory(params, requests, pool=False):
    """Every job kind's request_memory must fit where its jobs will run: this machine
    (`make run`: MemTotal) or the pool's largest slot (`make submit`: condor_status).
    Returns a notice when the pool could not be asked, else ''."""
    limit, where = pool_memory() if pool else local_memory()
    if limit is None:
        return where
    kind, need = max(((k, memory_mb(r["request_memory"])) for k, r in requests.items()),
                     key=lambda kn: kn[1])
    if need > limit:
        overridden = "request_memory" in params["jobresources"].get(kind, {})
        name = "jobresources" if overridden else "imsize"
        refuse(name, params[name], f"the largest job ({kind}) needs {need:.0f} MB of memory "
               f"({'jobresources' if overridden else 'scripts/imaging/resources.py'}), more than "
               f"{where}: {memory_advice(params, overridden, pool, limit)}")
    return ""


def memory_advice(params, overridden, pool, limit):
    """What to change when a job needs more memory than `limit` MiB."""
    if overridden:
        return "ask for less in jobresources, or run where more memory is"
    n = largest_imsize(params, limit)
    fits = f"at most about [{n}, {n}]" if n else "none fits: run where more memory is"
    return (f"give a smaller imsize ({fits}; a larger cell covers the same field with fewer "
            "pixels)" + ("" if pool else ", or submit to a pool with larger slots (make submit)"))


def largest_imsize(params, limit):
    """The largest square imsize whose every job fits in `limit` MiB, by bisection over
    resources.py's memory model (0 if none does)."""
    from imaging import parameters
    from imaging import resources
    size = resources.sizes(params)

    def fits(n):
        p = {**params, "imsize": [n, n]}
        cf = size["cf"] if os.path.isdir(p["cfcache"] or "") else resources.estimated_cf_bytes(p)
        s = {**size, "pixels": n * n, "cf": cf}
        return all(resources.memory_mb(k, p, s) <= limit for k in parameters.job_kinds())
    lo, hi = 0, max(as_list(params["imsize"]))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def local_memory():
    """(MiB, description) of this machine's memory, from /proc/meminfo's MemTotal."""
    with open("/proc/meminfo") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
    return kib / 1024, f"this machine's memory ({kib // 1024} MB, MemTotal)"


def pool_memory():
    """(MiB, description) of the pool's largest slot, as condor_status reports it (a
    partitionable slot's TotalSlotMemory, else Memory); (None, notice) if it cannot
    be asked."""
    if not shutil.which("condor_status"):
        return None, ("cannot ask the pool: condor_status is not on PATH; the jobs' "
                      "request_memory is not checked against its slots")
    proc = subprocess.run(["condor_status", "-af", "TotalSlotMemory", "Memory"],
                          capture_output=True, text=True, timeout=60)
    sizes = [float(w) for w in proc.stdout.split() if re.fullmatch(r"[0-9.]+", w)]
    if proc.returncode != 0 or not sizes:
        return None, (f"cannot ask the pool: condor_status answered {proc.returncode} "
                      f"({proc.stderr.strip()[:200]}); request_memory is not checked")
    return max(sizes), f"the pool's largest slot ({max(sizes):.0f} MB, condor_status)"
