"""MSpartition: split the MS along time into sub-MSes no larger than maxsubmssize.

    MSpartition.py

Every row goes to exactly one sub-MS and no integration is split (an integration
is a group of rows whose times lie close together: partitioning.integrations), and
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
import bisect
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
    chosen = partitioning.selected_times(vis, params)
    digest = identity.digest(params, "partition")
    if not same_partition(digest):
        for folder in (SUBMS_DIR, os.path.join(transfer.ROOT, "subms")):
            shutil.rmtree(folder, ignore_errors=True)
    parts = partition(vis, layout, maxsize, chosen, transfer.enabled(params))
    plan = {"vis": vis, "maxsubmssize": maxsize, "nrows": sum(layout[1]), "parts": parts,
            "identity": digest}
    products.write_plan(plan)
    write_coordsys(params)
    density = params["weighting"] in parameters.DENSITY_WEIGHTINGS
    products.write_text_atomic(products.SUBDAG, dagutils.gridding_subdag(
        plan, density=density, transfer=transfer.enabled(params),
        startmodel=startmodel.enabled(params)))
    print(f"MSpartition: {len(parts)} sub-MSes of at most {maxsize} bytes; "
          f"wrote {products.SUBDAG}")


def same_partition(digest):
    """Whether sub-MSes already on disk were made by the same partition (else they
    are all written again)."""
    old = products.read_json(products.PLAN)
    return old is not None and old.get("identity") == digest


def partition(vis, layout, maxsize, chosen, tarred):
    """Plan, write and measure the sub-MSes.  The plan's estimate (sub-tables plus rows
    times bytes per row) misses the tables' fixed costs and the padding of their last
    tiles, which weigh most in small sub-MSes (a sub-MS of the real EVLA MS takes
    1.97 MB for 153 to 459 rows).  While a written sub-MS is larger than maxsize, plan
    again with fewer rows per sub-MS than the smallest one that was too large: each
    round cuts the largest part, so there are at most as many rounds as integrations.
    When even one integration does not fit, no sub-MS is left behind."""
    try:
        return fitting_parts(vis, layout, maxsize, chosen, tarred)
    except partitioning.PartitionError:
        shutil.rmtree(SUBMS_DIR, ignore_errors=True)
        raise


def fitting_parts(vis, layout, maxsize, chosen, tarred):
    spans, counts, bytes_per_row, overhead = layout
    max_rows = math.inf
    for _ in range(len(counts)):
        ranges = partitioning.plan_partitions(counts, bytes_per_row, overhead, maxsize, max_rows)
        ranges = with_selected_rows(ranges, spans, chosen)
        parts = [make_part(vis, spans, counts, r, k, tarred) for k, r in enumerate(ranges, 1)]
        large = sorted((p["nrows"], p["bytes"]) for p in parts if p["bytes"] > maxsize)
        if not large:
            return remove_unplanned(parts)
        max_rows = fewer_rows(*large[0], max(counts), maxsize)
    raise AssertionError("one integration per sub-MS fits, or fewer_rows stopped")


def fewer_rows(nrows, nbytes, largest, maxsize):
    """Rows per sub-MS below those of a written sub-MS that was too large; an error if
    one integration (`largest` rows) would not fit any more."""
    if largest > nrows - 1:
        raise partitioning.PartitionError(
            f"maxsubmssize = {maxsize} bytes is below the smallest possible sub-MS: "
            f"{nbytes} bytes on disk for {nrows} rows (one integration has up to {largest})")
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


def with_selected_rows(ranges, spans, chosen):
    """The time ranges holding rows of the data selection (a gridding job fails on a
    sub-MS where the selection finds none); all of them without a selection."""
    if chosen is None:
        return ranges
    kept = [r for r in ranges if holds_any(chosen, spans[r[0]][0], spans[r[1]][1])]
    if len(kept) < len(ranges):
        print(f"MSpartition: {len(ranges) - len(kept)} of {len(ranges)} time ranges hold no "
              "rows of the data selection (field, spw, timerange, ...): not written")
    return kept


def holds_any(sorted_times, first, last):
    """Whether some of the sorted times lie in [first, last]."""
    i = bisect.bisect_left(sorted_times, first)
    return i < len(sorted_times) and sorted_times[i] <= last


def write_coordsys(params):
    """The coordinate system the whole MS defines, which every gridding job images with:
    prepareRun's, if it made it for this run's inputs, else made here."""
    if products.coordsys_digest() == identity.digest(params, "gridding"):
        return
    scratch = products.fresh_dir(os.path.join(products.PRODUCTS, "coordsys.tmp"))
    csys = synthesis.image_coordinates(params, os.path.join(scratch, "image"))
    products.write_coordsys(csys, params)
    shutil.rmtree(scratch)


def make_part(vis, spans, counts, r, k, tarred):
    bounds = partitioning.time_bounds(spans, r)
    out = products.subms_name(vis, k)
    nrows = partitioning.rows(counts, r)
    part = {"part": products.part_id(k), "subms": out, "time_bounds": list(bounds),
            "integrations": r[1] - r[0] + 1, "nrows": nrows}
    if partitioning.subms_rows(out, bounds) != nrows:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.exists(transfer.subms_tar(out)):      # the tar of an earlier sub-MS
            os.remove(transfer.subms_tar(out))
        with timing.timed("write_subms"):
            copied = partitioning.write_subms(vis, bounds, out)
        assert copied == nrows, f"{out}: copied {copied} rows, planned {nrows}"
    part["bytes"] = partitioning.folder_bytes(out)
    if tarred and not os.path.exists(transfer.subms_tar(out)):   # (sharedfs = False)
        with timing.timed("tar_subms"):
            transfer.pack_subms(out)
    return part


if __name__ == "__main__":
    dagutils.run_stage("MSpartition", main)
