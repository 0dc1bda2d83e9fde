"""Splitting an MS into sub-MSes: the plan (each sub-MS whole integrations of a group of
spectral windows, under maxsubmssize) and the casatools calls that read the MS and write
a sub-MS.  casatools is imported only by the functions that read an MS.

`partitionby` chooses how (plan):
    'time'  ranges of whole integrations of every spectral window (SPW);
    'spw'   groups of whole SPWs (consecutive SPW ids, balanced by rows), each over the
            whole observation;
    'both'  SPW groups (as many as the size calls for, at most one per SPW), each split
            along time where it is larger than maxsubmssize.
A sub-MS's rows are those its part's query selects (row_query): lo < TIME < hi, and
with SPW groups DATA_DESC_ID among the group's data descriptions; the plan's parts
select disjoint sets of rows that together are every row.
"""
import bisect
import itertools
import math
import os
from typing import NamedTuple

from imaging import casa, parameters, products


class PartitionError(ValueError):
    """The MS cannot be split as asked; the message names the parameter."""


class Window(NamedTuple):
    """One spectral window of the MS: its data descriptions and its rows per integration."""
    spw: int
    ddids: tuple
    counts: list


class Layout(NamedTuple):
    """What the plan needs of an MS (ms_layout)."""
    spans: list            # (first, last) TIME of each integration, in time order
    counts: list           # rows of each integration
    bytes_per_row: float   # of the main table
    overhead: int          # bytes of the sub-tables, which every sub-MS copies
    windows: list          # Window per SPW that has rows, by SPW id


class Part(NamedTuple):
    """One planned sub-MS: its SPWs and data descriptions (None: all), the open time
    interval of its rows, its integrations and rows."""
    spws: list
    ddids: list
    time_bounds: tuple
    integrations: int
    nrows: int


# ---------------------------------------------------------------- the plan
def plan(mode, layout, maxsize, max_rows=math.inf, multiple=1):
    """The sub-MSes for partitionby = mode: [Part], SPW group by SPW group, in time
    order within a group.  Each holds whole integrations (of its SPWs), at most
    `maxsize` bytes as estimated (sub-tables plus rows times bytes per row) and at most
    `max_rows` rows (what the sub-MSes written show: MSpartition.fitting_parts).  Their
    number is the least that fits, rounded up to a multiple of `multiple` (gridjobs:
    every wave of gridding jobs fills the slots) where the SPWs and integrations allow."""
    spans, _, bytes_per_row, overhead, windows = layout
    fit = (bytes_per_row, overhead, maxsize, max_rows)
    if mode == "time":
        groups = [None]
    elif mode == "spw":
        groups = spw_groups(windows, *fit, multiple)
    else:
        groups = split_groups(windows, *fit)
    allcounts = [group_counts(g or windows) for g in groups]
    counts = [[c for c in a if c] for a in allcounts]     # integrations with rows of the group
    if mode == "spw":
        nparts = [1] * len(groups)
    elif mode == "time":
        nparts = [len(plan_partitions(counts[0], *fit, multiple))]
    else:
        nparts = fill_waves(counts, [len(plan_partitions(c, *fit)) for c in counts], multiple)
    return [part for group, a, n in zip(groups, allcounts, nparts)
            for part in group_parts(group, spans, a, n)]


def group_parts(group, spans, allcounts, n):
    """`n` parts of an SPW group (None: all SPWs), balanced in rows, each of whole
    integrations; `allcounts` is the group's rows per integration of the MS."""
    kept = [i for i, c in enumerate(allcounts) if c]
    gspans, gcounts = [spans[i] for i in kept], [allcounts[i] for i in kept]
    spws = None if group is None else [w.spw for w in group]
    ddids = None if group is None else sorted(d for w in group for d in w.ddids)
    return [Part(spws, ddids, time_bounds(gspans, r), r[1] - r[0] + 1, rows(gcounts, r))
            for r in balanced_ranges(gcounts, n)]


def fill_waves(counts, nparts, multiple):
    """partitionby = 'both': parts per SPW group (each group's rows per integration in
    `counts`, `nparts` the fewest that fit) raised, one at a time where a part holds
    the most rows, until their total is a multiple of `multiple` or no group has an
    integration to spare."""
    nparts = list(nparts)
    while sum(nparts) % multiple:
        spare = [g for g in range(len(counts)) if nparts[g] < len(counts[g])]
        if not spare:
            break
        largest = max(spare, key=lambda g: sum(counts[g]) / nparts[g])
        nparts[largest] += 1
    return nparts


def group_counts(windows):
    """Rows per integration of some SPWs together."""
    return [sum(c) for c in zip(*(w.counts for w in windows))]


def capacity(bytes_per_row, overhead, maxsize, max_rows):
    return min(maxsize - overhead, max_rows * bytes_per_row)


def spw_groups(windows, bytes_per_row, overhead, maxsize, max_rows, multiple=1):
    """partitionby = 'spw': consecutive SPWs in groups balanced by rows, as few as fit,
    rounded up to a multiple of `multiple` where there are SPWs enough."""
    totals = [sum(w.counts) for w in windows]
    room = capacity(bytes_per_row, overhead, maxsize, max_rows)
    largest = max(range(len(windows)), key=lambda k: totals[k])
    if totals[largest] * bytes_per_row > room:
        raise PartitionError(
            f"maxsubmssize = {maxsize} bytes is below the smallest sub-MS partitionby = 'spw' "
            f"can make: spectral window {windows[largest].spw} over the whole observation "
            f"({totals[largest]} rows) takes about "
            f"{math.ceil(overhead + totals[largest] * bytes_per_row)} bytes with the "
            "sub-tables; give partitionby = 'both' (each SPW group also split along time) "
            "or a larger maxsubmssize")
    return [windows[a:b + 1]
            for a, b in plan_partitions(totals, bytes_per_row, overhead, maxsize, max_rows,
                                        multiple)]


def split_groups(windows, bytes_per_row, overhead, maxsize, max_rows):
    """partitionby = 'both': as many SPW groups as the size calls for (at most one per SPW,
    more when one integration of a group would not fit), each later split along time."""
    totals = [sum(w.counts) for w in windows]
    room = capacity(bytes_per_row, overhead, maxsize, max_rows)
    needed = max(1, math.ceil(sum(totals) * bytes_per_row / room)) if room > 0 else len(windows)
    for ngroups in range(min(needed, len(windows)), len(windows) + 1):
        groups = [windows[a:b + 1] for a, b in balanced_ranges(totals, ngroups)]
        if all(max(group_counts(g)) * bytes_per_row <= room for g in groups):
            return groups
    largest = max(max(w.counts) for w in windows)
    raise PartitionError(
        f"maxsubmssize = {maxsize} bytes is below the smallest possible sub-MS: one "
        f"integration of one spectral window ({largest} rows, about "
        f"{largest * bytes_per_row:.0f} bytes) plus the sub-tables ({overhead:.0f} bytes)")


def smallest_unit(mode, layout):
    """Rows of the largest piece the plan never splits: an integration ('time'), an
    integration of one SPW ('both'), a whole SPW ('spw')."""
    if mode == "time":
        return max(layout.counts)
    if mode == "both":
        return max(max(w.counts) for w in layout.windows)
    return max(sum(w.counts) for w in layout.windows)


def row_query(part):
    """The TaQL selecting a planned part's rows of the MS (and of its sub-MS): its time
    interval, and its data descriptions when it holds a group of SPWs."""
    lo, hi = part["time_bounds"]
    where = f"TIME > {lo!r} && TIME < {hi!r}"
    if part.get("ddids") is not None:
        where += f" && DATA_DESC_ID IN [{', '.join(str(d) for d in part['ddids'])}]"
    return where


def plan_partitions(counts, bytes_per_row, overhead, maxsize, max_rows=math.inf, multiple=1):
    """Split integrations (rows per integration, in time order) into ranges.

    Each part holds whole integrations, at most `maxsize` bytes as estimated
    (`overhead` + rows * `bytes_per_row`) and at most `max_rows` rows (what the
    sub-MSes written show: see MSpartition.fitting_parts); parts are balanced by
    rows and as few as that allows, rounded up to a multiple of `multiple` (or one
    integration each, where there are fewer).  Returns [(first_index, last_index), ...].
    """
    capacity = min(maxsize - overhead, max_rows * bytes_per_row)
    largest = max(counts) * bytes_per_row
    if maxsize - overhead < largest:
        raise PartitionError(
            f"maxsubmssize = {maxsize} bytes is below the smallest possible sub-MS, "
            f"{math.ceil(overhead + largest)} bytes: one integration ({largest:.0f} bytes) "
            f"plus the sub-tables ({overhead:.0f} bytes)")
    assert max(counts) <= max_rows, "the caller checks that one integration fits"
    total = sum(counts) * bytes_per_row
    for nparts in range(max(1, math.ceil(total / capacity)), len(counts) + 1):
        if nparts % multiple and nparts < len(counts):
            continue
        ranges = balanced_ranges(counts, nparts)
        if all(rows(counts, r) * bytes_per_row <= capacity for r in ranges):
            return ranges
    raise AssertionError("one integration per part always fits")


def balanced_ranges(counts, nparts):
    """Cut the integrations into nparts ranges of nearly equal row counts."""
    cum = list(itertools.accumulate(counts))
    cuts = []
    for k in range(1, nparts):
        target = cum[-1] * k / nparts
        i = bisect.bisect_left(cum, target)
        if i > 0 and target - cum[i - 1] < cum[i] - target:
            i -= 1
        lowest = cuts[-1] + 1 if cuts else 0
        cuts.append(min(max(i, lowest), len(cum) - 1 - (nparts - k)))
    return list(zip([0] + [c + 1 for c in cuts], cuts + [len(cum) - 1]))


def rows(counts, r):
    return sum(counts[r[0]:r[1] + 1])


def time_bounds(spans, r):
    """Open interval (lo, hi) around integrations r, halfway to the neighbours.

    spans[i] is (first, last) TIME of integration i; the bounds lie halfway
    between the last time of one integration and the first of the next, so
    lo < TIME < hi selects every row of integrations r and no other."""
    first, last = r
    lo = (spans[first - 1][1] + spans[first][0]) / 2 if first > 0 else spans[first][0] - 1.0
    hi = ((spans[last][1] + spans[last + 1][0]) / 2 if last + 1 < len(spans)
          else spans[last][1] + 1.0)
    return lo, hi


def integrations(times, baselines, interval):
    """Group rows into integrations: [(first TIME, last TIME)], rows of each.

    The rows of one integration need not share one TIME: in real EVLA data
    (the 2010 Ka-band observation of tests/test_real_evla.py) each baseline's
    row of a 10 s integration has a TIME of its own, the distinct times of one
    integration up to 1.5 s apart in steps of 0.04 to 0.5 s, while consecutive
    integrations are 8.5 to 10 s apart; INTERVAL says 0.04 s there.  The rule:
    the integration time T is the median step between consecutive rows of the
    same baseline (ANTENNA1, ANTENNA2, DATA_DESC_ID), or INTERVAL (its median)
    if larger; sorted distinct times are cut into integrations only where two
    consecutive ones are more than T/2 apart (there: T = 10.001 s, at most
    0.4995 s inside an integration, at least 8.502 s across).  A cut too few
    only merges integrations; a cut too many would split one.
    """
    import numpy as np
    unique, counts = np.unique(times, return_counts=True)
    gap = integration_time(times, baselines, interval) / 2
    starts = np.r_[0, np.flatnonzero(np.diff(unique) > gap) + 1]
    ends = np.r_[starts[1:], len(unique)] - 1
    spans = [(float(unique[s]), float(unique[e])) for s, e in zip(starts, ends)]
    return spans, np.add.reduceat(counts, starts).tolist()


def integration_time(times, baselines, interval):
    """The median step in TIME between rows of one baseline, or interval if larger.
    (Temporaries are dropped as soon as used: this runs on every row of the MS.)"""
    import numpy as np
    order = np.lexsort((times, baselines))
    ordered = baselines[order]
    same = ordered[1:] == ordered[:-1]
    del ordered
    steps = np.diff(times[order])[same]
    del order, same
    steps = steps[steps > 0]
    return max(float(np.median(steps)) if len(steps) else 0.0, interval)


def ms_layout(vis):
    """The MS's Layout: integrations ((first, last) TIME), rows of each, bytes per row,
    sub-table bytes, and each SPW's data descriptions and rows per integration."""
    import numpy as np
    from imaging import casaenv  # noqa: F401
    from casatools import table
    with casa.opened(table(), vis, nomodify=True) as tb:
        nrows = tb.nrows()
        if nrows:
            times, baselines = tb.getcol("TIME"), baseline_ids(tb)
            ddids = tb.getcol("DATA_DESC_ID")
            interval = float(np.median(tb.getcol("INTERVAL")))
        subtables = [kw for kw, v in tb.getkeywords().items()
                     if isinstance(v, str) and v.startswith("Table: ")]
    if not nrows:
        raise PartitionError(f"vis = {vis!r}: the measurement set has no rows")
    spans, counts = integrations(times, baselines, interval)
    del baselines
    with casa.opened(table(), os.path.join(vis, "DATA_DESCRIPTION"), nomodify=True) as tb:
        dd_spw = tb.getcol("SPECTRAL_WINDOW_ID").tolist()
    windows = spectral_windows(times, ddids, spans, dd_spw)
    main = folder_bytes(vis, skip=subtables)
    overhead = sum(folder_bytes(os.path.join(vis, s)) for s in subtables)
    return Layout(spans, counts, main / nrows, overhead, windows)


def spectral_windows(times, ddids, spans, dd_spw):
    """[Window]: per SPW with rows, its data descriptions and rows per integration
    (spans: the integrations' (first, last) TIME, in time order)."""
    import numpy as np
    starts = np.array([first for first, _ in spans])
    ndd = len(dd_spw)
    index = (np.searchsorted(starts, times, side="right") - 1) * ndd + ddids
    per_dd = np.bincount(index, minlength=len(spans) * ndd).reshape(len(spans), ndd)
    del index
    windows = []
    for spw in sorted(set(dd_spw)):
        mine = tuple(d for d in range(ndd) if dd_spw[d] == spw and per_dd[:, d].any())
        if mine:
            windows.append(Window(spw, mine, per_dd[:, list(mine)].sum(axis=1).tolist()))
    return windows


def baseline_ids(tb):
    """One integer per row for (ANTENNA1, ANTENNA2, DATA_DESC_ID), read a column at a time."""
    import numpy as np
    ids = tb.getcol("DATA_DESC_ID").astype(np.int64) << 40
    ids |= tb.getcol("ANTENNA1").astype(np.int64) << 20
    ids |= tb.getcol("ANTENNA2").astype(np.int64)
    return ids


def folder_bytes(path, skip=()):
    total = 0
    for entry in os.scandir(path):
        if entry.name in skip:
            continue
        total += folder_bytes(entry.path) if entry.is_dir() else entry.stat().st_size
    return total


def selected_rows(vis, params):
    """DATA_DESC_ID -> sorted unique times of the rows tclean's data selection picks
    (None: no selection)."""
    import numpy as np
    from imaging import casaenv  # noqa: F401
    from casatools import ms
    given = parameters.selection(params)
    if not given:
        return None
    with casa.opened(ms(), vis) as tool:
        tool.msselect({parameters.SELECTION[k]: v for k, v in given.items()})
        chosen = tool.getdata(["time", "data_desc_id"])
    times, ddids = chosen["time"], chosen["data_desc_id"]
    return {int(d): np.unique(times[ddids == d]).tolist() for d in np.unique(ddids)}


def holds_selected(part, chosen):
    """Whether a planned part (a dict of the plan) holds rows of the data selection
    (chosen: selected_rows); every part does without a selection."""
    if chosen is None:
        return True
    lo, hi = part["time_bounds"]
    ddids = chosen if part.get("ddids") is None else part["ddids"]
    for dd in ddids:
        times = chosen.get(dd, [])
        i = bisect.bisect_right(times, lo)
        if i < len(times) and times[i] < hi:
            return True
    return False


def write_subms(vis, part, out):
    """Copy a planned part's rows (row_query), with all sub-tables, into a new MS.

    The input MS is opened read-only; the copy is made under a temporary
    name and renamed when complete.
    """
    from imaging import casaenv  # noqa: F401
    from casatools import table
    with products.building(out) as tmp, casa.opened(table(), vis, nomodify=True) as tb:
        sel = tb.query(row_query(part), sortlist="")
        nrows = sel.nrows()
        sel.copy(newtablename=tmp, deep=True, valuecopy=True, returnobject=False)
        sel.close()
    return nrows


def subms_rows(path, part):
    """Rows of an existing sub-MS if all of them are the part's (row_query), else -1."""
    if not os.path.isfile(os.path.join(path, "table.dat")):
        return -1
    from imaging import casaenv  # noqa: F401
    from casatools import table
    with casa.opened(table(), path, nomodify=True) as tb:
        nrows = tb.nrows()
        sel = tb.query(row_query(part), sortlist="")
        inside = sel.nrows()
        sel.close()
    return nrows if nrows and inside == nrows else -1


def size_for(nparts, ms):
    """A maxsubmssize that fits the MS in nparts sub-MSes (sub-tables plus rows/nparts)."""
    layout = ms_layout(str(ms))
    return int(layout.overhead + layout.bytes_per_row * sum(layout.counts) / nparts * 1.02)
