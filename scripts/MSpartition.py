"""MSpartition: split the MS along time into sub-MSes no larger than maxsubmssize.

    MSpartition.py

Every row goes to exactly one sub-MS and no integration is split.  Writes the
sub-MSes, the plan products/partitions.json (with the identity of the partition
stage, identity.py), the image coordinates the whole MS defines
(products/coordsys.pickle, for every gridding job) and, last, the gridding
sub-DAG products/allImagers.dag.  (The DAGs of the later major cycles are
written when they are due, by nextCycles.py.)  Without a shared filesystem
(sharedfs = False) it also writes each sub-MS as a tar, once, for the jobs to
be sent (transfer.py).  The input MS is only read, and first checked to be the
one the run was prepared for.  Sub-MSes that an earlier try of the same plan
finished are kept.
"""
import os
import shutil
import sys

import dagutils
import identity
import parameters
import synthesis
import timing
import transfer


def main():
    params = dagutils.load_params()
    vis = params["vis"]
    identity.require_ms(params)
    maxsize = parameters.parse_size(params["maxsubmssize"], "maxsubmssize")
    with timing.timed("ms_layout"):
        times, counts, bytes_per_row, overhead = dagutils.ms_layout(vis)
    ranges = dagutils.plan_partitions(times, counts, bytes_per_row, overhead, maxsize)
    ranges = with_selected_rows(ranges, times, dagutils.selected_times(vis, params))
    plan = {"vis": vis, "maxsubmssize": maxsize, "nrows": sum(counts), "parts": [],
            "identity": identity.digest(params, "partition")}
    keep = same_partition(plan)
    for k, r in enumerate(ranges, start=1):
        plan["parts"].append(make_part(vis, times, counts, r, k, transfer.enabled(params), keep))
    dagutils.write_plan(plan)
    write_coordsys(params)
    density = params["weighting"] in parameters.DENSITY_WEIGHTINGS
    dagutils.write_text_atomic(dagutils.SUBDAG, dagutils.gridding_subdag(
        plan, density=density, transfer=transfer.enabled(params)))
    print(f"MSpartition: {len(ranges)} sub-MSes of at most {maxsize} bytes; "
          f"wrote {dagutils.SUBDAG}")


def same_partition(plan):
    """Whether sub-MSes already on disk were made by the same partition (else they
    are written again)."""
    old = dagutils.read_json(dagutils.PLAN)
    return old is not None and old.get("identity") == plan["identity"]


def with_selected_rows(ranges, times, chosen):
    """The time ranges holding rows of the data selection (a gridding job fails on a
    sub-MS where the selection finds none); all of them without a selection."""
    if chosen is None:
        return ranges
    chosen = set(chosen)
    kept = [r for r in ranges if any(t in chosen for t in times[r[0]:r[1] + 1])]
    if len(kept) < len(ranges):
        print(f"MSpartition: {len(ranges) - len(kept)} of {len(ranges)} time ranges hold no "
              "rows of the data selection (field, spw, timerange, ...): not written")
    return kept


def write_coordsys(params):
    """The coordinate system the whole MS defines, which every gridding job images with."""
    scratch = dagutils.fresh_dir(os.path.join(dagutils.PRODUCTS, "coordsys.tmp"))
    csys = synthesis.image_coordinates(params, os.path.join(scratch, "image"))
    dagutils.write_coordsys(csys, params)
    shutil.rmtree(scratch)


def make_part(vis, times, counts, r, k, tarred, keep=True):
    bounds = dagutils.time_bounds(times, r)
    out = dagutils.subms_name(vis, k)
    nrows = dagutils.rows(counts, r)
    part = {"part": dagutils.part_id(k), "subms": out, "time_bounds": list(bounds),
            "integrations": r[1] - r[0] + 1, "nrows": nrows}
    if not keep or dagutils.subms_rows(out, bounds) != nrows:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.exists(transfer.subms_tar(out)):      # the tar of an earlier sub-MS
            os.remove(transfer.subms_tar(out))
        with timing.timed("write_subms"):
            copied = dagutils.write_subms(vis, bounds, out)
        assert copied == nrows, f"{out}: copied {copied} rows, planned {nrows}"
    part["bytes"] = dagutils.folder_bytes(out)
    if tarred and not os.path.exists(transfer.subms_tar(out)):   # (sharedfs = False)
        with timing.timed("tar_subms"):
            transfer.pack_subms(out)
    return part


if __name__ == "__main__":
    try:
        main()
    except (dagutils.PartitionError, parameters.ParameterError) as e:
        sys.exit(f"MSpartition: {e}")
