"""Where a whole DAG run's wall time went, along its critical path: the fixed costs per
run and per major cycle that `make bench` reports for small data (issue 16, part 5).

From the jobs' start and end times (the job log, as bench.job_times reads it) and
the run's own start and end:

- "until the first gridding job": checking the parameters, the CF cache (dry run,
  fill jobs, merge), the partition and, with uniform or Briggs weighting, the weight
  density, up to the start of cycle 0's first gridding job;
- per major cycle: the gridding jobs (first started to last ended), add/normalize
  (with addParts), deconvolve, and the waits between them and before the cycle's
  first job (a DAG level: the PRE scripts, the runner starting the next node);
- "restore and after": from the last cycle's deconvolve job to the end of the run.

The parts add up to the run's wall time (to the job log's 1 s resolution).
"""
import re

# The DAG's stages by node name (first job started to last ended, per major cycle).
STAGES = {"CF dry run": r"CFdry$", "CF fill": r"CFfill_\d+$", "CF merge": r"CFmerge$",
          "partition": r"MSpartition$", "weight density": r"weights(_n\d+|Sum)$",
          "gridding": r"allImagers_c\d+_n\d+$",
          "add/normalize": r"(addImages(_c\d+)?|addParts_c\d+_g\d+)$", "deconvolve": r"deconvolve(_c\d+)?$",
          "restore": r"restore$"}
CYCLE_STAGES = ("gridding", "add/normalize", "deconvolve")


def spans(jobs):
    """Stage -> major cycle (0 for a node without one) -> (first start, last end) of its
    jobs."""
    found = {stage: {} for stage in STAGES}
    for node, job in jobs.items():
        for stage, pattern in STAGES.items():
            if re.match(pattern, node):
                m = re.search(r"_c(\d+)", node)
                cycle = int(m.group(1)) if m else 0
                first, last = found[stage].get(cycle, (job["start"], job["end"]))
                found[stage][cycle] = (min(first, job["start"]), max(last, job["end"]))
    return found


def stage_times(jobs):
    """Stage -> seconds from its first job's start to its last job's end, summed over cycles."""
    return {stage: sum(last - first for first, last in cycles.values())
            for stage, cycles in spans(jobs).items()}


def cycle_spans(jobs):
    """cycle -> stage -> (first start, last end) of its jobs, for the stages of a cycle."""
    by_cycle = {}
    for stage, cycles in spans(jobs).items():
        if stage in CYCLE_STAGES:
            for cycle, span in cycles.items():
                by_cycle.setdefault(cycle, {})[stage] = span
    return by_cycle


def breakdown(jobs, started, ended):
    """{"until the first gridding job": s, "cycles": [{stage: s, "waits": s, "cycle": s}],
    "restore and after": s}; started, ended: the run's own start and end (epoch s)."""
    spans = cycle_spans(jobs)
    cycles, mark = [], None
    for c in sorted(spans):
        stages = spans[c]
        begin = stages["gridding"][0] if mark is None else mark
        end = max(last for _, last in stages.values())
        busy = {stage: last - first for stage, (first, last) in stages.items()}
        cycles.append({**busy, "waits": (end - begin) - sum(busy.values()), "cycle": end - begin})
        mark = end
    first_grid = spans[min(spans)]["gridding"][0] if spans else ended
    return {"until the first gridding job": first_grid - started, "cycles": cycles,
            "restore and after": ended - (mark if mark is not None else first_grid)}
