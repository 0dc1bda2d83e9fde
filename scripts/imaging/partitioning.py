"""Splitting an MS into sub-MSes: the plan (time ranges of whole integrations, each
sub-MS under maxsubmssize) and the casatools calls that read the MS and write a
sub-MS.  casatools is imported only by the functions that read an MS."""
import bisect
import itertools
import math
import os

from imaging import casa, parameters, products

class PartitionError(ValueError):
    """The MS cannot be split as asked; the message names the parameter."""


def plan_partitions(counts, bytes_per_row, overhead, maxsize, max_rows=math.inf):
    """Split integrations (rows per integration, in time order) into ranges.

    Each part holds whole integrations, at most `maxsize` bytes as estimated
    (`overhead` + rows * `bytes_per_row`) and at most `max_rows` rows (what the
    sub-MSes written show: see MSpartition.fitting_parts); parts are balanced by
    rows and as few as that allows.  Returns [(first_index, last_index), ...].
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
    """Integrations ((first, last) TIME), rows of each, bytes per row, sub-table bytes."""
    import numpy as np
    from imaging import casaenv  # noqa: F401
    from casatools import table
    with casa.opened(table(), vis, nomodify=True) as tb:
        nrows = tb.nrows()
        if nrows:
            times, baselines = tb.getcol("TIME"), baseline_ids(tb)
            interval = float(np.median(tb.getcol("INTERVAL")))
        subtables = [kw for kw, v in tb.getkeywords().items()
                     if isinstance(v, str) and v.startswith("Table: ")]
    if not nrows:
        raise PartitionError(f"vis = {vis!r}: the measurement set has no rows")
    spans, counts = integrations(times, baselines, interval)
    main = folder_bytes(vis, skip=subtables)
    overhead = sum(folder_bytes(os.path.join(vis, s)) for s in subtables)
    return spans, counts, main / nrows, overhead


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


def selected_times(vis, params):
    """Sorted unique times of the rows tclean's data selection picks (None: no selection)."""
    import numpy as np
    from imaging import casaenv  # noqa: F401
    from casatools import ms
    given = parameters.selection(params)
    if not given:
        return None
    with casa.opened(ms(), vis) as tool:
        tool.msselect({parameters.SELECTION[k]: v for k, v in given.items()})
        return np.unique(tool.getdata(["time"])["time"]).tolist()


def write_subms(vis, bounds, out):
    """Copy the rows with lo < TIME < hi, with all sub-tables, into a new MS.

    The input MS is opened read-only; the copy is made under a temporary
    name and renamed when complete.
    """
    from imaging import casaenv  # noqa: F401
    from casatools import table
    with products.building(out) as tmp, casa.opened(table(), vis, nomodify=True) as tb:
        sel = tb.query(f"TIME > {bounds[0]!r} && TIME < {bounds[1]!r}", sortlist="")
        nrows = sel.nrows()
        sel.copy(newtablename=tmp, deep=True, valuecopy=True, returnobject=False)
        sel.close()
    return nrows


def subms_rows(path, bounds):
    """Rows of an existing sub-MS if all its times lie within bounds, else -1."""
    if not os.path.isfile(os.path.join(path, "table.dat")):
        return -1
    from imaging import casaenv  # noqa: F401
    from casatools import table
    with casa.opened(table(), path, nomodify=True) as tb:
        times = tb.getcol("TIME")
    inside = len(times) and bounds[0] < times.min() and times.max() < bounds[1]
    return len(times) if inside else -1


def size_for(nparts, ms):
    """A maxsubmssize that fits the MS in nparts sub-MSes (sub-tables plus rows/nparts)."""
    _, counts, bytes_per_row, overhead = ms_layout(str(ms))
    return int(overhead + bytes_per_row * sum(counts) / nparts * 1.02)
