"""The wall time of the imaging DAG, from the costs `make bench` measured.

    scalemodel.py [results.json] [--data-tb 1] [--imsize 12288] [--parts 26 50 100]
                  [--nodes 4 16 64 128] [--cycles 10] [--latency 30] [--read-gbps 1]
                  [--cfjobs 16] [--cf-factor 4] [--cf-share 0.5]

A run is a chain of DAG levels; the jobs of one level run in waves on S slots:

    T = max(CF stage, partition)
        + sum over major cycles c = 0..C of
              [ ceil(P / S) x (o + a_c(pixels) + b_c x rows/P + read) + L ]    gridding
            + gather(P, pixels) + [ o + deconvolve(pixels) + L ]
        + restore

    o        a job's time outside CASA work (start, imports, publishing): measured
    a_c, b_c a gridding job's CASA time = a_c + b_c x its rows, cycle 0 (PSF and
             residual) and later cycles (predict and residual) apart: fitted to the
             1-, 2- and 4-partition runs; a_c at the image size from a line in
             pixels fitted to the image-size runs (256^2 to 1024^2) and the
             larger-image runs (bench.py --large: 2048^2, 4096^2), where a later
             cycle's job pays CASA's per-pixel initialization of the prediction
    gather   [ o + add(P) + L ] up to 8 sub-MSes; beyond, the addParts jobs first
             (G groups of at most g sub-MSes, products.gather_groups, in waves on
             S slots): ceil(G / S) x (o + g x per-sub-image) + L + [ o + add(G) + L ]
    add(n)   fixed + n x per-sub-image cost (fitted to the addImages jobs), times
             pixels / pixels measured
    L        the pool's latency per DAG level (DAGMan submit, negotiation, start):
             an assumption, 0 for the local runner

Assumptions for a real data set: gridding time per byte of visibilities is the
benchmark's (same channels per row and CF support), the CF stage grows with
pixels and with --cf-factor (more SPWs or w-planes), add/deconvolve/restore
with pixels (each, as a_c, a line in pixels fitted to the runs at other image
sizes, never below its cost measured at the benchmark's image), each gridding
job reads its sub-MS and, every cycle, the CFs it is given at --read-gbps: the
whole CF cache (resources.py's estimate times --cf-factor) with time ranges,
--cf-share of it with SPW groups; one gridding job per node.  The model is
checked here leave-one-out: each of the 1-, 2- and 4-partition runs (and the
runs with SPW groups, bench.py --spw-parts) is predicted from the others.  A
job's CASA time does not depend on how its rows were chosen (time range or SPW
group): that check is what says whether it does.
"""
import argparse
import math
import os
import re
import statistics

from imaging import products, resources


def main(argv=None):
    args = arguments(argv)
    record = products.read_json(args.results)
    if record is None:
        raise SystemExit(f"scalemodel: no {args.results}: run `make bench` first")
    print(check(record))
    print()
    print(predict(record, args))


def arguments(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="?", default=os.path.join("products", "bench", "results.json"))
    p.add_argument("--data-tb", type=float, default=1.0, help="visibility data (TB)")
    p.add_argument("--imsize", type=int, default=12288)
    p.add_argument("--parts", type=int, nargs="+", default=[26, 50, 100])
    p.add_argument("--nodes", type=int, nargs="+", default=[4, 16, 64, 128])
    p.add_argument("--cycles", type=int, default=10, help="major cycles after the first")
    p.add_argument("--latency", type=float, default=30.0, help="seconds per DAG level")
    p.add_argument("--read-gbps", type=float, default=1.0, help="GB/s one job reads a sub-MS at")
    p.add_argument("--cfjobs", type=int, default=16, help="CF fill jobs (params: cfjobs)")
    p.add_argument("--cf-factor", type=float, default=4.0,
                   help="CFs to compute relative to the benchmark's (SPWs x w-planes)")
    p.add_argument("--cf-share", type=float, default=0.5,
                   help="the CF cache's share a gridding job of an SPW group reads (0.43-0.57 "
                        "measured for 4 groups of 16 SPWs with conjbeams: docs/benchmark.md)")
    return p.parse_args(argv)


# ---------------------------------------------------------------- costs from the runs
def kind(node):
    """'grid0', 'grid', 'add', 'deconvolve', 'restore', 'cf', 'partition'."""
    for pattern, name in ((r"allImagers_c0_", "grid0"), (r"allImagers_", "grid"),
                          (r"addImages", "add"), (r"deconvolve", "deconvolve"),
                          (r"restore", "restore"), (r"CF", "cf"), (r"MSpartition", "partition")):
        if re.match(pattern, node):
            return name
    return node


def fit(points):
    """Least-squares (a, b) of y = a + b x."""
    xs, ys = zip(*points)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0
    return my - b * mx, b


def costs(runs, rows, pixels):
    """The model's coefficients from DAG runs of one MS and image."""
    jobs = [(r["nparts"], node, j) for r in runs for node, j in r["jobs"].items()]
    casa = {k: [(p, j["casa"]) for p, node, j in jobs if kind(node) == k]
            for k in ("grid0", "grid", "add", "deconvolve", "restore")}
    cycles = [sum(1 for n in r["jobs"] if kind(n) == "deconvolve") - 1 for r in runs]
    return {"o": statistics.median(j["wall"] - j["casa"] for _, _, j in jobs),
            "grid0": fit([(rows / p, t) for p, t in casa["grid0"]]),
            "grid": fit([(rows / p, t) for p, t in casa["grid"]]),
            "add": fit(casa["add"]),
            "deconvolve": statistics.median(t for _, t in casa["deconvolve"]),
            "restore": statistics.median(t for _, t in casa["restore"]),
            "start": statistics.median(max(r["stages"]["CF dry run"] + r["stages"]["CF fill"]
                                           + r["stages"]["CF merge"], r["stages"]["partition"])
                                       for r in runs),
            "cycles": statistics.median(cycles), "rows": rows, "pixels": pixels}


def wall(c, nparts, slots, latency=0.0, read=0.0, scale=None):
    """The model's wall time of one run: P sub-MSes on S slots."""
    scale = scale or {"pixels": 1.0, "rows": 1.0, "start": c["start"]}
    waves = math.ceil(nparts / slots)
    rows = c["rows"] * scale["rows"] / nparts

    def grid(key):
        a, b = c[key]
        return waves * (c["o"] + a + b * rows + read) + latency

    add = gather(c, nparts, slots, latency, scale["pixels"])
    deconvolve = c["o"] + c["deconvolve"] * scale["pixels"] + latency
    restore = c["o"] + c["restore"] * scale["pixels"] + latency
    cycle0 = grid("grid0") + add + deconvolve
    return scale["start"] + cycle0 + c["cycles"] * (grid("grid") + add + deconvolve) \
        + restore


def gather(c, nparts, slots, latency, pixels):
    """A major cycle's add: addImages over every sub-MS, or over the sums of the groups
    addParts jobs add side by side first (products.gather_groups)."""
    fixed, per_image = c["add"]
    groups = products.gather_groups(list(range(nparts)))
    if not groups:
        return c["o"] + (fixed + per_image * nparts) * pixels + latency
    largest = max(map(len, groups.values()))
    sums = math.ceil(len(groups) / slots) * (c["o"] + per_image * largest * pixels) + latency
    return sums + c["o"] + (fixed + per_image * len(groups)) * pixels + latency


# ---------------------------------------------------------------- the check
def check(record):
    """Each partition (count and mode: time ranges or SPW groups) predicted from the
    runs of the others: its median wall time, and the model's."""
    runs = [r for r in record["runs"] if r["name"].startswith("DAG")]
    if len({r["nparts"] for r in runs}) < 3:
        return "Model check: needs runs of three partition counts (bench.py --parts 1 2 4)."
    rows, pixels = record["layout"]["rows"], imsize_pixels(record)
    lines = ["Model check (local runner, 2 slots; each partition predicted from the "
             "runs of the others):", "", "| sub-MSes | partitionby | measured wall (s) | "
             "model (s) | error |", "|---|---|---|---|---|"]
    for mode, p in sorted({variant(r) for r in runs}, key=lambda v: (v[0] != "time", v)):
        others = [r for r in runs if variant(r) != (mode, p)]
        measured = statistics.median(r["wall"] for r in runs if variant(r) == (mode, p))
        model = wall(costs(others, rows, pixels), p, slots=2)
        lines.append(f"| {p} | {mode} | {measured:.0f} | {model:.0f} | "
                     f"{100 * (model / measured - 1):+.0f}% |")
    return "\n".join(lines)


def variant(run):
    """(partitionby, sub-MSes) of a DAG run (runs recorded before SPW groups: 'time')."""
    return run.get("partitionby", "time"), run["nparts"]


def imsize_pixels(record):
    return record["imsize"] ** 2


# ---------------------------------------------------------------- a real data set
def size_runs(record):
    """The DAG runs at other image sizes, each with its MS's layout: the image-size runs
    on the small MS (one later cycle) and the larger-image runs (to tclean's stop)."""
    large = [{**r["dag"], "imsize": r["imsize"], "nparts": r["nparts"],
              "layout": r.get("layout", record["layout"])} for r in record.get("large_runs", [])]
    return record["imsize_runs"] + large


def growth(record, name, rows_cost=0.0):
    """How a job kind's CASA time grows with the image: (fixed, per pixel), fitted to
    the runs at other image sizes (less rows_cost x the job's rows)."""
    points = []
    for r in size_runs(record):
        totals = {}
        for node, j in r["jobs"].items():
            if kind(node) == name:
                rows = r["layout"]["rows"] / r["nparts"] if name.startswith("grid") else 0
                totals.setdefault(node if name != "cf" else "cf", []).append(j["casa"] - rows_cost * rows)
        points += [(r["imsize"] ** 2, sum(t)) for t in totals.values()]
    return fit(points)


def at(line, pixels, measured):
    """A fitted line's value at `pixels`, and never below the cost `measured` at the
    benchmark's image (a cost does not fall as the image grows; a line fitted through
    noisy, nearly flat points can)."""
    fixed, per_pixel = line
    return max(fixed + per_pixel * pixels, measured)


def ratio(line, pixels, measured_pixels):
    """Time at `pixels` over time at `measured_pixels` on a fitted line."""
    fixed, per_pixel = line
    return (fixed + per_pixel * pixels) / (fixed + per_pixel * measured_pixels)


def predict(record, args):
    if not record["imsize_runs"]:
        return "Model: needs the image-size runs (bench.py --imsizes 256 512 1024)."
    runs = [r for r in record["runs"] if r["name"].startswith("DAG")]
    layout, pixels, pix = record["layout"], imsize_pixels(record), args.imsize ** 2
    c = costs(runs, layout["rows"], pixels)
    cf_work = statistics.median(sum(j["casa"] for n, j in r["jobs"].items() if kind(n) == "cf")
                                for r in runs)
    cf_work = args.cf_factor * at(growth(record, "cf"), pix, cf_work)
    for name in ("deconvolve", "restore"):
        c[name] = at(growth(record, name), pix, c[name])
    c["add"] = tuple(v * ratio(growth(record, "add"), pix, pixels) for v in c["add"])
    for key in ("grid0", "grid"):       # a job's fixed cost at the image size, its rows' cost as measured
        a, b = c[key]
        c[key] = (at(growth(record, key, b), pix, a), b)
    scale = {"pixels": 1.0, "rows": args.data_tb * 1e12 / layout["bytes"]}
    c["cycles"] = args.cycles
    cf_gb = args.cf_factor * resources.estimated_cf_bytes(
        {"cfcache": "cf", "imsize": [args.imsize, args.imsize]}) / 1e9
    lines = [f"Model for {args.data_tb:g} TB, {args.imsize}^2 pixels, {args.cycles + 1} major "
             f"cycles, {args.latency:g} s latency per DAG level, sub-MSes and CFs read at "
             f"{args.read_gbps:g} GB/s, CF work x{args.cf_factor:g}, a CF cache of "
             f"{cf_gb:.1f} GB (wall time in hours):"]
    for mode, share in (("time ranges (partitionby 'time'): every job reads the whole CF "
                         "cache", 1.0), ("SPW groups ('spw', 'both'): a job reads "
                         f"{args.cf_share:g} of it", args.cf_share)):
        read = {p: (args.data_tb * 1e3 / p + share * cf_gb) / args.read_gbps for p in args.parts}
        lines += ["", f"{mode}:", ""] + hours_table(c, args, read, scale, cf_work)
    mono = wall(c, 1, 1, 0.0, (args.data_tb * 1e3 + cf_gb) / args.read_gbps,
                {**scale, "start": cf_work})
    lines += ["", f"One process (as monolithic tclean: serial CFs, one pass over the data "
              f"per cycle): {mono / 3600:.1f} h."]
    return "\n".join(lines)


def hours_table(c, args, read, scale, cf_work):
    """Wall hours of each sub-MS count (rows) on each number of nodes (columns); read:
    sub-MSes -> seconds a gridding job reads each cycle."""
    lines = ["| sub-MSes \\ nodes | " + " | ".join(map(str, args.nodes)) + " |",
             "|---|" + "---|" * len(args.nodes)]
    for p in args.parts:
        hours = [wall(c, p, n, args.latency, read[p],
                      {**scale, "start": cf_work / min(n, args.cfjobs)}) / 3600
                 for n in args.nodes]
        lines.append(f"| {p} | " + " | ".join(f"{h:.1f}" for h in hours) + " |")
    return lines


if __name__ == "__main__":
    main()
