"""make bench: the imaging DAG against monolithic tclean, same machine, same data.

    bench.py [--hours H] [--parts 1 2 4] [--repeats 2] [--out products/bench]

Simulates (or reuses) data/bench_evla_<H>h.ms, an EVLA MS of H hours of 10 s
integrations (about 130 MB per hour), then, --repeats times and alternately,
runs monolithic tclean (tools/tcleanReference.py) and the whole imaging DAG
with the local runner for each number of sub-MSes, each from nothing: its own
new CF cache, as tclean makes its own.  With --mpi-python (make bench
BENCH_MPI=1) each round also runs CASA's parallel imager, tclean(parallel=True)
with --mpi-servers MPI servers under mpirun (tools/tcleanParallel.py, in that
Python's environment), checked from CASA's logs to have run with them.  Every
run is in its own directory under --out, made as a user makes one (a copy of
this run directory with overrides appended to params/imaging.py).

Recorded per run: wall time, CPU time of all its processes, peak resident
memory of the largest process, and the restored image.tt0's largest
difference from tclean's of the same round.  For the DAG also, from its job
log (logs/imaging.log) and the jobs' `timing:` lines (timing.py): each
stage's time (first job started to last job ended, summed over cycles), each
job's time, and each job's time outside CASA work (process start, imports,
copies, publishing).  Writes results.json, bench.md (medians and DAG/tclean
ratios) and bench.png.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from imaging import casa, cfcache, jobkinds, parameters, partitioning, products
from tools import criticalpath
from tools import newrun
from tools import progress
from tools import scalemodel

# The small MSes of a user's first try (issue 16): tools/simulate.py's options for each.
SMALL_MS = {"sim_evla.ms": [],     # make data's: 1 hour of 60 s, 4 SPWs of 4 channels
            "bench_wide_1.5h.ms": ["--hours", "1.5", "--integration", "30", "--spws", "2",
                                   "--chans", "8"]}      # fewer, wider SPWs (2 x 512 MHz)
BENCH_CF = os.path.join("cfcache", "bench.cf")     # each DAG run's own CF cache
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))   # (scripts/tools/..)


def main(argv=None):
    args = arguments(argv)
    args.out = os.path.abspath(args.out)     # (runs work in their own directories)
    os.makedirs(args.out, exist_ok=True)
    ms = bench_ms(args.hours)
    imsize = parameters.read_assignments(os.path.join(ROOT, parameters.DEFAULT_FILE))["imsize"]
    record = {"ms": ms, "layout": layout(ms), "imsize": parameters.as_list(imsize)[0],
              "runs": [], "imsize_runs": []}
    for round_ in range(1, args.repeats + 1):
        ref = run_tclean(args.out, ms, round_)
        record["runs"].append(ref)
        if args.mpi_python:
            record["runs"].append(run_parallel(args.out, ms, round_, ref, args))
        for nparts in args.parts:
            record["runs"].append(run_dag(args.out, ms, nparts, round_, ref))
        for nparts in args.spw_parts:
            record["runs"].append(run_dag(args.out, ms, nparts, round_, ref, "spw"))
        products.write_json(os.path.join(args.out, "results.json"), record)
    record["small_runs"] = []
    for round_ in range(1, args.small_repeats + 1):   # a user's first try: small data
        for name, options in SMALL_MS.items():
            record["small_runs"].append(run_small(args.out, name, small_ms(name, options), round_))
            products.write_json(os.path.join(args.out, "results.json"), record)
    small = os.path.join(ROOT, "data", "sim_evla.ms")
    for n in args.imsizes:     # how the jobs' work and memory grow with the image
        record["imsize_runs"].append(run_imsize(args.out, small, n))
        products.write_json(os.path.join(args.out, "results.json"), record)
    record["large_runs"] = []
    for n in args.large:       # where users image: tclean and the DAG at n x n pixels
        record["large_runs"].append(run_large(args.out, bench_ms(args.large_hours), n, args))
        products.write_json(os.path.join(args.out, "results.json"), record)
    report(args.out, record)


def arguments(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, default=3.0, help="length of the benchmark MS")
    p.add_argument("--parts", type=int, nargs="+", default=[1, 2, 4], help="sub-MS counts")
    p.add_argument("--spw-parts", type=int, nargs="*", default=[2, 4],
                   help="sub-MS counts of the DAG with partitionby = 'spw' (SPW groups)")
    p.add_argument("--repeats", type=int, default=2, help="rounds of tclean and every DAG")
    p.add_argument("--imsizes", type=int, nargs="*", default=[256, 512, 1024],
                   help="image sizes of single DAG runs on the small test MS (data/sim_evla.ms)")
    p.add_argument("--small-repeats", type=int, default=2,
                   help="rounds of tclean and the DAG, with the shipped parameters, on each "
                   "small MS (data/sim_evla.ms; 2 wide SPWs, 90 min)")
    p.add_argument("--large", type=int, nargs="*", default=[1024, 2048],
                   help="image sizes at which tclean and the whole DAG (--large-parts "
                   "sub-MSes) are run to tclean's stop on the --large-hours MS, the cell "
                   "scaled so that the field stays the shipped one")
    p.add_argument("--large-hours", type=float, default=1.0)
    p.add_argument("--large-parts", type=int, default=2)
    p.add_argument("--out", default=os.path.join("products", "bench"))
    p.add_argument("--mpi-python", help="also tclean(parallel=True) under mpirun with this "
                   "Python (its environment has mpi4py and casampi: make mpi-setup)")
    p.add_argument("--mpi-servers", type=int, default=2, help="MPI servers of parallel tclean")
    return p.parse_args(argv)


def bench_ms(hours):
    ms = os.path.join(ROOT, "data", f"bench_evla_{hours:g}h.ms")
    if not os.path.isdir(ms):
        subprocess.run([sys.executable, "-m", "tools.simulate", "--hours", str(hours),
                        "--integration", "10", ms], check=True)
    return ms


def small_ms(name, options):
    ms = os.path.join(ROOT, "data", name)
    if not os.path.isdir(ms):
        subprocess.run([sys.executable, "-m", "tools.simulate", *options, ms], check=True)
    return ms


def layout(ms):
    """Rows, bytes per row and bytes of the MS (what the scaling model scales from)."""
    ms_layout = partitioning.ms_layout(ms)
    rows = sum(ms_layout.counts)
    return {"rows": rows, "bytes_per_row": ms_layout.bytes_per_row,
            "bytes": ms_layout.bytes_per_row * rows + ms_layout.overhead}


# ---------------------------------------------------------------- runs
def measured(argv, cwd, log):
    """Run a command; wall time, CPU time and peak RSS (MB) of it and its descendants."""
    env = dict(os.environ, CASA_LOGDIR=os.path.join(cwd, "logs"), IMAGING_PYTHON=sys.executable)
    start, started = time.perf_counter(), time.time()
    with open(log, "w") as out:
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {' '.join(map(str, argv))} failed in {cwd}: see {log}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "maxrss_mb": usage.ru_maxrss / 1024,
            "started": started, "ended": started + wall}


def new_run(folder, overrides):
    """A run directory as a user makes one (an earlier bench's is replaced)."""
    shutil.rmtree(folder, ignore_errors=True)
    newrun.copy_run(ROOT, folder, overrides, "benchmark overrides")
    os.makedirs(os.path.join(folder, "logs"))
    return folder


def run_tclean(out, ms, round_, folder=None, overrides=None):
    folder = new_run(folder or os.path.join(out, f"tclean-r{round_}"), {"vis": ms, **(overrides or {})})
    print(f"bench: round {round_}: tclean", flush=True)
    argv = [sys.executable, "-m", "tools.tcleanReference", "params/imaging.py", ms,
            os.path.join(folder, "ref")]
    result = measured(argv, folder, os.path.join(folder, "logs", "tclean.out"))
    return {"name": "tclean", "round": round_, "image": os.path.join(folder, "ref"), **result}


def run_large(out, ms, n, args):
    """tclean, then the whole DAG (each with its own new CF cache) at n x n pixels of
    the shipped field (the cell scaled by the shipped imsize / n), to tclean's stop."""
    shipped = parameters.read_assignments(os.path.join(ROOT, parameters.DEFAULT_FILE))
    value, unit = re.fullmatch(r"([0-9.]+)(\D+)", parameters.as_list(shipped["cell"])[0]).groups()
    overrides = {"imsize": [n, n], "cell": f"{float(value) * shipped['imsize'][0] / n:g}{unit}"}
    print(f"bench: {n}^2 pixels ({overrides['cell']}):", end=" ", flush=True)
    ref = run_tclean(out, ms, 1, os.path.join(out, f"large{n}-tclean"), overrides)
    print(f"bench: {n}^2 pixels: DAG with {args.large_parts} sub-MSes", flush=True)
    folder = os.path.join(out, f"large{n}-dag")
    dag = dag_run(folder, {"vis": ms, **overrides, "gridjobs": 1,
                           "maxsubmssize": partitioning.size_for(args.large_parts, ms)})
    image = os.path.join(folder, "products", "final", "ctb80")
    return {"imsize": n, "cell": overrides["cell"], "nparts": args.large_parts, "layout": layout(ms),
            "tclean": {**ref, **summary(ref["image"])}, "dag": {**dag, "cycles": cycles_run(folder)},
            "difference": difference(f"{image}.image.tt0", f"{ref['image']}.image.tt0",
                                     f"{ref['image']}.pb.tt0")}


def run_small(out, name, ms, round_):
    """tclean, then the whole DAG, with the shipped parameters on a small MS, as a user's
    first `make run` (its sub-MSes as maxsubmssize and gridjobs make them), each with
    its own new CF cache; the DAG's fixed costs per run and per cycle
    (criticalpath.py)."""
    base = os.path.join(out, f"small-{name.removesuffix('.ms')}-r{round_}")
    ref = run_tclean(out, ms, round_, base + "-tclean")
    print(f"bench: round {round_}: DAG on {name}, the shipped parameters", flush=True)
    dag = dag_run(base + "-dag", {"vis": ms})
    image = os.path.join(base + "-dag", "products", "final", "ctb80")
    return {"name": name, "round": round_, "layout": layout(ms), "mb": folder_mb(ms),
            "nparts": sum(1 for node in dag["jobs"] if node.startswith("allImagers_c0_")),
            "tclean": {**ref, **summary(ref["image"])},
            "dag": {**dag, "cycles": cycles_run(base + "-dag")},
            "difference": difference(f"{image}.image.tt0", f"{ref['image']}.image.tt0",
                                     f"{ref['image']}.pb.tt0")}


def cycles_run(folder):
    """The DAG's major cycles, counted as tclean's nmajordone counts them (the first
    residual's gridding included: tests/test_major_cycles.py)."""
    with open(os.path.join(folder, "products", "final", "summary.json")) as f:
        return json.load(f)["majorcycles"] + 1


def run_parallel(out, ms, round_, ref, args):
    """tclean(parallel=True) with args.mpi_servers MPI servers (tools/tcleanParallel.py)."""
    folder = new_run(os.path.join(out, f"parallel-r{round_}"), {"vis": ms})
    print(f"bench: round {round_}: parallel tclean, {args.mpi_servers} MPI servers", flush=True)
    image = os.path.join(folder, "ref")
    argv = [args.mpi_python, "-m", "tools.tcleanParallel", "--servers", str(args.mpi_servers),
            "params/imaging.py", ms, image]
    result = measured(argv, folder, os.path.join(folder, "logs", "tclean.out"))
    return {"name": "parallel tclean", "round": round_, "servers": args.mpi_servers,
            "image": image, **result, **summary(image), "reference": summary(ref["image"]),
            "sumwt_ratio": sum_of_weights(image) / sum_of_weights(ref["image"]),
            "difference": difference(f"{image}.image.tt0", f"{ref['image']}.image.tt0",
                                     f"{ref['image']}.pb.tt0")}


def summary(image):
    """tclean's major cycles and iterations (IMAGENAME.summary.json of tcleanReference)."""
    with open(image + ".summary.json") as f:
        return json.load(f)


def sum_of_weights(image):
    """IMAGENAME.sumwt.tt0's value: the sum of weights the residual was divided by."""
    from imaging import casaenv  # noqa: F401
    from casatools import image as imagetool
    ia = imagetool()
    with casa.opened(ia, f"{image}.sumwt.tt0"):
        return float(ia.getchunk().sum())


def run_dag(out, ms, nparts, round_, ref, partitionby="time"):
    """The DAG with nparts sub-MSes: time ranges, or SPW groups (partitionby 'spw')."""
    label = "" if partitionby == "time" else f" {partitionby}"
    print(f"bench: round {round_}: DAG with {nparts} sub-MSes{label}", flush=True)
    folder = os.path.join(out, f"dag{nparts}{label.strip()}-r{round_}")
    result = dag_run(folder, {"vis": ms, "maxsubmssize": partitioning.size_for(nparts, ms),
                              "gridjobs": 1, "partitionby": partitionby})   # (exactly nparts)
    image = os.path.join(folder, "products", "final", "ctb80")
    return {"name": f"DAG {nparts}{label}", "round": round_, "nparts": nparts,
            "partitionby": partitionby, **result, "cf_sent": cf_sent(folder),
            "difference": difference(f"{image}.image.tt0", f"{ref['image']}.image.tt0",
                                     f"{ref['image']}.pb.tt0")}


def cf_sent(folder):
    """{SPW group: [bytes of the CFs its gridding jobs are given, its share of the MS's
    rows]} of a run with SPW groups (cfcache.subset: links into the cache, packed
    through them), and the whole cache under 'all' (what a time partition's job is given)."""
    plan = products.read_json(os.path.join(folder, products.PLAN))
    shares = {}
    for part in plan["parts"] if plan["partitionby"] != "time" else []:
        spws = tuple(part["spws"])
        shares[spws] = shares.get(spws, 0) + part["nrows"] / plan["nrows"]
    sent = {"all": [folder_mb(os.path.join(folder, BENCH_CF)) * 1e6, 1.0]}
    for spws, share in shares.items():
        subset = os.path.join(folder, cfcache.subset_path({"cfcache": BENCH_CF}, spws))
        sent[cfcache.group_name(spws)] = [folder_mb(subset, follow=True) * 1e6, share]
    return sent


def run_imsize(out, ms, n):
    """One DAG run (2 sub-MSes, one major cycle) with an n x n image."""
    print(f"bench: DAG with a {n}^2 image", flush=True)
    overrides = {"vis": ms, "maxsubmssize": partitioning.size_for(2, ms), "imsize": [n, n],
                 "nmajor": 1}
    return {"name": f"{n}^2", "imsize": n, "nparts": 2, "layout": layout(ms),
            **dag_run(os.path.join(out, f"imsize{n}"), overrides)}


def dag_run(folder, overrides):
    """The whole DAG with the local runner in a new run directory with its own CF cache."""
    new_run(folder, {**overrides, "cfcache": BENCH_CF})
    argv = [sys.executable, "-m", "dagengine", "dag/condor_imaging.dag"]
    result = measured(argv, folder, os.path.join(folder, "logs", "dagrunner.out"))
    jobs = job_times(folder)
    result["maxrss_mb"] = max(j["memory_mb"] for j in jobs.values())     # largest process
    return {**result, "stages": criticalpath.stage_times(jobs), "jobs": jobs,
            "fixed": criticalpath.breakdown(jobs, result["started"], result["ended"]),
            "requested_mb": requested_memory(folder)}


def requested_memory(folder):
    """Job kind -> request_memory (MB) that prepareRun wrote for the run (resources.py)."""
    from dagengine import submitsyntax
    requested = {}
    for name in os.listdir(os.path.join(folder, "products", "resources")):
        with open(os.path.join(folder, "products", "resources", name)) as f:
            m = re.search(r"^request_memory\s*=\s*(\S+)", f.read(), re.M)
        requested[name.removesuffix(".htc")] = submitsyntax.request_memory(m.group(1))
    return requested


# ---------------------------------------------------------------- what the DAG's jobs did
def job_times(folder):
    """Node -> start, end, wall, CPU, peak memory, CASA time: from the job log and .out."""
    jobs = progress.jobs(os.path.join(folder, "logs", "imaging.log"))
    return {node: {"start": j["started"], "end": j["time"], "wall": j["time"] - j["started"],
                   "cpu": cpu_seconds(j["cpu"]), "memory_mb": j["memory"] or 0,
                   "casa": casa_seconds(os.path.join(folder, "logs", f"{node}.out"))}
            for node, j in jobs.items()}


def cpu_seconds(usage):
    """'Usr 0 00:01:02, Sys 0 00:00:03' -> 65."""
    total = 0
    for days, h, m, s in re.findall(r"(\d+) (\d+):(\d+):(\d+)", usage):
        total += ((int(days) * 24 + int(h)) * 60 + int(m)) * 60 + int(s)
    return total


def casa_seconds(out):
    with open(out) as f:
        return sum(float(m) for m in re.findall(r"^timing: \S+ wall=([0-9.]+)", f.read(), re.M))


def difference(image, reference, pb, pblimit=0.2):
    """Largest |image - reference| where pb > pblimit, over the reference's peak there."""
    import numpy as np
    from imaging import casaenv  # noqa: F401
    from casatools import image as imagetool
    ia, data = imagetool(), []
    for path in (image, reference, pb):
        with casa.opened(ia, path):
            data.append(ia.getchunk().astype(float))
    a, b, beam = data
    region = beam > pblimit
    return float(np.abs(a - b)[region].max() / np.abs(b[region]).max())


# ---------------------------------------------------------------- the report
def report(out, record):
    lines = runs_report(out, record) if record["runs"] else ["# Benchmark"]
    lines += small_report(record.get("small_runs", []))
    lines += large_report(record.get("large_runs", []))
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def runs_report(out, record):
    ms, runs = record["ms"], record["runs"]
    names = sorted({r["name"] for r in runs}, key=lambda n: (n != "tclean", n))
    med = {n: {k: statistics.median(r[k] for r in runs if r["name"] == n)
               for k in ("wall", "cpu", "maxrss_mb")} for n in names}
    lines = ["# Benchmark: the DAG against monolithic tclean", "",
             f"MS: `{os.path.basename(ms)}`, {folder_mb(ms):.0f} MB; "
             f"{max(r['round'] for r in runs)} rounds, run alternately; medians.", "",
             "| run | wall (s) | DAG/tclean wall | CPU (s) | peak RSS of a process (MB) | image.tt0 vs tclean |",
             "|---|---|---|---|---|---|"]
    for n in names:
        ratios = [r["wall"] / ref["wall"] for r, ref in pairs(runs, n)]
        diffs = [r.get("difference") for r in runs if r["name"] == n and "difference" in r]
        lines.append(f"| {n} | {med[n]['wall']:.1f} | "
                     f"{statistics.median(ratios):.2f} | {med[n]['cpu']:.1f} | "
                     f"{med[n]['maxrss_mb']:.0f} | {max(diffs):.1e} |" if n != "tclean" else
                     f"| {n} | {med[n]['wall']:.1f} | 1 | {med[n]['cpu']:.1f} | "
                     f"{med[n]['maxrss_mb']:.0f} | - |")
    lines += parallel_lines(runs)
    lines += ["", targets(runs, names, med), "", stage_table(runs, names), "",
              overhead_table(runs, names), "", memory_table(runs + record["imsize_runs"]), "",
              cf_table(runs), "",
              scalemodel.check(record)]
    plot(out, runs, names, med)
    return lines


def small_report(small):
    """tclean and the DAG on the small MSes (the target: at most 0.6), and where the
    DAG's time went: its fixed costs per run and per major cycle (medians of rounds)."""
    if not small:
        return []
    lines = ["", "## Small data: a user's first try", "",
             "| MS | MB | rows | sub-MSes | tclean wall (s) | DAG wall (s) | DAG/tclean | goal | "
             "major cycles tclean / DAG | image.tt0 vs tclean |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rs in by_name(small).items():
        ratio = median(rs, lambda r: r["dag"]["wall"] / r["tclean"]["wall"])
        lines.append(f"| {name} | {rs[0]['mb']:.0f} | {rs[0]['layout']['rows']} | {rs[0]['nparts']} | "
                     f"{median(rs, lambda r: r['tclean']['wall']):.1f} | "
                     f"{median(rs, lambda r: r['dag']['wall']):.1f} | {ratio:.2f} | "
                     f"<= 0.6{'' if ratio <= 0.6 else ' **not met**'} | "
                     f"{rs[0]['tclean'].get('nmajordone')} / {rs[0]['dag']['cycles']} | "
                     f"{max(r['difference'] for r in rs):.1e} |")
    parts = ["gridding", "add/normalize", "deconvolve", "waits"]
    lines += ["", "The DAG's critical path (s, medians of rounds; tools/criticalpath.py): until "
              "the first gridding job (parameters, CF cache, partition), then per major cycle "
              "its jobs and the waits between DAG levels, then restore:", "",
              "| MS | until the first gridding job | cycle 0: " + " / ".join(parts) +
              " | each later cycle (median): " + " / ".join(parts) + " | restore and after |",
              "|---|---|---|---|---|"]
    for name, rs in by_name(small).items():
        fixed = [r["dag"]["fixed"] for r in rs]
        first = [median(fixed, lambda f: f["cycles"][0].get(k, 0)) for k in parts]
        later = [median(fixed, lambda f: median(f["cycles"][1:], lambda c: c.get(k, 0))) for k in parts]
        lines.append(f"| {name} | {median(fixed, lambda f: f['until the first gridding job']):.0f} | "
                     + " / ".join(f"{v:.0f}" for v in first) + " | "
                     + " / ".join(f"{v:.1f}" for v in later) + " | "
                     f"{median(fixed, lambda f: f['restore and after']):.0f} |")
    return lines


def by_name(runs):
    """name -> its runs, names in the order of their first run."""
    names = {}
    for r in runs:
        names.setdefault(r["name"], []).append(r)
    return names


def median(items, value):
    """The median of value(item) (0 for no items)."""
    return statistics.median([value(i) for i in items] or [0])


def large_report(large):
    """tclean and the DAG at each large image size: walls, ratio (the targets: at most
    0.6 at 2048^2, 0.7 at 4096^2), cycles, images, and the DAG's time per stage."""
    if not large:
        return []
    goals = {2048: 0.6, 4096: 0.7}
    lines = ["", "## Larger images", "",
             "| pixels | cell | tclean wall (s) | DAG wall (s) | DAG/tclean | goal | major cycles "
             "tclean / DAG | image.tt0 vs tclean |", "|---|---|---|---|---|---|---|---|"]
    for r in large:
        ratio = r["dag"]["wall"] / r["tclean"]["wall"]
        goal = goals.get(r["imsize"])
        lines.append(f"| {r['imsize']}^2 | {r['cell']} | {r['tclean']['wall']:.1f} | "
                     f"{r['dag']['wall']:.1f} | {ratio:.2f} | "
                     f"{f'<= {goal}' + ('' if ratio <= goal else ' **not met**') if goal else '-'} | "
                     f"{r['tclean'].get('nmajordone')} / {r['dag']['cycles']} | {r['difference']:.1e} |")
    lines += ["", f"The DAG's time per stage (s; first job started to last ended, summed over "
              f"cycles; {large[0]['nparts']} sub-MSes):", "",
              "| stage | " + " | ".join(f"{r['imsize']}^2" for r in large) + " |",
              "|---|" + "---|" * len(large)]
    for stage in criticalpath.STAGES:
        lines.append(f"| {stage} | " + " | ".join(f"{r['dag']['stages'][stage]:.1f}" for r in large) + " |")
    runs = [{"name": f"DAG {r['imsize']}^2", **r["dag"]} for r in large]
    return lines + ["", memory_table(runs + [{"name": "tclean", **r["tclean"]} for r in large])]


def parallel_lines(runs):
    """Parallel tclean's servers, major cycles and sum of weights against serial tclean's."""
    return [f"\nRound {r['round']}: parallel tclean ran with {r['servers']} MPI servers (checked "
            f"in CASA's logs), {r.get('nmajordone')} major cycles and {r.get('iterdone')} "
            f"iterations; serial tclean {r['reference'].get('nmajordone')} and "
            f"{r['reference'].get('iterdone')}. Its sum of weights (sumwt.tt0) is "
            f"{r['sumwt_ratio']:.4f} of serial tclean's."
            for r in runs if r["name"] == "parallel tclean"]


def pairs(runs, name):
    """(run, tclean run of the same round) for each run of a configuration."""
    ref = {r["round"]: r for r in runs if r["name"] == "tclean"}
    return [(r, ref[r["round"]]) for r in runs if r["name"] == name]


def targets(runs, names, med):
    """The issue's three targets, each met or not, from the medians above."""
    dags = [n for n in names if n.startswith("DAG")]
    best = min(dags, key=lambda n: statistics.median(r["wall"] / t["wall"] for r, t in pairs(runs, n)))
    ratio = statistics.median(r["wall"] / t["wall"] for r, t in pairs(runs, best))
    outside = statistics.median(j["wall"] - j["casa"] for r in runs if "jobs" in r
                                for j in r["jobs"].values())
    largest = max(j["memory_mb"] for r in runs if "jobs" in r for j in r["jobs"].values())
    rows = [("whole DAG (CF stage included) / tclean, wall", "<= 0.60", f"{ratio:.2f} ({best})",
             ratio <= 0.6),
            ("a job's time outside CASA work, median", "< 3 s", f"{outside:.2f} s", outside < 3),
            ("largest job's peak memory vs tclean's", f"<= {med['tclean']['maxrss_mb']:.0f} MB",
             f"{largest:.0f} MB", largest <= med["tclean"]["maxrss_mb"])]
    return "\n".join(["| target | goal | measured | met |", "|---|---|---|---|"] +
                     [f"| {a} | {b} | {c} | {'yes' if ok else '**no**'} |" for a, b, c, ok in rows])


def stage_table(runs, names):
    dags = [n for n in names if n.startswith("DAG")]
    lines = ["Time per stage (s; first job started to last ended, summed over cycles; medians):", "",
             "| stage | " + " | ".join(dags) + " |", "|---|" + "---|" * len(dags)]
    for stage in criticalpath.STAGES:
        cells = [statistics.median(r["stages"][stage] for r in runs if r["name"] == n) for n in dags]
        lines.append(f"| {stage} | " + " | ".join(f"{c:.1f}" for c in cells) + " |")
    return "\n".join(lines)


def overhead_table(runs, names):
    """Per job: time outside CASA work (start, imports, copies, publishing)."""
    lines = ["Time of a job outside CASA work (s; over every job of every round):", "",
             "| run | jobs | median | largest | largest in |", "|---|---|---|---|---|"]
    for n in (n for n in names if n.startswith("DAG")):
        outside = [(j["wall"] - j["casa"], node) for r in runs if r["name"] == n
                   for node, j in r["jobs"].items()]
        worst = max(outside)
        lines.append(f"| {n} | {len(outside)} | {statistics.median(o for o, _ in outside):.2f} | "
                     f"{worst[0]:.2f} | {worst[1]} |")
    return "\n".join(lines)


def cf_table(runs):
    """What the gridding jobs of each SPW group are given of the CF cache (issue 16's
    target: at most the group's share plus 10%), from the first round's runs."""
    lines = ["CF cache given to a gridding job (MB), with SPW groups against the whole cache "
             "(cfcache.subset; conjbeams also needs the CFs of the SPWs mirrored about "
             "reffreq):", "", "| run | SPW group | MB | of the cache | the group's rows | "
             "share + 10% met |", "|---|---|---|---|---|---|"]
    for r in (r for r in runs if r.get("partitionby", "time") != "time" and r["round"] == 1):
        whole = r["cf_sent"]["all"][0]
        for group, (cf_bytes, share) in r["cf_sent"].items():
            if group != "all":
                lines.append(f"| {r['name']} | {group} | {cf_bytes / 1e6:.1f} | "
                             f"{cf_bytes / whole:.2f} | {share:.2f} | "
                             f"{'yes' if cf_bytes / whole <= share + 0.1 else 'no'} |")
    return "\n".join(lines)


def memory_table(runs):
    """Per job kind: the largest peak measured and what resources.py requested."""
    kinds = jobkinds.NAMES
    tclean = max((r["maxrss_mb"] for r in runs if r["name"] == "tclean"), default=0)
    lines = ["Memory per job kind (MB): largest peak resident memory measured, and the "
             f"request_memory of resources.py in that run (tclean's largest process: {tclean:.0f}):",
             "", "| run | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    for r in (r for r in runs if "jobs" in r):
        peaks = {k: max((j["memory_mb"] for node, j in r["jobs"].items()
                         if jobkinds.kind_of(node) == k), default=0) for k in kinds}
        lines.append(f"| {r['name']} r{r.get('round', 1)} | " + " | ".join(
            f"{peaks[k]} / {r['requested_mb'][k]}" + (" **over**" if peaks[k] > r["requested_mb"][k]
                                                      else "") for k in kinds) + " |")
    return "\n".join(lines)


def plot(out, runs, names, med):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    ax.bar(names, [med[n]["wall"] for n in names], color="lightgrey", label="wall time (median)")
    for n in names:
        walls = [r["wall"] for r in runs if r["name"] == n]
        ax.plot([n] * len(walls), walls, "k.", label="each round" if n == names[0] else None)
    ax.set_ylabel("wall time (s)")
    ax.set_title("imaging: monolithic tclean and the DAG (local runner)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "bench.png"))
    plt.close(fig)


def folder_mb(path, follow=False):
    """MB of the files under path (follow: through symbolic links, as tar -h packs them)."""
    return sum(os.path.getsize(os.path.join(d, f))
               for d, _, fs in os.walk(path, followlinks=follow) for f in fs) / 1e6



if __name__ == "__main__":
    main()
