"""MSpartition: split the MS along time into sub-MSes no larger than maxsubmssize.

    MSpartition.py

Every row goes to exactly one sub-MS and no integration is split.  Writes the
sub-MSes, the plan products/partitions.json and, last, the gridding sub-DAG
products/allImagers.dag.  The input MS is only read.  Sub-MSes that an earlier
try finished (same plan) are kept.
"""
import os

import dagutils
import parameters


def main():
    params = dagutils.load_params()
    vis = params["vis"]
    maxsize = parameters.parse_size(params["maxsubmssize"], "maxsubmssize")
    times, counts, bytes_per_row, overhead = dagutils.ms_layout(vis)
    ranges = dagutils.plan_partitions(times, counts, bytes_per_row, overhead, maxsize)
    plan = {"vis": vis, "maxsubmssize": maxsize, "nrows": sum(counts), "parts": []}
    for k, r in enumerate(ranges, start=1):
        plan["parts"].append(make_part(vis, times, counts, r, k))
    dagutils.write_plan(plan)
    dagutils.write_text_atomic(dagutils.SUBDAG, dagutils.gridding_subdag(plan))
    print(f"MSpartition: {len(ranges)} sub-MSes of at most {maxsize} bytes; "
          f"wrote {dagutils.SUBDAG}")


def make_part(vis, times, counts, r, k):
    bounds = dagutils.time_bounds(times, r)
    out = dagutils.subms_name(vis, k)
    nrows = dagutils.rows(counts, r)
    part = {"part": dagutils.part_id(k), "subms": out, "time_bounds": list(bounds),
            "integrations": r[1] - r[0] + 1, "nrows": nrows}
    if dagutils.subms_rows(out, bounds) != nrows:
        os.makedirs(os.path.dirname(out), exist_ok=True)
        copied = dagutils.write_subms(vis, bounds, out)
        assert copied == nrows, f"{out}: copied {copied} rows, planned {nrows}"
    part["bytes"] = dagutils.folder_bytes(out)
    return part


if __name__ == "__main__":
    main()
