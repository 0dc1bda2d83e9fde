"""Check that the run can start, and that what finished still fits; write resources.

    prepareRun.py [--before-dag] [--pool]

Run by `make run`, `make submit` and `make cfs` before they hand the DAG over
(--before-dag), and as the PRE script of the DAG's first node.  Stops before
any job with a clear message (and parameters.INPUT_EXIT) if params/imaging.py is
invalid, a value does not fit the MS (checks.py), a job would need more memory
than where it runs (this machine, or with --pool, or under condor_dagman, the
pool's largest slot), CASA's imager cannot define the image, or products/
holds products made from other inputs than these parameters and this MS (the
identities of identity.py): an edit of the minor cycle's or the restoring's
parameters only (niter, threshold, mask, pbcor, ...) continues the run from its
first minor cycle, whose products and the DAG's run files are then removed;
any other edit, or another MS at `vis`, is refused, naming what changed.
(The CF cache is the DAG's own stage, CFs, with its own record.)  Records the
parameters and the identities in products/params.json, the image's coordinate
system (the imager's on the whole MS, which MSpartition then need not make
again) in products/coordsys.pickle, and writes
products/resources/<kind>.htc, the request_* commands each job kind's .htc
file includes.
"""
import glob
import os
import shutil
import sys
import tempfile

from dagengine.lock import holder_alive
from imaging import casaenv  # noqa: F401  (before synthesis: the offline CASA set-up)
from imaging import (cfcache, checks, identity, parameters, products, resources, startmodel,
                     synthesis, transfer)

RESOURCES = "products/resources"
RECORD = products.PARAMS_RECORD
TOP_DAG = os.path.join("dag", "condor_imaging.dag")
# Stages an edit may change while the run continues (from its first minor cycle).
CONTINUABLE = ("deconvolution", "restore")


def main(*flags):
    """--before-dag: run by make before the DAG; --pool: the jobs will run on a pool
    (`make submit`, or under condor_dagman), not on this machine (`make run`): their
    memory is checked against its slots."""
    pool = "--pool" in flags or "_CONDOR_DAGMAN_LOG" in os.environ   # (DAGMan's scripts
    try:                                                              # inherit it)
        params, requests, csys = checked(pool)
        reconcile(params, "--before-dag" in flags)
    except (parameters.ParameterError, RuntimeError) as e:
        print(f"prepareRun: {e}", file=sys.stderr)
        sys.exit(parameters.INPUT_EXIT)
    products.write_json(RECORD, params)
    products.write_coordsys(csys, params)      # (MSpartition's, made once: 2.5 s on 400 MB)
    for kind, requests in requests.items():
        products.write_text_atomic(resources_path(kind), resources_htc(kind, requests, params))
    if transfer.enabled(params):
        transfer.pack_code()
    print(f"prepareRun: parameters valid; wrote {RESOURCES}/")


def checked(pool):
    """The parameters with their identity, the jobs' requests and the image's
    coordinates, each checked; a ParameterError or RuntimeError names what is wrong."""
    params = parameters.load()
    parameters.check_selection(params)     # (first: a wrong spw is named as such, not as
    checks.check_ms(params)                # a shared CF cache made for another spw)
    params["identity"] = identity.of_run(params, identity.ms_content(params["vis"]))
    requests = job_requests(params)
    if notice := checks.check_memory(params, requests, pool):
        print(f"prepareRun: {notice}")
    csys = check_image(params)
    check_shared_cfcache(params)
    return params, requests, csys


def check_image(params):
    """The image CASA's imager defines on the whole MS (the coordinate system every
    job images with; 0.15 s on the test MS): what CASA rejects that checks.py does
    not foresee is refused here, in CASA's words, before any job; then the mask is
    read on it.  Returns it (getcsys' record) for products/coordsys.pickle."""
    scratch = tempfile.mkdtemp(prefix="prepareRun-", dir=".")
    try:
        csys = synthesis.image_coordinates(params, os.path.join(scratch, "image"))
    except RuntimeError as e:
        raise parameters.ParameterError(f"CASA cannot define the image: {' '.join(str(e).split())}")
    finally:
        shutil.rmtree(scratch)
    checks.check_mask(params, csys["coordsys"])
    if startmodel.enabled(params):
        startmodel.check_image(params, csys["coordsys"])
    return csys


def reconcile(params, before_dag):
    """products/ may be continued only where it was made from these inputs."""
    recorded = (products.read_json(RECORD) or {}).get("identity")
    if recorded is None:
        return refuse_unrecorded()
    changed = identity.changed_stages(recorded, params["identity"])
    if not changed:
        return
    what = "; ".join(identity.what_changed(recorded, params["identity"]))
    stale = made_in(changed)
    if stale and changed[0] not in CONTINUABLE:
        raise RuntimeError(
            f"products/ was made from other inputs: {what} changed, which changes the "
            f"{changed[0]} stage's products and all after them: run `make clean` first (the CF "
            "cache is kept while it fits), or image in a new run directory (`make newrun`)")
    if before_dag and dag_running():
        raise RuntimeError(f"{what} changed while a DAG runs in this directory "
                           f"({TOP_DAG}.lock): let it finish or stop it, then run again")
    remove(stale, before_dag)
    print(f"prepareRun: {what} changed" + (f": the run continues from its {changed[0]} stage "
                                            "(earlier products are kept)" if stale else ""))


# Each stage's products (globs under products/), to be made again when its inputs change.
STAGE_PRODUCTS = {
    "ms": (),
    "partition": ("partitions.json", "subms", "transfer/subms"),
    "gridding": ("psf", "parts/psf", "startmodel", "cycle0",
                 "parts/cycle0", "weights", "parts/weights"),
    "deconvolution": ("minor[0-9]*", "cycle[1-9]*", "parts/cycle[1-9]*", "majorCycles*",
                      "parts/model", "savemodel", "modelColumn.dag"),
    "restore": ("final",),
}


def made_in(stages):
    """The existing products of these stages."""
    return [path for stage in stages for pattern in STAGE_PRODUCTS[stage]
            for path in sorted(glob.glob(os.path.join(products.PRODUCTS, pattern)))]


def refuse_unrecorded():
    """Products without a record of their inputs (a run of an earlier version)."""
    if made_in(identity.STAGES):
        raise RuntimeError("products/ holds products without a record of the inputs they "
                           "were made from: run `make clean` first")


def dag_running():
    lock = f"{TOP_DAG}.lock"
    return os.path.exists(lock) and holder_alive(lock)


def remove(stale, before_dag):
    """Remove stale products (the final images are kept as products/final.previous)
    and the DAGs' run files, which would mark their nodes done (as the DAG's own PRE
    script, its files are in use: then only the sub-DAGs')."""
    final = products.stage_dir("final")
    run_files = glob.glob(os.path.join(products.PRODUCTS, "*.dag.*"))
    if before_dag:
        run_files += [p for p in glob.glob(f"{TOP_DAG}.*") if not p.endswith(".lock")]
    if stale:      # (each product is sent as a tar made once: those of stale ones go too)
        run_files += glob.glob(os.path.join(transfer.ROOT, "products", "*.tar"))
    for path in stale + run_files:
        if path == final:
            products.publish_dir(final, final + ".previous")
        elif os.path.exists(path):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def check_shared_cfcache(params):
    """A CF cache outside this run directory (another run's, `make newrun`) is used
    as it is, never made again here: that would change the other run's cache."""
    cf = params["cfcache"]
    inside = cf and not os.path.relpath(os.path.abspath(cf)).startswith(os.pardir + os.sep)
    if not cf or inside or cfcache.status(params) != cfcache.Status.STALE:
        return
    changed = ", ".join(cfcache.differences(params))
    raise RuntimeError(f"cfcache = {cf!r} was made for other values of {changed} and is "
                       "outside this run directory (shared with another run): set cfcache to a "
                       f"path in this run, e.g. 'cfcache/{os.path.basename(params['imagename'])}.cf', to "
                       "make one for these values")


def resources_path(kind):
    return os.path.join(RESOURCES, f"{kind}.htc")


def job_requests(params):
    """Job kind -> HTCondor request_* values: resources.py's, then `jobresources`."""
    return {kind: {**computed, **params["jobresources"].get(kind, {})}
            for kind, computed in resources.requests(params).items()}


def resources_htc(kind, requests, params):
    """The request_* submit commands of one job kind; without a shared filesystem,
    those of its file transfer (or local universe) too."""
    lines = [f"# {kind} jobs: written by scripts/prepareRun.py (imaging/resources.py, `jobresources`, "
             "sharedfs in params/imaging.py); do not edit."]
    lines += [f"{key} = {value}" for key, value in requests.items()]
    if transfer.enabled(params):
        lines += ["# sharedfs = False (scripts/imaging/transfer.py)"] + transfer.submit_lines(kind)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main(*sys.argv[1:])
