"""What each job kind asks HTCondor for: request_memory and request_disk from the
data and image sizes.  The one place these are computed.

prepareRun.py writes them into products/resources/<kind>.htc before the first
job; `jobresources` in params/imaging.py still overrides any of them.

Memory (MiB): a CASA process (python, casatools, an open MS) plus what the job
holds per image pixel, plus the CF cache for the jobs that grid with it, with
a margin.  The per-pixel figures were measured: the peak resident memory of
every job kind at 256^2, 512^2 and 1024^2 pixels (mtmfs, nterms 2, awproject;
below); the tests and `make bench` check each job's peak against its request.

Disk (KiB): what the job reads and writes, as it would hold it in its scratch
directory if its files were transferred (the sub-MS, the CF cache, the
images); on a shared filesystem this is an upper bound.
"""
import math
import os

from imaging import casa, jobkinds, modelcolumn, parameters, partitioning, products

# Measured peaks (MiB) at 256^2 / 512^2 / 1024^2 pixels, mtmfs with nterms 2, awproject
# (make bench, jobs importing only casatasks' imager helpers):
#   allImagers 177/218/391, deconvolve 161/179/279, restore 212/208/298,
#   addImages 158/157/160, CF fill 1331/1334/1347; MSpartition 159 for 84 240 rows,
#   244-250 for 1 516 320 rows; CF cache 8.0/16.5/47.4 MB, an image plane on disk
#   4.2-4.5 bytes per pixel.  And allImagers at 256^2 by the rows of its sub-MS (make bench,
#   2026-12-06): 181 MB for 42 120 rows, 195 for 379 080, 218 for 758 160, 273 for 1 516 320
#   (64-76 bytes per row beyond 400 000: the imager's visibility iteration).
CASA_MB = 160            # python + casatools + an open MS
RESTORE_MB = 210         # restore also plots the peak residuals (matplotlib)
CF_FILL_MB = 1360        # computing AW CFs: flat in the image size
MARGIN = 1.25            # requested / expected
ROW_BYTES = 64           # MSpartition, per row of the MS (TIME, baseline ids, grouping: 57 measured)
# Resident bytes per image pixel:
GRID_BYTES = 64          # gridding, per gridded Taylor term (2 nterms - 1 for the PSF)
GRID_ROW_BYTES = 80      # gridding, predicting, weighting: per row of the sub-MS read
DECONVOLVE_BYTES = 40    # minor cycle, per PSF Taylor term and scale
RESTORE_BYTES = 10       # restoring, per image plane of the products
ADD_BYTES = 1            # adding sub-images (chunk by chunk), per image plane
DENSITY_BYTES = 16       # weight density jobs (gridded weights and their sum): an estimate;
                         # the weighting tests check it covers their peaks at 256^2
PLANE_BYTES = 4.5        # an image plane on disk (float and tiling)
CF_BYTES = (6e6, 40)     # CF cache: fixed + per pixel (the A-term's uv support grows with nx)


def requests(params):
    """Job kind -> {request_cpus, request_memory, request_disk} (HTCondor's units: MB
    and KB are MiB and KiB).  The MS and CF cache are measured once for all kinds."""
    size = sizes(params)
    return {kind: {"request_cpus": 1,
                   "request_memory": f"{math.ceil(memory_mb(kind, params, size) / 64) * 64}MB",
                   "request_disk": f"{math.ceil(disk_bytes(kind, params, size) / 2**20) * 1024}KB"}
            for kind in jobkinds.NAMES}


def sizes(params):
    """Bytes of the MS, of the largest sub-MS and of the CF cache; the MS's rows; the
    image's pixels."""
    ms = partitioning.folder_bytes(params["vis"])
    cf = params["cfcache"]
    cf_bytes = partitioning.folder_bytes(cf) if cf and os.path.isdir(cf) else estimated_cf_bytes(params)
    return {"ms": ms, "subms": min(ms, parameters.parse_size(params["maxsubmssize"])),
            "nparts": max(1, math.ceil(ms / parameters.parse_size(params["maxsubmssize"]))),
            "cf": cf_bytes, "pixels": pixels(params), "rows": rows(params["vis"])}


def rows(vis):
    from imaging import casaenv  # noqa: F401
    from casatools import table
    with casa.opened(table(), vis, nomodify=True) as tb:
        return tb.nrows()


def pixels(params):
    """Pixels of one image plane (imsize: one number or [nx, ny], as tclean takes it)."""
    nx, *ny = parameters.as_list(params["imsize"])
    return nx * (ny[0] if ny else nx)


def taylor_terms(params):
    return params["nterms"] if params["deconvolver"] == "mtmfs" else 1


def estimated_cf_bytes(params):
    """The CF cache before it exists (for the 4 SPWs and 1 w-plane measured)."""
    if not params["cfcache"]:
        return 0
    return int(CF_BYTES[0] + CF_BYTES[1] * pixels(params))


def planes(params):
    """Image planes of one set of products: PSF and weight (2n-1 each), residual and
    model (n each), sum of weights, primary beam."""
    n = taylor_terms(params)
    return 2 * (2 * n - 1) + 2 * n + 2


def memory_mb(kind, params, size):
    """Expected peak resident memory (MiB) of one job, with the margin; a kind with no
    figures of its own here (a new row in jobkinds.py): a CASA process."""
    n, pixels, mib = taylor_terms(params), size["pixels"], 1 / 2**20
    reading = GRID_ROW_BYTES * subms_rows(size)      # (the jobs that iterate over a sub-MS)
    nscales = len(params["scales"] or [0]) if params["deconvolver"] in ("mtmfs", "multiscale") else 1
    per_job = {
        "makeCFs": CF_FILL_MB if params["cfcache"] else CASA_MB,
        "MSpartition": CASA_MB + ROW_BYTES * size["rows"] * mib,
        "weightDensity": CASA_MB + (DENSITY_BYTES * pixels + reading) * mib,
        "allImagers": CASA_MB + (GRID_BYTES * pixels * (2 * n - 1) + size["cf"] + reading) * mib,
        "addParts": CASA_MB + ADD_BYTES * pixels * planes(params) * mib,   # (as addImages)
        "addImages": CASA_MB + ADD_BYTES * pixels * planes(params) * mib,
        "deconvolve": CASA_MB + DECONVOLVE_BYTES * pixels * (2 * n - 1) * nscales * mib,
        "restore": RESTORE_MB + RESTORE_BYTES * pixels * planes(params) * mib,
        "predictModel": CASA_MB + (GRID_BYTES * pixels * n + size["cf"] + reading) * mib,
        "saveModel": CASA_MB + 3 * modelcolumn.CHUNK_BYTES * mib,
    }.get(kind, CASA_MB)
    return per_job * MARGIN


def subms_rows(size):
    """Rows of the largest sub-MS, as its share of the MS's bytes."""
    return size["rows"] * size["subms"] / size["ms"] if size["ms"] else 0


def disk_bytes(kind, params, size):
    """Scratch disk (bytes) of one job, with the margin; a kind with no figures of its
    own here: one set of images in and one out."""
    images = PLANE_BYTES * size["pixels"] * planes(params)
    return {
        "makeCFs": size["cf"],
        "MSpartition": size["ms"],
        "weightDensity": size["subms"] + 2 * PLANE_BYTES * size["pixels"],
        "allImagers": size["subms"] + size["cf"] + images,
        "addParts": (largest_group(size["nparts"]) + 1) * images,     # (a group and its sum)
        "addImages": (size["nparts"] + 1) * images,   # (cycle 0 reads every sub-MS's PSF)
        "deconvolve": 2 * images,
        "restore": (3 if params["exportfits"] else 2) * images,   # (FITS copies: one set)
        "predictModel": 2 * size["subms"] + size["cf"] + images,   # the sub-MS and a copy
        "saveModel": 0,        # (it writes the MS in place: a new column, then the swap)
    }.get(kind, 2 * images) * MARGIN + 2**20 * 64   # and 64 MB of logs


def largest_group(nparts):
    """Sub-MSes in the largest group an addParts job adds (products.gather_groups)."""
    return max(map(len, products.gather_groups(list(range(nparts))).values()), default=0)
