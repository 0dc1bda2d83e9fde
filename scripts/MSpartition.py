"""MSpartition: split the MS along time into sub-MSes no larger than maxsubmssize.

    MSpartition.py

Every row goes to exactly one sub-MS and no integration is split.  Writes the
sub-MSes, the plan products/partitions.json, the image coordinates the whole MS
defines (products/coordsys.pickle, for every gridding job; prepareRun makes it
first, when it checks the parameters) and, last, the gridding sub-DAG
products/allImagers.dag, with the DAGs of the later major cycles
(products/cycle<c>.dag, products/majorCycles.dag).  Without a shared
filesystem (sharedfs = False) it also writes each sub-MS as a tar, once, for
the jobs to be sent (transfer.py).  The input MS is only read.  Sub-MSes that an earlier
try finished (same plan) are kept.
"""
import os
import shutil

import dagutils
import parameters
import synthesis
import timing
import transfer


def main():
    params = dagutils.load_params()
    vis = params["vis"]
    maxsize = parameters.parse_size(params["maxsubmssize"], "maxsubmssize")
    with timing.timed("ms_layout"):
        times, counts, bytes_per_row, overhead = dagutils.ms_layout(vis)
    ranges = dagutils.plan_partitions(times, counts, bytes_per_row, overhead, maxsize)
    ranges = with_selected_rows(ranges, times, dagutils.selected_times(vis, params))
    plan = {"vis": vis, "maxsubmssize": maxsize, "nrows": sum(counts), "parts": []}
    for k, r in enumerate(ranges, start=1):
        plan["parts"].append(make_part(vis, times, counts, r, k, transfer.enabled(params)))
    dagutils.write_plan(plan)
    write_coordsys(params)
    density = params["weighting"] in parameters.DENSITY_WEIGHTINGS
    write_dags(plan, dagutils.max_cycles(params), density, transfer.enabled(params))
    print(f"MSpartition: {len(ranges)} sub-MSes of at most {maxsize} bytes; "
          f"wrote {dagutils.SUBDAG} and {dagutils.MAJORCYCLES}")


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
    """The coordinate system the whole MS defines, which every gridding job images with:
    prepareRun's, if it made it for the parameters the jobs read (params.json not older
    than params/imaging.py), else made here."""
    made = [dagutils.COORDSYS, dagutils.PARAMS_RECORD]
    if all(map(os.path.isfile, made)) and not dagutils.newer(parameters.DEFAULT_FILE, made[1]):
        return
    scratch = dagutils.fresh_dir(os.path.join(dagutils.PRODUCTS, "coordsys.tmp"))
    dagutils.write_coordsys(synthesis.image_coordinates(params, os.path.join(scratch, "image")))
    shutil.rmtree(scratch)


def write_dags(plan, ncycles, density, staged):
    """The gridding sub-DAG of cycle 0 (after the weight density if `density`) and the
    DAGs of the major cycles after it (`staged`: without a shared filesystem)."""
    for c in range(1, ncycles + 1):
        path = os.path.join(dagutils.PRODUCTS, f"cycle{c}.dag")
        dagutils.write_text_atomic(path, dagutils.cycle_subdag(plan, c, staged))
    dagutils.write_text_atomic(dagutils.MAJORCYCLES, dagutils.major_cycles_dag(ncycles))
    dagutils.write_text_atomic(dagutils.SUBDAG,
                               dagutils.gridding_subdag(plan, density=density, transfer=staged))


def make_part(vis, times, counts, r, k, tarred):
    bounds = dagutils.time_bounds(times, r)
    out = dagutils.subms_name(vis, k)
    nrows = dagutils.rows(counts, r)
    part = {"part": dagutils.part_id(k), "subms": out, "time_bounds": list(bounds),
            "integrations": r[1] - r[0] + 1, "nrows": nrows}
    if dagutils.subms_rows(out, bounds) != nrows:
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
    dagutils.run_stage("MSpartition", main)
