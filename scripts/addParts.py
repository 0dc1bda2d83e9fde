"""addParts: add the un-normalized residuals of a group of sub-MSes (one DAG node per
group, when a run has more sub-MSes than one addImages job gathers itself).

    addParts.py CYCLE GROUP

Writes products/parts/cycle<CYCLE>/<GROUP> (g1, g2, ...): the residual and
sum-of-weights images of the group's sub-MSes (products.gather_groups) added pixel by
pixel, un-normalized, as the gridding job of one larger sub-MS would have written them.
addImages then gathers and normalizes the groups' sums instead of every sub-MS, so the
serial part of a major cycle's gather reads about 2 sqrt(P) image sets, not P, and the
groups are added in parallel.  Built in a scratch folder and moved into place when
complete; one that exists is kept.
"""
import sys

import dagutils
from imaging import products, synthesis


def main(cycle, group):
    params = dagutils.load_params()
    cycle, stage = int(cycle), products.cycle_stage(int(cycle))
    members = group_members(params, group)
    final = products.part_dir("cycle", group, cycle)
    if products.finished(final, params, stage):
        print(f"addParts: {final} exists from an earlier try; kept")
        return
    with products.building(final, params, stage) as work:
        image = products.image_base(work, params)
        partnames = products.checked_images(
            [products.part_dir("cycle", p, cycle) for p in members], params, stage)
        synthesis.add_images(partnames, image, "residual")
        synthesis.sum_images(partnames, image, "sumwt")     # (one value per plane)
    print(f"addParts: wrote {final} (sub-MSes {', '.join(members)})")


def group_members(params, group):
    parts = [p["part"] for p in products.read_plan(params=params)["parts"]]
    groups = products.gather_groups(parts)
    if group not in groups:
        sys.exit(f"addParts: no group {group!r} of sub-MSes in this run's partition "
                 f"({len(parts)} sub-MSes: groups {', '.join(groups) or 'none'}); "
                 "the DAG was written for another partition: submit again")
    return groups[group]


if __name__ == "__main__":
    dagutils.run_stage("addParts", main, *sys.argv[1:])
