"""Which inputs shaped each product: the run's identity, stage by stage.

Every product of a run belongs to one stage, and each stage has an identity: a
digest of the parameters that shape it, of the MS's content (never its path),
and of the identities of the stages it is made from:

    ms             the MS's content: SPWs (frequencies, widths), polarizations,
                   antennas and dishes, telescope, fields, rows, time range and a
                   sample of visibilities, flags and weights (ms_content)
    partition      ms + the data selection, maxsubmssize, partitionby, sharedfs: the
                   sub-MSes and their plan
    gridding       partition + every other parameter that is not below, and the
                   pixels of a start model: the coordinate system, weight density,
                   PSF, start model and the first residual (products/psf,
                   parts/psf, startmodel, cycle0, parts/cycle0, weights)
    deconvolution  gridding + the minor cycle's parameters (DECONVOLUTION): every
                   minor cycle and the residuals made from its model
    restore        deconvolution + RESTORE: products/final

(The CF cache carries its own record, cfcache.shaping, with the MS's metadata
in place of its path.)  Parameters in HARMLESS shape no product.  prepareRun
records the identities in products/params.json; every product folder carries
the identity of its stage in identity.json, and every job checks, before it
uses a product, that the product's identity is its run's (`require`).

An edit of the minor cycle's or the restoring's parameters (niter, threshold,
mask, pbcor, ...) continues the run from its first minor cycle; any other edit,
or another MS at `vis`, is refused before any job (`changed_stages`).
"""
import hashlib
import json
import os

from imaging import casa, parameters, startmodel

STAGES = ("ms", "partition", "gridding", "deconvolution", "restore")
HARMLESS = {"jobresources", "cfjobs", "parallel", "verbose", "majorcyclebatch",
            "cfcache",     # (the cache is checked by its own record, cfcache.shaping)
            "savemodel"}   # (only whether the model column's stage runs: saveModelDag.py)
PARTITION = {"maxsubmssize", "partitionby", "gridjobs", "sharedfs", *parameters.SELECTION}
DECONVOLUTION = {
    "niter", "gain", "threshold", "nsigma", "cycleniter", "cyclefactor", "minpsffraction",
    "maxpsffraction", "nmajor", "interactive", "usemask", "mask", "pbmask",
    "sidelobethreshold", "noisethreshold", "lownoisethreshold", "negativethreshold",
    "smoothfactor", "minbeamfrac", "cutthreshold", "growiterations", "dogrowprune",
    "minpercentchange", "fastnoise", "scales", "smallscalebias", "fusedthreshold",
    "largestscale", "restart", "calcres", "calcpsf"}
RESTORE = {"restoration", "restoringbeam", "pbcor", "fullsummary", "exportfits"}
RECORD = "identity.json"
SAMPLE_ROWS = 64          # rows of the main table whose cells are digested
SAMPLE_COLUMNS = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID", "DATA",
                  "CORRECTED_DATA", "FLAG", "FLAG_ROW", "WEIGHT", "WEIGHT_SPECTRUM", "UVW")


class StaleProduct(parameters.ParameterError):
    """A product was made from other inputs than the run's; the message says which.
    (An input error: a job that meets one stops with the message and
    parameters.INPUT_EXIT, and is not retried.)"""


# ---------------------------------------------------------------- the MS's content
def ms_content(vis):
    """What of an MS shapes the images, cheap on a TB-scale MS: its sub-tables, its
    number of rows, the first and last row's times, and the cells of SAMPLE_ROWS rows
    spread over the main table (recalibrated or re-flagged data changes them)."""
    from imaging import casaenv  # noqa: F401
    from casatools import table
    tb = table()
    content = {"telescope": column(tb, vis, "OBSERVATION", "TELESCOPE_NAME"),
               "spectral windows": digest_columns(tb, vis, "SPECTRAL_WINDOW",
                                                  ("CHAN_FREQ", "CHAN_WIDTH", "MEAS_FREQ_REF")),
               "polarizations": digest_columns(tb, vis, "POLARIZATION", ("CORR_TYPE",)),
               "antennas": digest_columns(tb, vis, "ANTENNA",
                                          ("NAME", "POSITION", "DISH_DIAMETER", "MOUNT")),
               "fields": digest_columns(tb, vis, "FIELD", ("NAME", "PHASE_DIR")),
               "data descriptions": digest_columns(tb, vis, "DATA_DESCRIPTION",
                                                   ("SPECTRAL_WINDOW_ID", "POLARIZATION_ID"))}
    content.update(main_table(tb, vis))
    return content


def column(tb, vis, subtable, name):
    with casa.opened(tb, os.path.join(vis, subtable), nomodify=True):
        return sorted(set(tb.getcol(name).tolist())) if tb.nrows() else []


def digest_columns(tb, vis, subtable, names):
    """A short digest of a sub-table's columns (rows, and every cell's value)."""
    with casa.opened(tb, os.path.join(vis, subtable), nomodify=True):
        h = hashlib.sha256(str(tb.nrows()).encode())
        for name in names:
            for row in range(tb.nrows()):
                h.update(repr(cell(tb, name, row)).encode())
        return f"{tb.nrows()} rows, {h.hexdigest()[:16]}"


def main_table(tb, vis):
    with casa.opened(tb, vis, nomodify=True):
        nrows = tb.nrows()
        present = [c for c in SAMPLE_COLUMNS if c in tb.colnames()]
        h = hashlib.sha256(" ".join(present).encode())
        for row in sorted({int(k * (nrows - 1) / (SAMPLE_ROWS - 1)) for k in range(SAMPLE_ROWS)}):
            for name in present:
                h.update(repr(cell(tb, name, row)).encode())
        times = [float(tb.getcell("TIME", r)) for r in (0, nrows - 1)] if nrows else []
        return {"rows": nrows, "first and last times": times, "sampled rows": h.hexdigest()[:16]}


def cell(tb, name, row):
    """A cell's value as plain data, or None where the column holds none in that row."""
    try:
        value = tb.getcell(name, row)
    except RuntimeError:
        return None
    return value.tolist() if hasattr(value, "tolist") else value


# ---------------------------------------------------------------- stage identities
def stage_of(name):
    """The first stage a parameter shapes (None: no product)."""
    if name in HARMLESS:
        return None
    if name == "vis":
        return "ms"
    for stage, names in (("partition", PARTITION), ("deconvolution", DECONVOLUTION),
                         ("restore", RESTORE)):
        if name in names:
            return stage
    return "gridding"


def of_run(params, content):
    """{stage: {"digest", "parameters", "ms"}}: each stage's own inputs and its digest,
    which also covers the stages before it."""
    own = {s: {} for s in STAGES}
    for name, value in params.items():
        if (stage := stage_of(name)) not in (None, "ms"):
            own[stage][name] = value
    if startmodel.enabled(params):          # (its pixels: the path alone may stay the same)
        own["gridding"]["startmodel images"] = startmodel.digest(params)
    out, before = {}, ""
    for stage in STAGES:
        inputs = {"parameters": json.loads(json.dumps(own[stage])),
                  "ms": content if stage == "ms" else None}
        digest = hashlib.sha256((before + json.dumps(inputs, sort_keys=True)).encode())
        out[stage] = {**inputs, "digest": digest.hexdigest()[:16]}
        before = out[stage]["digest"]
    return out


def changed_stages(recorded, now):
    """The stages whose digest differs, in order (a change reaches every later stage)."""
    return [s for s in STAGES if recorded.get(s, {}).get("digest") != now[s]["digest"]]


def what_changed(recorded, now):
    """'niter (1000 -> 2000)', 'the MS's spectral windows' ...: the inputs that differ."""
    out = []
    for stage in STAGES:
        old, new = recorded.get(stage, {}), now[stage]
        params = {**old.get("parameters", {}), **new["parameters"]}
        out += [f"{k} ({old.get('parameters', {}).get(k)!r} -> {new['parameters'].get(k)!r})"
                for k in sorted(params)
                if old.get("parameters", {}).get(k) != new["parameters"].get(k)]
        ms_old, ms_new = old.get("ms") or {}, new["ms"] or {}
        out += [f"the MS's {k}" for k in ms_new if ms_old.get(k) != ms_new.get(k)]
    return out


# ---------------------------------------------------------------- products
def stamp(folder, params, stage):
    """Record in a product folder (before it is published) the stage identity it has."""
    path = os.path.join(folder, RECORD)
    with open(path, "w") as f:
        json.dump({"stage": stage, "digest": digest(params, stage)}, f)


def digest(params, stage):
    return params["identity"][stage]["digest"]


def require(folder, params, stage):
    """Stop unless the product in `folder` was made for this run's inputs (its
    identity.json names this run's identity of `stage`)."""
    path = os.path.join(folder, RECORD)
    found = None
    if os.path.isfile(path):
        with open(path) as f:
            found = json.load(f).get("digest")
    if found != digest(params, stage):
        raise StaleProduct(
            f"{folder} was made from other inputs than this run's ({stage} stage: "
            f"{found or 'no identity record'}, this run: {digest(params, stage)}): the parameters "
            "or the MS changed since; run `make run` or `make submit` again, which checks "
            "what finished and says what to do")


def edited(params, record):
    """The parameters that shape products and differ from the record's: ', '-joined."""
    names = sorted(k for k in set(params) | set(record)
                   if k != "identity" and stage_of(k) is not None
                   and json.loads(json.dumps(params.get(k))) != record.get(k))
    return ", ".join(names)


def require_ms(params):
    """Stop unless the MS at `vis` is still the one the run was prepared with (a job
    that reads the MS itself: MSpartition, the CF cache steps)."""
    recorded, now = params["identity"]["ms"]["ms"], ms_content(params["vis"])
    changed = [k for k in now if recorded.get(k) != now[k]]
    if changed:
        raise StaleProduct(f"vis = {params['vis']!r}: the MS changed since the run was prepared "
                           f"(its {', '.join(changed)}): run `make run` or `make submit` again, "
                           "which checks what finished still fits")
