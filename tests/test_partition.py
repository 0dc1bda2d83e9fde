"""MSpartition: every row in exactly one sub-MS, integrations never split.

Checked against the input MS itself, read with CASA's table tool, and against
partitions derived by hand.
"""
import numpy as np
import pytest

from imaging import cfcache, parameters, partitioning

from helpers import COLUMNS, PYTHON, ROOT, columns, disk_bytes, folder_digest, new_run, row_keys, run


@pytest.fixture(scope="module")
def partitioned(session_dir, shared, sim_ms):
    """Three sub-MSes of the session's MS, made by the MSpartition script."""
    before = folder_digest(sim_ms)
    size = int(1.1e6 + 22e6 / 3)  # sub-tables of ~1.1 MB plus a third of ~21.4 MB of rows
    rundir = new_run(session_dir / "partition", {**shared, "maxsubmssize": size})
    run([PYTHON, "scripts/MSpartition.py"], cwd=rundir)
    assert folder_digest(sim_ms) == before, "the input MS was modified"
    return rundir, sorted((rundir / "products" / "subms").glob("*.ms"))


@pytest.mark.casa
def test_every_row_exactly_once(partitioned, sim_ms):
    rundir, subms = partitioned
    assert len(subms) == 3
    original = columns(sim_ms)
    parts = [columns(ms) for ms in subms]
    keys = np.concatenate([row_keys(p) for p in parts])
    assert len(keys) == len(original["TIME"])
    assert np.array_equal(np.sort(keys), np.sort(row_keys(original)))


@pytest.mark.casa
def test_row_contents_are_copied_exactly(partitioned, sim_ms):
    _, subms = partitioned
    original = columns(sim_ms)
    order = np.argsort(row_keys(original), kind="stable")
    merged = {c: np.concatenate([columns(ms)[c] for ms in subms], axis=-1) for c in COLUMNS}
    morder = np.argsort(row_keys(merged), kind="stable")
    for c in ("DATA", "FLAG", "WEIGHT"):
        assert np.array_equal(original[c][..., order], merged[c][..., morder]), c


@pytest.mark.casa
def test_integrations_are_not_split(partitioned):
    _, subms = partitioned
    times = [set(np.unique(columns(ms)["TIME"])) for ms in subms]
    for a in range(len(times)):
        for b in range(a + 1, len(times)):
            assert not times[a] & times[b], f"sub-MSes {a + 1} and {b + 1} share an integration"
    spans = [(min(t), max(t)) for t in times]
    assert all(spans[i][1] < spans[i + 1][0] for i in range(len(spans) - 1))


@pytest.mark.casa
def test_subdag_has_one_node_per_subms(partitioned):
    rundir, subms = partitioned
    text = (rundir / "products" / "allImagers.dag").read_text()
    jobs = [line.split() for line in text.splitlines() if line.startswith("JOB ")]
    assert [j[1] for j in jobs] == ["allImagers_c0_n1", "allImagers_c0_n2", "allImagers_c0_n3"]
    assert all(j[2] == "htc/allImagers.htc" for j in jobs)
    for k, ms in enumerate(subms, start=1):
        assert f'VARS allImagers_c0_n{k} part="n{k}" subms="products/subms/{ms.name}" cycle="0"' in text
        assert f"RETRY allImagers_c0_n{k} 2" in text


@pytest.mark.casa
def test_rerun_keeps_finished_subms(partitioned):
    rundir, subms = partitioned
    before = [ms.stat().st_mtime for ms in subms]
    run([PYTHON, "scripts/MSpartition.py"], cwd=rundir)
    assert [ms.stat().st_mtime for ms in subms] == before


# ---- the plan, on integrations laid out by hand
@pytest.mark.fast
def test_plan_balances_whole_integrations():
    counts = [100] * 10
    # 10 integrations of 100 rows of 10 bytes, 500 bytes of sub-tables:
    # 4000 bytes hold 3 integrations (3500) -> 4 parts of 3,2,3,2 or similar
    ranges = partitioning.plan_partitions(counts, 10, 500, 4000)
    assert len(ranges) == 4
    assert ranges[0][0] == 0 and ranges[-1][1] == 9
    assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:]))
    assert all(500 + partitioning.rows(counts, r) * 10 <= 4000 for r in ranges)


@pytest.mark.fast
def test_plan_one_part_when_it_fits():
    assert partitioning.plan_partitions([5, 5], 10, 0, 100) == [(0, 1)]


@pytest.mark.fast
def test_plan_keeps_below_the_rows_a_written_sub_ms_showed_too_many():
    """The estimate allows 3 integrations of 100 rows per part; written sub-MSes of 300
    rows were too large (max_rows = 299): parts of at most 2 integrations, 5 of them."""
    ranges = partitioning.plan_partitions([100] * 10, 10, 500, 4000, max_rows=299)
    assert [partitioning.rows([100] * 10, r) for r in ranges] == [200] * 5


@pytest.mark.fast
def test_plan_refuses_size_below_one_integration():
    with pytest.raises(partitioning.PartitionError, match="maxsubmssize"):
        partitioning.plan_partitions([100, 100], 10, 500, 1000)


@pytest.mark.fast
def test_time_bounds_separate_neighbours():
    assert partitioning.time_bounds([(0.0, 0.0), (10.0, 10.0), (20.0, 20.0)], (1, 1)) == (5.0, 15.0)


@pytest.mark.fast
def test_time_bounds_lie_between_jittered_integrations():
    """Halfway from the last time of one integration to the first of the next."""
    spans = [(0.0, 1.5), (10.0, 10.04), (19.94, 20.0)]
    assert partitioning.time_bounds(spans, (1, 1)) == (5.75, 14.99)


@pytest.mark.fast
def test_integrations_group_jittered_times():
    """Three baselines, three 10 s integrations; each baseline's TIME jitters by up to
    1.5 s and INTERVAL (0.04 s) is wrong, as in the real EVLA data: three groups by hand."""
    times = np.array([0.0, 0.5, 1.5, 10.0, 10.04, 9.96, 20.0, 20.0, 19.94])
    baselines = np.array([1, 2, 3] * 3)
    spans, counts = partitioning.integrations(times, baselines, 0.04)
    assert spans == [(0.0, 1.5), (9.96, 10.04), (19.94, 20.0)]
    assert counts == [3, 3, 3]


@pytest.mark.fast
def test_integrations_across_a_scan_gap():
    """Two baselines, 10 s integrations in two scans 280 s apart: the median step per
    baseline stays 10 s, so each of the five integrations is its own group."""
    starts = [0.0, 10.0, 20.0, 300.0, 310.0]
    times = np.repeat(starts, 2) + np.tile([0.0, 0.3], 5)
    spans, counts = partitioning.integrations(times, np.tile([1, 2], 5), 0.04)
    assert spans == [(t, t + 0.3) for t in starts] and counts == [2] * 5


@pytest.mark.fast
def test_integrations_trust_interval_when_baselines_do_not_repeat():
    """One row per baseline: the median step is unknown; INTERVAL (10 s) rules."""
    spans, counts = partitioning.integrations(np.array([0.0, 0.3, 10.0]), np.array([1, 2, 3]), 10.0)
    assert (spans, counts) == ([(0.0, 0.3), (10.0, 10.0)], [2, 1])


@pytest.mark.casa
def test_size_below_one_integration_stops_with_the_parameter(session_dir, shared):
    """One integration of the session's MS is 351 baselines x 4 SPWs = 1404 rows (~0.36 MB)
    plus ~1.1 MB of sub-tables: 1 MB cannot hold it."""
    rundir = new_run(session_dir / "too_small", {**shared, "maxsubmssize": "1MB"})
    proc = run([PYTHON, "scripts/MSpartition.py"], cwd=rundir, check=False)
    assert proc.returncode == parameters.INPUT_EXIT      # (its RETRY says: do not try again)
    assert proc.stderr.strip().splitlines()[-1].startswith("MSpartition: maxsubmssize = ")
    assert not (rundir / "products" / "subms").exists()


@pytest.mark.casa
@pytest.mark.parametrize("size", [2_000_000, 4_000_000])
def test_sub_ms_sizes_on_disk_stay_within_maxsubmssize(session_dir, shared, sim_ms, size):
    """Small sizes, where the tables' fixed costs and tile padding weigh most (at 4 MB the
    first plan's sub-MSes of 8 integrations took 4.08 MB on disk): every sub-MS written,
    measured file by file, is at most maxsubmssize, and together they hold every row."""
    rundir = new_run(session_dir / f"small_{size}", {**shared, "maxsubmssize": size})
    run([PYTHON, "scripts/MSpartition.py"], cwd=rundir)
    subms = sorted((rundir / "products" / "subms").glob("*.ms"))
    assert len(subms) > 1
    assert max(disk_bytes(ms) for ms in subms) <= size
    assert sum(len(columns(ms)["TIME"]) for ms in subms) == len(columns(sim_ms)["TIME"])


# ---- partitionby: SPW groups, and SPW groups split along time (layouts made by hand)
def layout_of(windows, bytes_per_row=10, overhead=500, spacing=10.0):
    """A Layout of integrations `spacing` s apart; windows: [(spw, ddids, rows per
    integration)]."""
    windows = [partitioning.Window(s, tuple(d), list(c)) for s, d, c in windows]
    counts = partitioning.group_counts(windows)
    spans = [(i * spacing, i * spacing + 0.5) for i in range(len(counts))]
    return partitioning.Layout(spans, counts, bytes_per_row, overhead, windows)


def cells_of(part, layout):
    """The (integration, SPW) cells whose rows a planned part's query selects: the same
    test as the TaQL of partitioning.row_query, on each integration's times."""
    lo, hi = part.time_bounds
    return {(i, w.spw) for i, (first, last) in enumerate(layout.spans)
            for w in layout.windows
            if w.counts[i] and lo < first and last < hi
            and (part.ddids is None or set(w.ddids) <= set(part.ddids))}


def assert_every_row_once(parts, layout, maxsize):
    """Every (integration, SPW) cell with rows in exactly one part (so every row once and
    no integration of an SPW split), each part at most maxsize as estimated, and each
    part's row count the rows of its cells."""
    seen = [c for p in parts for c in cells_of(p, layout)]
    cells = {(i, w.spw) for w in layout.windows for i, n in enumerate(w.counts) if n}
    assert sorted(seen) == sorted(cells)
    rows_of = {(i, w.spw): w.counts[i] for w in layout.windows for i in range(len(w.counts))}
    for p in parts:
        assert p.nrows == sum(rows_of[c] for c in cells_of(p, layout))
        assert layout.overhead + p.nrows * layout.bytes_per_row <= maxsize


@pytest.mark.fast
def test_plan_by_time_is_the_time_plan():
    """partitionby = 'time' plans as before: the time ranges of plan_partitions over the
    integrations' rows, every SPW in each, no data-description clause."""
    layout = layout_of([(0, [0], [50] * 10), (1, [1], [50] * 10)])
    parts = partitioning.plan("time", layout, 4000)
    ranges = partitioning.plan_partitions(layout.counts, 10, 500, 4000)
    assert [p.time_bounds for p in parts] == [partitioning.time_bounds(layout.spans, r) for r in ranges]
    assert all(p.ddids is None and p.spws is None for p in parts)
    assert partitioning.row_query(parts[0]._asdict()) == \
        f"TIME > {parts[0].time_bounds[0]!r} && TIME < {parts[0].time_bounds[1]!r}"
    assert_every_row_once(parts, layout, 4000)


@pytest.mark.fast
def test_plan_by_spw_groups_whole_windows():
    """4 SPWs of 10 integrations x 100 rows (10 000 bytes each), 500 bytes of sub-tables:
    25 000 bytes hold two SPWs (20 500), not three (30 500): 2 groups of 2, each over the
    whole observation."""
    layout = layout_of([(s, [s], [100] * 10) for s in range(4)])
    parts = partitioning.plan("spw", layout, 25_000)
    assert [p.spws for p in parts] == [[0, 1], [2, 3]]
    assert [p.ddids for p in parts] == [[0, 1], [2, 3]]
    assert all(p.integrations == 10 and p.nrows == 2000 for p in parts)
    assert partitioning.row_query(parts[1]._asdict()).endswith(" && DATA_DESC_ID IN [2, 3]")
    assert_every_row_once(parts, layout, 25_000)


@pytest.mark.fast
def test_plan_by_spw_keeps_the_data_descriptions_of_one_window_together():
    """SPW 1 has two data descriptions (1 and 3: two polarization set-ups): one group."""
    layout = layout_of([(0, [0], [100] * 4), (1, [1, 3], [100] * 4), (2, [2], [100] * 4)])
    parts = partitioning.plan("spw", layout, 500 + 4000)
    assert [p.ddids for p in parts] == [[0], [1, 3], [2]]
    assert_every_row_once(parts, layout, 4500)


@pytest.mark.fast
def test_plan_by_spw_refuses_a_window_larger_than_maxsubmssize():
    layout = layout_of([(0, [0], [100] * 10), (1, [1], [100] * 10)])
    with pytest.raises(partitioning.PartitionError,
                       match=r"maxsubmssize = 9000 .*partitionby = 'spw'.*spectral window 0.*'both'"):
        partitioning.plan("spw", layout, 9000)


@pytest.mark.fast
def test_plan_by_both_splits_each_group_along_time():
    """2 SPWs of 10 integrations x 100 rows; 6500 bytes hold 6 integrations of one SPW:
    4 sub-MSes would do by size, at most one group per SPW, so 2 groups, each in 2 time
    ranges of 5 integrations."""
    layout = layout_of([(0, [0], [100] * 10), (1, [1], [100] * 10)])
    parts = partitioning.plan("both", layout, 6500)
    assert [(p.spws, p.integrations) for p in parts] == [([0], 5), ([0], 5), ([1], 5), ([1], 5)]
    assert_every_row_once(parts, layout, 6500)


@pytest.mark.fast
def test_plan_by_both_is_one_part_when_it_fits():
    layout = layout_of([(0, [0], [10] * 3), (1, [1], [10] * 3)])
    parts = partitioning.plan("both", layout, 10_000)
    assert [(p.spws, p.integrations, p.nrows) for p in parts] == [([0, 1], 3, 60)]


@pytest.mark.fast
def test_plan_by_both_skips_integrations_without_the_groups_rows():
    """SPW 1 observed only in the second half: its sub-MSes hold only those integrations,
    and SPW 0's time ranges reach over the second half (no rows of SPW 0 there)."""
    layout = layout_of([(0, [0], [100] * 4 + [0] * 4), (1, [1], [0] * 4 + [100] * 4)])
    parts = partitioning.plan("both", layout, 2600)
    assert [(p.spws, p.integrations) for p in parts] == [([0], 2), ([0], 2), ([1], 2), ([1], 2)]
    assert_every_row_once(parts, layout, 2600)


@pytest.mark.fast
def test_plan_by_both_refuses_an_integration_of_one_window_too_large():
    layout = layout_of([(0, [0], [100] * 2), (1, [1], [100] * 2)])
    with pytest.raises(partitioning.PartitionError, match="maxsubmssize = 1400 .*one integration of one"):
        partitioning.plan("both", layout, 1400)


@pytest.mark.fast
@pytest.mark.parametrize("mode", parameters.PARTITION_MODES)
def test_plan_every_row_once_on_random_layouts(mode):
    """Random layouts (SPWs missing from some integrations, uneven rows, some SPWs with
    two data descriptions) and sizes from one integration of one SPW up to the whole MS:
    every mode puts every cell in exactly one part within the size, or refuses naming
    maxsubmssize."""
    rng = np.random.default_rng(16)
    planned = 0
    for _ in range(200):
        nspw, nint = rng.integers(1, 6), rng.integers(1, 12)
        windows, dd = [], 0
        for s in range(nspw):
            counts = (rng.integers(1, 50, nint) * (rng.random(nint) < 0.8)).tolist()
            if not any(counts):
                counts[0] = 1
            ndd = int(rng.integers(1, 3))
            windows.append((s, list(range(dd, dd + ndd)), counts))
            dd += ndd
        layout = layout_of(windows, bytes_per_row=int(rng.integers(1, 20)),
                           overhead=int(rng.integers(0, 100)))
        maxsize = int(layout.overhead + layout.bytes_per_row * rng.integers(1, sum(layout.counts) + 1))
        try:
            parts = partitioning.plan(mode, layout, maxsize)
        except partitioning.PartitionError as e:
            assert "maxsubmssize" in str(e)
            unit = partitioning.smallest_unit(mode, layout)
            assert layout.overhead + unit * layout.bytes_per_row > maxsize or mode == "spw"
            continue
        assert_every_row_once(parts, layout, maxsize)
        planned += 1
    assert planned > 50


@pytest.mark.fast
def test_gridjobs_rounds_the_time_plan_up_to_fill_every_wave():
    """10 integrations of 100 rows, 4500 bytes hold 4 integrations: 3 sub-MSes by size
    (3 or 4 integrations each), which run on 2 slots as 2 + 1 jobs; with gridjobs = 2,
    4 balanced ones (2 or 3 integrations), 2 + 2 shorter jobs.  More slots than integrations: one
    integration each."""
    layout = layout_of([(0, [0], [100] * 10)])
    assert sorted(p.integrations for p in partitioning.plan("time", layout, 4500)) == [3, 3, 4]
    parts = partitioning.plan("time", layout, 4500, multiple=2)
    assert sorted(p.integrations for p in parts) == [2, 2, 3, 3]
    assert_every_row_once(parts, layout, 4500)
    assert len(partitioning.plan("time", layout, 4500, multiple=16)) == 10
    assert len(partitioning.plan("time", layout, 100_000, multiple=3)) == 3


@pytest.mark.fast
def test_the_shipped_maxsubmssize_makes_one_sub_ms_per_core_of_a_first_ms():
    """params/imaging.py as shipped, on make data's MS (60 integrations of 1404 rows of
    about 250 bytes: 22 MB) on 2 cores: 2 sub-MSes, not the 3 (or 4 in waves) of a
    maxsubmssize smaller than the MS; an MS of 300 GB (60 000 integrations of 20 000
    rows of 250 bytes) in sub-MSes of at most 2 GB: a sub-MS holds (2e9 - 1e5) / 5e6
    -> 399 integrations, 60 000 / 399 -> 151 sub-MSes, 152 for 2 cores."""
    shipped = parameters.read_assignments(ROOT / "params" / "imaging.py")["maxsubmssize"]
    shipped = parameters.parse_size(shipped)
    first = layout_of([(0, [0], [1404] * 60)], bytes_per_row=250, overhead=100_000)
    assert len(partitioning.plan("time", first, shipped, multiple=2)) == 2
    big = layout_of([(0, [0], [20_000] * 60_000)], bytes_per_row=250, overhead=100_000)
    assert len(partitioning.plan("time", big, shipped, multiple=2)) == 152


@pytest.mark.fast
def test_gridjobs_splits_spw_groups_and_time_ranges_to_fill_every_wave():
    """4 SPWs of 10 x 100 rows: 2 groups by size (25 000 bytes) become 4 with gridjobs = 4,
    3 with gridjobs = 3; by SPW and time, 2 groups of 2 time ranges (6500 bytes) become 6
    with gridjobs = 3: the group whose parts hold the most rows is split once more."""
    layout = layout_of([(s, [s], [100] * 10) for s in range(4)])
    assert [p.spws for p in partitioning.plan("spw", layout, 25_000, multiple=4)] == [[0], [1], [2], [3]]
    assert len(partitioning.plan("spw", layout, 25_000, multiple=3)) == 3
    two = layout_of([(0, [0], [100] * 10), (1, [1], [100] * 10)])
    parts = partitioning.plan("both", two, 6500, multiple=3)
    assert sorted((p.spws, p.integrations) for p in parts) == \
        [([0], 3), ([0], 3), ([0], 4), ([1], 3), ([1], 3), ([1], 4)]
    assert_every_row_once(parts, two, 6500)


@pytest.mark.fast
@pytest.mark.parametrize("mode", parameters.PARTITION_MODES)
def test_gridjobs_keeps_every_row_once_and_rounds_up_on_random_layouts(mode):
    """Random layouts, sizes and gridjobs: every row in exactly one part within the size;
    as many parts as without gridjobs or more, a multiple of it unless every piece the
    plan never splits is a part of its own."""
    rng = np.random.default_rng(19)
    rounded = 0
    for _ in range(200):
        windows = [(s, [s], rng.integers(1, 50, int(rng.integers(1, 12))).tolist())
                   for s in range(int(rng.integers(1, 6)))]
        nint = max(len(w[2]) for w in windows)
        windows = [(s, d, c + [0] * (nint - len(c))) for s, d, c in windows]
        layout = layout_of(windows, bytes_per_row=4, overhead=10)
        maxsize = int(10 + 4 * rng.integers(max(layout.counts), sum(layout.counts) + 1))
        multiple = int(rng.integers(1, 5))
        try:
            least = partitioning.plan(mode, layout, maxsize)
        except partitioning.PartitionError:
            continue
        parts = partitioning.plan(mode, layout, maxsize, multiple=multiple)
        assert_every_row_once(parts, layout, maxsize)
        assert len(parts) >= len(least)
        pieces = {"time": sum(1 for c in layout.counts if c), "spw": len(layout.windows),
                  "both": sum(1 for w in layout.windows for c in w.counts if c)}[mode]
        assert len(parts) % multiple == 0 or len(parts) == pieces or mode == "both"
        rounded += len(parts) % multiple == 0 and len(parts) > len(least)
    assert rounded > 20


@pytest.mark.fast
def test_holds_selected_by_time_and_data_description():
    chosen = {0: [5.0, 15.0], 2: [25.0]}
    part = {"time_bounds": (10.0, 20.0), "ddids": None}
    assert partitioning.holds_selected(part, chosen)
    assert not partitioning.holds_selected({**part, "ddids": [1, 2]}, chosen)
    assert partitioning.holds_selected({"time_bounds": (20.0, 30.0), "ddids": [2]}, chosen)
    assert partitioning.holds_selected({**part, "ddids": [1]}, None)


@pytest.mark.fast
def test_spectral_windows_count_rows_per_integration_and_window():
    """Two integrations (times 0-0.5 and 10-10.5), data descriptions 0 and 2 of SPW 0,
    1 of SPW 1; rows counted by hand."""
    times = np.array([0.0, 0.5, 0.2, 10.0, 10.5, 10.0, 10.2])
    ddids = np.array([0, 1, 2, 0, 0, 1, 2])
    windows = partitioning.spectral_windows(times, ddids, [(0.0, 0.5), (10.0, 10.5)], [0, 1, 0])
    assert windows == [partitioning.Window(0, (0, 2), [2, 3]), partitioning.Window(1, (1,), [1, 1])]


@pytest.mark.fast
@pytest.mark.parametrize("spws, uses", [([0], {0, 3}), ([1], {1, 3}), ([2], {2}),
                                        ([3], {0, 1, 3}), ([0, 1], {0, 1, 3})])
def test_cfs_a_spw_group_is_gridded_with(spws, uses):
    """What was measured on a 4-SPW MS (channels 64 MHz apart, 2 per SPW; CFs at each
    SPW's highest channel; reffreq 3 GHz): each SPW's sub-MS gridded with a folder of
    these SPWs' CFs gave pixels identical to the whole cache's, and without SPW 1's, SPW
    3's PSF was 0.25% off (its lower channel's conjugate frequency, 2.3505 GHz, lies
    nearer 2.596 than 2.096 GHz)."""
    windows = {f"CFS_0_0_CF_{s}_0_{m}.im": (s, (2.096 + 0.5 * s) * 1e9)
               for s in range(4) for m in (0, 1)}
    channels = {s: [(2.032 + 0.5 * s) * 1e9, (2.096 + 0.5 * s) * 1e9] for s in range(4)}
    assert cfcache.needed_windows(windows, channels, spws, 3e9) == uses


@pytest.mark.fast
def test_cfs_of_every_spw_where_the_conjugate_is_not_real():
    """Above sqrt(2) x reffreq the conjugate frequency is not real: every CF is kept."""
    windows = {"CFS_0_0_CF_0_0_0.im": (0, 2e9), "CFS_0_0_CF_1_0_0.im": (1, 4.5e9)}
    assert cfcache.needed_windows(windows, {0: [2e9], 1: [4.5e9]}, [1], 3e9) == {0, 1}


@pytest.mark.fast
def test_cfs_of_a_spw_without_conjugate_beams():
    """conjbeams = False, measured on the same 4 SPWs: SPW 0's and SPW 3's sub-MSes
    gridded with their own SPW's CFs only gave pixels identical to the whole cache's."""
    windows = {f"CFS_0_0_CF_{s}_0_0.im": (s, (2.096 + 0.5 * s) * 1e9) for s in range(4)}
    channels = {s: [(2.032 + 0.5 * s) * 1e9, (2.096 + 0.5 * s) * 1e9] for s in range(4)}
    for spw in range(4):
        assert cfcache.needed_windows(windows, channels, [spw], 3e9, conjbeams=False) == {spw}


@pytest.mark.fast
def test_partitionby_shapes_the_partition_stage():
    """Another partitionby is another partition: its identity (and every later stage's)
    changes, the MS's does not, and what_changed names it, so prepareRun refuses it while
    sub-MSes exist and MSpartition, whose plan then has another identity, writes them
    again."""
    from imaging import identity
    params = {"partitionby": "time", "maxsubmssize": "1GB", "startmodel": "", "niter": 0}
    before = identity.of_run(params, {"rows": 1})
    after = identity.of_run({**params, "partitionby": "spw"}, {"rows": 1})
    assert identity.stage_of("partitionby") == "partition"
    assert identity.changed_stages(before, after) == ["partition", "gridding", "deconvolution",
                                                      "restore"]
    assert identity.what_changed(before, after) == ["partitionby ('time' -> 'spw')"]
