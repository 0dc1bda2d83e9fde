"""PRE script of the first node: check that the run can start, write resources.

Stops the DAG before any job with a clear message (and dagutils.INPUT_EXIT)
if params/imaging.py is invalid, a value does not fit the MS (checks.py), a
job would need more memory than where it runs (this machine, or with --pool
the pool's largest slot), CASA's imager cannot define the image, or products/
holds the products of other parameters (a re-run continues only the same
run).  (The CF cache is the DAG's own stage, CFs.)  Records the parameters in
products/params.json, the image's coordinate system (the imager's on the whole
MS, which MSpartition then need not make again) in products/coordsys.pickle, and writes
products/resources/<kind>.htc, the request_* commands each job kind's .htc
file includes.
"""
import json
import os
import shutil
import sys
import tempfile

import casaenv  # noqa: F401  (before synthesis: the offline CASA set-up)
import cfcache
import checks
import dagutils
import parameters
import resources
import synthesis
import transfer

RESOURCES = "products/resources"
RECORD = dagutils.PARAMS_RECORD
# Parameters that change no product: a re-run may change them.
HARMLESS = {"jobresources"}


def main(pool=False):
    """pool: the jobs will run on a pool (`make submit`, or under condor_dagman), not
    on this machine (`make run`): their memory is checked against its slots."""
    try:
        params = parameters.load()
        check_same_run(params)
        parameters.check_selection(params)     # (first: a wrong spw is named as such, not as
        checks.check_ms(params)                # a shared CF cache made for another spw)
        requests = job_requests(params)
        if notice := checks.check_memory(params, requests, pool):
            print(f"prepareRun: {notice}")
        csys = check_image(params)
        check_shared_cfcache(params)
    except (parameters.ParameterError, RuntimeError) as e:
        print(f"prepareRun: {e}", file=sys.stderr)
        sys.exit(dagutils.INPUT_EXIT)
    dagutils.write_json(RECORD, params)
    dagutils.write_coordsys(csys)              # (MSpartition's, made once: 2.5 s on 400 MB)
    for kind, requests in requests.items():
        dagutils.write_text_atomic(resources_path(kind), resources_htc(kind, requests, params))
    if transfer.enabled(params):
        transfer.pack_code()
    print(f"prepareRun: parameters valid; wrote {RESOURCES}/")


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
    return csys


def check_same_run(params):
    """products/ may only be continued with the parameters that made it."""
    if not os.path.exists(RECORD):
        return
    with open(RECORD) as f:
        recorded = json.load(f)
    now = json.loads(json.dumps(params))
    changed = sorted(k for k in set(now) | set(recorded)
                     if k not in HARMLESS and now.get(k) != recorded.get(k))
    if changed:
        raise RuntimeError(f"products/ was made with other values of {', '.join(changed)}: "
                           "run `make clean` first, or image in a new run directory")


def check_shared_cfcache(params):
    """A CF cache outside this run directory (another run's, `make newrun`) is used
    as it is, never made again here: that would change the other run's cache."""
    cf = params["cfcache"]
    inside = cf and not os.path.relpath(os.path.abspath(cf)).startswith(os.pardir + os.sep)
    if not cf or inside or cfcache.status(params) != "stale":
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
    lines = [f"# {kind} jobs: written by scripts/prepareRun.py (resources.py, `jobresources`, "
             "sharedfs in params/imaging.py); do not edit."]
    lines += [f"{key} = {value}" for key, value in requests.items()]
    if transfer.enabled(params):
        lines += ["# sharedfs = False (scripts/transfer.py)"] + transfer.submit_lines(kind)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    # `make submit` says --pool; condor_dagman's scripts inherit its _CONDOR_DAGMAN_LOG
    main(pool="--pool" in sys.argv[1:] or "_CONDOR_DAGMAN_LOG" in os.environ)
