"""make bench's own pieces: what it reads of an MS, and how it reports the larger images
against the issue's targets (the benchmark itself runs for an hour: `make bench`)."""
import os

import pytest

from tools import bench, criticalpath


@pytest.mark.casa
def test_layout_of_the_session_ms(sim_ms):
    """The scaling model's rows and bytes: 84 240 rows (tools/simulate.py's default: 351
    baselines x 4 SPWs x 60 integrations), and about the main table's size on disk."""
    layout = bench.layout(str(sim_ms))
    assert layout["rows"] == 351 * 4 * 60
    on_disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(sim_ms) for f in fs)
    assert 0.5 * on_disk < layout["bytes"] <= 1.05 * on_disk


def large_run(n, tclean, dag, gridding_mb=900):
    from imaging import jobkinds
    stages = {stage: 1.0 for stage in criticalpath.STAGES}
    jobs = {"allImagers_c0_n1": {"memory_mb": gridding_mb}, "restore": {"memory_mb": 700}}
    return {"imsize": n, "cell": "1arcsec", "nparts": 2, "difference": 1e-7,
            "tclean": {"wall": tclean, "nmajordone": 5, "maxrss_mb": 2000},
            "dag": {"wall": dag, "cycles": 5, "stages": stages, "jobs": jobs,
                    "requested_mb": {kind: 1000 for kind in jobkinds.NAMES}}}


@pytest.mark.fast
def test_larger_images_are_reported_against_the_targets():
    """At most 0.6 of tclean's wall time at 2048^2 and 0.7 at 4096^2 (issue 19): 0.55 meets
    the first, 0.75 misses the second; 1024^2 has no target.  Every job's memory against
    its request: a gridding job of 1200 MB at 4096^2 is over its 1000 MB."""
    lines = bench.large_report([large_run(1024, 100.0, 80.0), large_run(2048, 200.0, 110.0),
                                large_run(4096, 400.0, 300.0, gridding_mb=1200)])
    rows = {line.split(" | ")[0]: line for line in lines if line.startswith("| ")}
    assert "| 0.80 | - |" in rows["| 1024^2"]
    assert "| 0.55 | <= 0.6 |" in rows["| 2048^2"]
    assert "| 0.75 | <= 0.7 **not met** |" in rows["| 4096^2"]
    assert "| gridding | 1.0 | 1.0 | 1.0 |" in lines
    memory = {line.split(" | ")[0]: line for line in "\n".join(lines).splitlines() if "^2 r1" in line}
    assert "**over**" not in memory["| DAG 2048^2 r1"]
    assert "| 1200 / 1000 **over** |" in memory["| DAG 4096^2 r1"]
    assert "| 700 / 1000 |" in memory["| DAG 4096^2 r1"]


def job(start, end):
    return {"start": start, "end": end}


# A run that started at t=100 and ended at t=190: CF stage and partition until 130, two
# major cycles of 2 gridding jobs, then restore.
JOBS = {"CFdry": job(101, 104), "CFfill_0": job(105, 125), "CFfill_1": job(105, 127),
        "CFmerge": job(128, 129), "MSpartition": job(105, 110),
        "allImagers_c0_n1": job(130, 140), "allImagers_c0_n2": job(131, 142),
        "addImages": job(143, 145), "deconvolve": job(146, 150),
        "allImagers_c1_n1": job(152, 160), "allImagers_c1_n2": job(152, 161),
        "addImages_c1": job(162, 163), "deconvolve_c1": job(164, 167),
        "restore": job(168, 185)}


@pytest.mark.fast
def test_critical_path_splits_a_run_into_fixed_costs_and_cycles():
    """Worked out by hand from JOBS: 30 s until the first gridding job; cycle 0 from 130
    to 150 (gridding 12, add 2, deconvolve 4, waits 2); cycle 1 from 150 to 167 (9, 1, 3,
    waits 4: 2 before its first job, 1 between each stage); 23 s of restore and after.
    The parts add up to the run's 90 s."""
    path = criticalpath.breakdown(JOBS, 100, 190)
    assert path["until the first gridding job"] == 30
    assert path["cycles"] == [
        {"gridding": 12, "add/normalize": 2, "deconvolve": 4, "waits": 2, "cycle": 20},
        {"gridding": 9, "add/normalize": 1, "deconvolve": 3, "waits": 4, "cycle": 17}]
    assert path["restore and after"] == 23
    assert 30 + 20 + 17 + 23 == 190 - 100


@pytest.mark.fast
def test_small_data_is_reported_against_the_target_with_its_fixed_costs():
    """At most 0.6 of tclean's wall time on small data (issue 16): 90 s against 160 s
    (0.56) meets it; the critical path of JOBS appears as its parts."""
    run = {"name": "sim_evla.ms", "round": 1, "mb": 22.0, "layout": {"rows": 84240}, "nparts": 2,
           "tclean": {"wall": 160.0, "nmajordone": 2}, "difference": 2e-7,
           "dag": {"wall": 90.0, "cycles": 2, "fixed": criticalpath.breakdown(JOBS, 100, 190)}}
    lines = bench.small_report([run])
    assert "| sim_evla.ms | 22 | 84240 | 2 | 160.0 | 90.0 | 0.56 | <= 0.6 | 2 / 2 | 2.0e-07 |" in lines
    assert "| sim_evla.ms | 30 | 12 / 2 / 4 / 2 | 9.0 / 1.0 / 3.0 / 4.0 | 23 |" in lines


@pytest.mark.fast
def test_the_cf_cache_each_spw_group_is_given_is_measured_through_its_links(tmp_path):
    """A run with 2 SPW groups: the cache holds a 100-byte and a 300-byte CF; group 0-1
    (30 of 40 rows) is given a link to the first, group 2-3 (10 rows) links to both
    (as conjugate beams call for), and each subset's `.source` link to the whole cache
    is not what it is given.  By hand: 100 bytes, 0.25 of the cache, within 0.75 + 0.1;
    400 bytes, all of it, above 0.25 + 0.1."""
    from imaging import products
    cache = tmp_path / "cfcache" / "bench.cf"
    for name, size in (("CFS_0.im", 100), ("CFS_1.im", 300)):
        (cache / name).mkdir(parents=True)
        (cache / name / "table.f0").write_bytes(b"x" * size)
    plan = {"partitionby": "spw", "nrows": 40,
            "parts": [{"part": "n1", "spws": [0, 1], "nrows": 30},
                      {"part": "n2", "spws": [2, 3], "nrows": 10}]}
    products.write_json(str(tmp_path / products.PLAN), plan)
    for group, names in (("spw0_1", ["CFS_0.im"]), ("spw2_3", ["CFS_0.im", "CFS_1.im"])):
        subset = tmp_path / "products" / "cfsubsets" / group / "bench.cf"
        subset.mkdir(parents=True)
        for name in names:
            (subset / name).symlink_to(cache / name)
        (subset.parent / "bench.cf.source").symlink_to(cache)
    sent = bench.cf_sent(str(tmp_path))
    assert sent == {"all": [400, 1.0], "spw0_1": [100, 0.75], "spw2_3": [400, 0.25]}
    table = bench.cf_table([{"name": "DAG 2 spw", "round": 1, "partitionby": "spw",
                             "cf_sent": sent}])
    assert "| DAG 2 spw | spw0_1 | 0.0 | 0.25 | 0.75 | yes |" in table
    assert "| DAG 2 spw | spw2_3 | 0.0 | 1.00 | 0.25 | no |" in table
