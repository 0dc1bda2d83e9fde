"""MSpartition: split the MS into sub-MSes no larger than maxsubmssize.

    MSpartition.py

Along time, by groups of spectral windows or both, as partitionby says
(partitioning.plan).  Every row goes to exactly one sub-MS and no integration is
split (an integration is a group of rows whose times lie close together:
partitioning.integrations), nor a spectral window's data of one integration, and
every sub-MS written is at most maxsubmssize on disk (measured; the plan is made
again when the estimate fell short).  Writes the
sub-MSes, the plan products/partitions.json (with the identity of the partition
stage, identity.py), the image coordinates the whole MS defines
(products/coordsys.pickle, for every gridding job; prepareRun makes it first,
when it checks the parameters) and, last, the gridding
sub-DAG products/allImagers.dag.  (The DAGs of the later major cycles are
written when they are due, by nextCycles.py.)  Without a shared filesystem
(sharedfs = False) it also writes each sub-MS as a tar, once, for the jobs to
be sent (transfer.py).  The input MS is only read, and first checked to be the
one the run was prepared for.  Sub-MSes that an earlier try of the same
partition finished are kept; those of another are removed first.
"""
import math
import os
import shutil

import dagutils
from imaging import (identity, parameters, partitioning, products, startmodel, synthesis, timing,
                     transfer)

SUBMS_DIR = os.path.join(products.PRODUCTS, "subms")


def main():
    params = dagutils.load_params()
    vis = params["vis"]
    identity.require_ms(params)
    maxsize = parameters.parse_size(params["maxsubmssize"], "maxsubmssize")
    with timing.timed("ms_layout"):
        layout = partitioning.ms_layout(vis)
    chosen = partitioning.selected_rows(vis, params)
    digest = identity.digest(params, "partition")
    if not same_partition(digest):
        for folder in (SUBMS_DIR, os.path.join(transfer.ROOT, "subms")):
            shutil.rmtree(folder, ignore_errors=True)
    mode = params["partitionby"]
    parts = partition(vis, (mode, params["gridjobs"]), layout, maxsize, chosen,
                      transfer.enabled(params))
    plan = {"vis": vis, "maxsubmssize": maxsize, "partitionby": mode,
            "nrows": sum(layout.counts), "parts": parts, "identity": digest}
    products.write_plan(plan)
    write_coordsys(params)
    density = params["weighting"] in parameters.DENSITY_WEIGHTINGS
    products.write_text_atomic(products.SUBDAG, dagutils.gridding_subdag(
        plan, density=density, transfer=transfer.enabled(params),
        startmodel=startmodel.enabled(params)))
    print(f"MSpartition: {len(parts)} sub-MSes (partitionby = {mode!r}) of at most {maxsize} bytes; "
          f"wrote {products.SUBDAG}")


def same_partition(digest):
    """Whether sub-MSes already on disk were made by the same partition (else they
    are all written again)."""
    old = products.read_json(products.PLAN)
    return old is not None and old.get("identity") == digest


def partition(vis, how, layout, maxsize, chosen, tarred):
    """Plan, write and measure the sub-MSes.  The plan's estimate (sub-tables plus rows
    times bytes per row) misses the tables' fixed costs and the padding of their last
    tiles, which weigh most in small sub-MSes (a sub-MS of the real EVLA MS takes
    1.97 MB for 153 to 459 rows).  While a written sub-MS is larger than maxsize, plan
    again with fewer rows per sub-MS than the smallest one that was too large: each
    round cuts the largest part, so there are at most as many rounds as integrations.
    When even one integration does not fit, no sub-MS is left behind."""
    try:
        return fitting_parts(vis, how, layout, maxsize, chosen, tarred)
    except partitioning.PartitionError:
        shutil.rmtree(SUBMS_DIR, ignore_errors=True)
        raise


def fitting_parts(vis, how, layout, maxsize, chosen, tarred):
    (mode, multiple), max_rows = how, math.inf
    for _ in range(sum(layout.counts)):
        planned = with_selected_rows(partitioning.plan(mode, layout, maxsize, max_rows, multiple),
                                     chosen)
        parts = [make_part(vis, p, k, tarred) for k, p in enumerate(planned, 1)]
        large = sorted((p["nrows"], p["bytes"]) for p in parts if p["bytes"] > maxsize)
        if not large:
            return remove_unplanned(parts)
        max_rows = fewer_rows(*large[0], partitioning.smallest_unit(mode, layout), maxsize, mode)
    raise AssertionError("one row per sub-MS fits, or fewer_rows stopped")


def fewer_rows(nrows, nbytes, largest, maxsize, mode="time"):
    """Rows per sub-MS below those of a written sub-MS that was too large; an error if
    the piece the plan never splits (`largest` rows: partitioning.smallest_unit) would
    not fit any more."""
    if largest > nrows - 1:
        unit = {"time": "one integration", "both": "one integration of one spectral window",
                "spw": "one spectral window"}[mode]
        raise partitioning.PartitionError(
            f"maxsubmssize = {maxsize} bytes is below the smallest possible sub-MS "
            f"(partitionby = {mode!r}): {nbytes} bytes on disk for {nrows} rows ({unit} has "
            f"up to {largest})")
    print(f"MSpartition: a sub-MS of {nrows} rows took {nbytes} bytes, more than "
          f"maxsubmssize; planning again with at most {nrows - 1} rows per sub-MS")
    return nrows - 1


def remove_unplanned(parts):
    """Remove the sub-MSes an earlier plan wrote that this one does not use."""
    planned = {os.path.basename(p["subms"]) for p in parts}
    for name in os.listdir(SUBMS_DIR) if os.path.isdir(SUBMS_DIR) else []:
        if name not in planned:
            shutil.rmtree(os.path.join(SUBMS_DIR, name))
            if os.path.exists(transfer.subms_tar(name)):
                os.remove(transfer.subms_tar(name))
    return parts


def with_selected_rows(planned, chosen):
    """The planned parts (as dicts) holding rows of the data selection (a gridding job
    fails on a sub-MS where the selection finds none); all of them without a selection."""
    planned = [p._asdict() for p in planned]
    kept = [p for p in planned if partitioning.holds_selected(p, chosen)]
    if len(kept) < len(planned):
        print(f"MSpartition: {len(planned) - len(kept)} of {len(planned)} planned sub-MSes "
              "hold no rows of the data selection (field, spw, timerange, ...): not written")
    return kept


def write_coordsys(params):
    """The coordinate system the whole MS defines, which every gridding job images with:
    prepareRun's, if it made it for this run's inputs, else made here."""
    if products.coordsys_digest() == identity.digest(params, "gridding"):
        return
    scratch = products.fresh_dir(os.path.join(products.PRODUCTS, "coordsys.tmp"))
    csys = synthesis.image_coordinates(params, os.path.join(scratch, "image"))
    products.write_coordsys(csys, params)
    shutil.rmtree(scratch)


def make_part(vis, planned, k, tarred):
    out = products.subms_name(vis, k)
    nrows = planned["nrows"]
    part = {"part": products.part_id(k), "subms": out, "time_bounds": list(planned["time_bounds"]),
            "integrations": planned["integrations"], "nrows": nrows}
    if planned["ddids"] is not None:
        part.update(spws=planned["spws"], ddids=planned["ddids"])
    if partitioning.subms_rows(out, part) != nrows:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.exists(transfer.subms_tar(out)):      # the tar of an earlier sub-MS
            os.remove(transfer.subms_tar(out))
        with timing.timed("write_subms"):
            copied = partitioning.write_subms(vis, part, out)
        assert copied == nrows, f"{out}: copied {copied} rows, planned {nrows}"
    part["bytes"] = partitioning.folder_bytes(out)
    if tarred and not os.path.exists(transfer.subms_tar(out)):   # (sharedfs = False)
        with timing.timed("tar_subms"):
            transfer.pack_subms(out)
    return part


if __name__ == "__main__":
    dagutils.run_stage("MSpartition", main)
