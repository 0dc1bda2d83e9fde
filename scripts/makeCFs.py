"""makeCFs: the convolution-function cache for the whole MS, in three steps.

    makeCFs.py dry       the empty cache with its metadata (drygridding, as tclean),
                         a plan sharing its CFs between fill jobs, and the sub-DAG
                         products/cfFill.dag with one fill job per share
    makeCFs.py fill K    fill job K: a fresh copy of the empty cache, its share filled
    makeCFs.py merge     every share merged into one cache, checked, moved into place

dag/cfs.dag runs the steps (`make cfs`, and the imaging DAG's node CFs).
CASA fills a cache serially because parallel fills into one folder race
(tclean(parallel=True): "randomly has race condition about table.dat not
available"); here every fill job has a folder of its own, and the merge
copies whole CF folders.  Each step does nothing when the cache is up to date
for these parameters or the gridder needs none; a cache made for other
parameters, or left incomplete, is made again.  Steps that finished are kept
when the DAG is run again.
"""
import os
import shutil
import sys

import dagutils
from imaging import cfcache, identity, parameters, products, synthesis, transfer
from imaging.cfcache import Status
from imaging.modes import CFStep


def main(mode, k=None):
    params = dagutils.load_params()
    step(params, mode, k)
    if mode == CFStep.MERGE and transfer.enabled(params) and params["partitionby"] == "time":
        transfer.pack_cfcache(params)   # sharedfs = False: the cache as the gridding jobs are
                                        # sent it (with SPW groups, each its SPWs': stageIn)


def step(params, mode, k):
    state = cfcache.status(params)
    if state in (Status.UNUSED, Status.OK):
        if mode == CFStep.DRY:
            products.write_text_atomic(products.CFFILL, dagutils.cf_fill_dag(0))
        if mode == CFStep.MERGE and state == Status.OK:   # made by another run since our dry step
            shutil.rmtree(cfcache.build_dir(params), ignore_errors=True)
        print(f"makeCFs {mode}: " + (f"gridder={params['gridder']!r} needs no CF cache"
                                     if state == Status.UNUSED else f"{params['cfcache']} is up to date"))
        return
    identity.require_ms(params)      # (the steps below read the MS)
    if mode == CFStep.DRY:
        dry(params, state)
    elif mode == CFStep.FILL:
        fill(params, int(k))
    else:
        merge(params)


def dry(params, state):
    if state != Status.MISSING:
        print(f"makeCFs dry: making {params['cfcache']} again: it is {state}"
              + (f" (changed: {cfcache.differences(params)})" if state == Status.STALE else ""))
    plan = products.read_json(cfcache.plan_path(params))
    if plan is None or plan["shaping"] != cfcache.shaping(params):
        plan = make_dry(params)
        products.write_json(cfcache.plan_path(params), plan)
    products.write_text_atomic(products.CFFILL, dagutils.cf_fill_dag(len(plan["shares"])))
    print(f"makeCFs dry: {sum(map(len, plan['shares']))} CFs for {len(plan['shares'])} fill jobs")


def make_dry(params):
    build = products.fresh_dir(cfcache.build_dir(params))
    with products.building(cfcache.dry_dir(params)) as work:
        cfs = synthesis.dry_cfcache(params, work, os.path.join(build, "scratch", "cf"))
        shutil.rmtree(os.path.join(build, "scratch"))
    njobs = min(len(cfs), params["cfjobs"] or os.cpu_count() or 1)
    return {"shaping": cfcache.shaping(params),
            "shares": [cfcache.share(cfs, njobs, k) for k in range(1, njobs + 1)]}


def fill(params, k):
    final = cfcache.fill_dir(params, k)
    if os.path.isdir(final):
        print(f"makeCFs fill {k}: {final} exists from an earlier try; kept")
        return
    cfs = products.read_json(cfcache.plan_path(params))["shares"][k - 1]
    with products.building(final) as work:    # a CF filled twice fails: start from the dry one
        shutil.copytree(cfcache.dry_dir(params), work, dirs_exist_ok=True)
        synthesis.fill_cfcache(params, work, cfs)
        missed = [n for n in cfcache.empty_cfs(work) if n.removeprefix("WT") in cfs]
        if missed:
            sys.exit(f"makeCFs fill {k}: CASA left {', '.join(missed)} empty in {work}")
    print(f"makeCFs fill {k}: filled {len(cfs)} CFs: {' '.join(cfs)}")


def merge(params):
    plan = products.read_json(cfcache.plan_path(params))
    merged = cfcache.merge(params, plan["shares"])
    empty = cfcache.empty_cfs(merged)
    if empty:
        sys.exit(f"makeCFs merge: {len(empty)} CFs are not filled ({', '.join(empty[:4])} ...) in "
                 f"{merged}; the cache is not put in place")
    if why := cfcache.too_small_grid(params, merged):
        raise parameters.ParameterError(why)       # (INPUT_EXIT: not retried)
    final = os.path.normpath(params["cfcache"])
    with cfcache.locked(params):
        if cfcache.status(params) == Status.OK:      # another run sharing the cache made it meanwhile
            shutil.rmtree(merged)
            print(f"makeCFs merge: {final} was made meanwhile by another run; kept")
        else:
            if os.path.exists(cfcache.recorded_path(params)):
                os.remove(cfcache.recorded_path(params))
            products.publish_dir(merged, final)
            products.write_json(cfcache.recorded_path(params), cfcache.shaping(params))
            print(f"makeCFs merge: wrote {final}: {len(cfcache.cf_names(final))} CFs, all filled")
    shutil.rmtree(cfcache.build_dir(params))


if __name__ == "__main__":
    dagutils.run_stage("makeCFs", main, *sys.argv[1:])
