"""MSpartition: every row in exactly one sub-MS, integrations never split.

Checked against the input MS itself, read with CASA's table tool, and against
partitions derived by hand.
"""
import numpy as np
import pytest

import dagutils
from conftest import PYTHON, folder_digest, new_run, run

COLUMNS = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "DATA", "FLAG", "WEIGHT")


def columns(ms):
    from casatools import table
    tb = table()
    tb.open(str(ms), nomodify=True)
    try:
        return {c: tb.getcol(c) for c in COLUMNS}
    finally:
        tb.close()


def row_keys(cols):
    return np.rec.fromarrays([cols["TIME"], cols["ANTENNA1"], cols["ANTENNA2"],
                              cols["DATA_DESC_ID"]])


@pytest.fixture(scope="module")
def partitioned(session_dir, shared, sim_ms):
    """Three sub-MSes of the session's MS, made by the MSpartition script."""
    before = folder_digest(sim_ms)
    size = int(1.1e6 + 22e6 / 3)  # sub-tables of ~1.1 MB plus a third of ~21.4 MB of rows
    rundir = new_run(session_dir / "partition", {**shared, "maxsubmssize": size})
    run([PYTHON, "scripts/MSpartition.py"], cwd=rundir)
    assert folder_digest(sim_ms) == before, "the input MS was modified"
    return rundir, sorted((rundir / "products" / "subms").glob("*.ms"))


def test_every_row_exactly_once(partitioned, sim_ms):
    rundir, subms = partitioned
    assert len(subms) == 3
    original = columns(sim_ms)
    parts = [columns(ms) for ms in subms]
    keys = np.concatenate([row_keys(p) for p in parts])
    assert len(keys) == len(original["TIME"])
    assert np.array_equal(np.sort(keys), np.sort(row_keys(original)))


def test_row_contents_are_copied_exactly(partitioned, sim_ms):
    _, subms = partitioned
    original = columns(sim_ms)
    order = np.argsort(row_keys(original), kind="stable")
    merged = {c: np.concatenate([columns(ms)[c] for ms in subms], axis=-1) for c in COLUMNS}
    morder = np.argsort(row_keys(merged), kind="stable")
    for c in ("DATA", "FLAG", "WEIGHT"):
        assert np.array_equal(original[c][..., order], merged[c][..., morder]), c


def test_integrations_are_not_split(partitioned):
    _, subms = partitioned
    times = [set(np.unique(columns(ms)["TIME"])) for ms in subms]
    for a in range(len(times)):
        for b in range(a + 1, len(times)):
            assert not times[a] & times[b], f"sub-MSes {a + 1} and {b + 1} share an integration"
    spans = [(min(t), max(t)) for t in times]
    assert all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))


def test_subdag_has_one_node_per_subms(partitioned):
    rundir, subms = partitioned
    text = (rundir / "products" / "allImagers.dag").read_text()
    jobs = [line.split() for line in text.splitlines() if line.startswith("JOB ")]
    assert [j[1] for j in jobs] == ["allImagers_c0_n1", "allImagers_c0_n2", "allImagers_c0_n3"]
    assert all(j[2] == "htc/allImagers.htc" for j in jobs)
    for k, ms in enumerate(subms, start=1):
        assert f'VARS allImagers_c0_n{k} part="n{k}" subms="products/subms/{ms.name}" cycle="0"' in text
        assert f"RETRY allImagers_c0_n{k} 2" in text


def test_rerun_keeps_finished_subms(partitioned):
    rundir, subms = partitioned
    before = [ms.stat().st_mtime for ms in subms]
    run([PYTHON, "scripts/MSpartition.py"], cwd=rundir)
    assert [ms.stat().st_mtime for ms in subms] == before


# ---- the plan, on integrations laid out by hand
def test_plan_balances_whole_integrations():
    times, counts = list(range(10)), [100] * 10
    # 10 integrations of 100 rows of 10 bytes, 500 bytes of sub-tables:
    # 4000 bytes hold 3 integrations (3500) -> 4 parts of 3,2,3,2 or similar
    ranges = dagutils.plan_partitions(times, counts, 10, 500, 4000)
    assert len(ranges) == 4
    assert ranges[0][0] == 0 and ranges[-1][1] == 9
    assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:]))
    assert all(500 + dagutils.rows(counts, r) * 10 <= 4000 for r in ranges)


def test_plan_one_part_when_it_fits():
    assert dagutils.plan_partitions([0, 1], [5, 5], 10, 0, 100) == [(0, 1)]


def test_plan_refuses_size_below_one_integration():
    with pytest.raises(dagutils.PartitionError, match="maxsubmssize"):
        dagutils.plan_partitions([0, 1], [100, 100], 10, 500, 1000)


def test_time_bounds_separate_neighbours():
    assert dagutils.time_bounds([0.0, 10.0, 20.0], (1, 1)) == (5.0, 15.0)


def test_size_below_one_integration_stops_with_the_parameter(session_dir, shared):
    """One integration of the session's MS is 351 baselines x 4 SPWs = 1404 rows (~0.36 MB)
    plus ~1.1 MB of sub-tables: 1 MB cannot hold it."""
    rundir = new_run(session_dir / "too_small", {**shared, "maxsubmssize": "1MB"})
    proc = run([PYTHON, "scripts/MSpartition.py"], cwd=rundir, check=False)
    assert proc.returncode == dagutils.INPUT_EXIT      # (its RETRY says: do not try again)
    assert proc.stderr.strip().splitlines()[-1].startswith("MSpartition: maxsubmssize = ")
    assert not (rundir / "products" / "subms").exists()
