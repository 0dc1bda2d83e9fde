"""savemodel = 'modelcolumn': the final model's visibilities, predicted per sub-MS and
written into the MODEL_DATA column of the user's MS as tclean writes it.

Per sub-MS (predictModel.py): a copy of the sub-MS gets a MODEL_DATA column full of
NaN (a value no prediction makes), CASA's imager predicts into it as tclean's last
major cycle does, and the product keeps the column and the row keys
(MODEL_TABLE).  A NaN left there marks a cell tclean would not have written (a row
outside the data selection, a chunk with no unflagged data): the writer keeps the
MS's own value there.  The sub-MS itself is never written.

In the MS (saveModel.py, one job): under the MS's own table lock, the new values go
into a column of their own (NEW) beside MODEL_DATA, then the columns are swapped by
renaming, and a virtual model the MS holds is removed, as tclean removes it.  A failure
before the swap removes NEW again (and puts the virtual model back), so the MS is as
it was.
casatools is imported only by the functions that open a table.
"""
import contextlib
import math
import os
import shutil

from imaging import casa

MODEL = "MODEL_DATA"
NEW = "MODEL_DATA_SAVEMODEL"          # the values being written, until the swap
OLD = "MODEL_DATA_BEFORE_SAVEMODEL"   # the MS's MODEL_DATA during the swap
MODEL_TABLE = "model.table"           # in a sub-MS's product: keys and MODEL_DATA
KEYS = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID")
CHUNK_BYTES = 64 * 2**20              # MODEL_DATA read and written in chunks of this
CROSS_HANDS = {6, 7, 10, 11}          # Stokes RL, LR, XY, YX: CASA initializes them to 0


def predicted_cycle(params, records):
    """The major cycle whose prediction tclean's savemodel leaves in MODEL_DATA, from the
    minor cycles' records (the last one's is the run's last cycle): the last major cycle
    tclean called its last before running it (tclean writes the MS in those only; a run
    stopped by a rule that check does not foresee, such as nmajor, keeps an earlier
    cycle's prediction, or none: None); the final one when tclean predicts once after
    its major cycles (automasking, nsigma, interactive) or for records without the flags."""
    last = len(records) - 1
    if predicts_after(params) or any("lastcycle" not in r for r in records):
        return last
    flags = {int(c): saved for r in records for c, saved in r["lastcycle"].items()}
    return max((c for c, saved in flags.items() if saved and c <= last), default=None)


def predicts_after(params):
    """Whether tclean saves the model once after its major cycles (task_tclean.py)."""
    return (params.get("usemask") == "auto-multithresh" or params.get("nsigma", 0) > 0
            or bool(params.get("interactive")))


class MSLocked(RuntimeError):
    """Another process holds the MS's lock; the message names the MS."""


def table_tool():
    from imaging import casaenv  # noqa: F401
    from casatools import table
    return table()


# ---------------------------------------------------------------- per sub-MS
def copy_for_prediction(subms, copy):
    """A copy of the sub-MS whose MODEL_DATA (added if missing, as CASA adds it) is NaN."""
    shutil.copytree(subms, copy)
    with casa.opened(table_tool(), copy, nomodify=False) as tb:
        if MODEL not in tb.colnames():
            add_column_like(tb, MODEL, "DATA", tb.getcoldesc("DATA"), "ModelTiled")
            tb.putcolkeywords(MODEL, {})
        for group in dd_groups(tb):
            with contextlib.closing(group):
                for start, n, shape in chunks(group, "DATA"):   # (a new column has no shapes yet)
                    group.putcol(MODEL, nan_cube(shape, n), start, n)


def keep_model_table(copy, path):
    """The predicted column and the row keys of the copy, as a table of their own."""
    with casa.opened(table_tool(), copy, nomodify=True) as tb:
        sel = tb.query("", columns=",".join((*KEYS, MODEL)))
        sel.copy(newtablename=path, deep=True, valuecopy=True, returnobject=False)
        sel.close()


# ---------------------------------------------------------------- into the MS
def write(tb, parts):
    """Write MODEL_DATA of the MS open in `tb` (locked) from the products of its
    sub-MSes: [(the TaQL selecting its rows, partitioning.row_query; model table)].  Returns the rows written.  On failure the
    MS is as it was.  Each cell of NEW is written once: the prediction, else (NaN, or a
    row in no sub-MS) the MS's MODEL_DATA or CASA's initial value."""
    recover(tb)
    had = MODEL in tb.colnames()
    try:
        add_new_column(tb, had, parts[0][1])
        kept = Kept(tb, had)
        fill_outside(tb, [where for where, _ in parts], kept)
        rows = sum(merge_part(tb, where, table, kept) for where, table in parts)
    except BaseException:
        if NEW in tb.colnames():
            tb.removecols([NEW])
        raise
    with virtual_model_cleared(tb):
        swap(tb, had)
    tb.flush()
    return rows


@contextlib.contextmanager
def virtual_model_cleared(tb):
    """The MS's virtual model removed, as tclean removes it when it writes MODEL_DATA
    (VisModelData::clearModel): CASA reads a field's virtual model before its
    MODEL_DATA.  It is the keywords definedmodel_field_<id> of the main and SOURCE
    tables and the keys they name; put back if the block fails."""
    removed = []
    source = os.path.join(tb.name(), "SOURCE")
    others = [table_tool()] if os.path.isfile(os.path.join(source, "table.dat")) else []
    try:
        for other in others:
            other.open(source, nomodify=False)
        for t in [tb, *others]:
            removed.append((t, remove_model_keywords(t)))
        yield
    except BaseException:
        for t, keywords in removed:
            for name, value in keywords.items():
                t.putkeyword(name, value)
        raise
    finally:
        for other in others:
            other.close()


def remove_model_keywords(tb):
    """Remove a table's virtual-model keywords; return them (name -> value)."""
    keywords = tb.getkeywords()
    names = [k for k in keywords if k.startswith("definedmodel_field_")]
    names += sorted({keywords[k] for k in names if isinstance(keywords[k], str)
                     and keywords[k] in keywords})
    for name in names:
        tb.removekeyword(name)
    return {name: keywords[name] for name in names}


@contextlib.contextmanager
def locked(vis):
    """The MS open for writing under its own lock (casacore's, in table.lock), held until
    the end; MSLocked at once if another process holds it (or a read lock: a CASA
    session reading the MS).  Take it before reading the MS: a reader in another process
    would wait for the holder, this process reads through the same locked table."""
    tb = table_tool()
    try:
        tb.open(vis, nomodify=False, lockoptions={"option": "permanent"})
    except RuntimeError as e:
        raise MSLocked(f"vis = {vis!r}: the MS is locked by another process ({e}); "
                       "run the DAG again when it is free (the run continues)") from None
    try:
        yield tb
    finally:
        tb.close()


def recover(tb):
    """Undo what an interrupted earlier try left: its NEW column, or a swap half done."""
    names = tb.colnames()
    if OLD in names and MODEL not in names:
        tb.renamecol(OLD, MODEL)
    elif OLD in names:                       # the swap was done but for removing the old column
        tb.removecols([OLD])
    if NEW in tb.colnames():
        tb.removecols([NEW])


def add_new_column(tb, had, model_table):
    """NEW, described as MODEL_DATA (the MS's, else CASA's as the prediction made it)."""
    if had:
        add_column_like(tb, NEW, MODEL, tb.getcoldesc(MODEL), "SaveModelTiled")
    else:
        with casa.opened(table_tool(), model_table, nomodify=True) as mt:
            desc = mt.getcoldesc(MODEL)
        add_column_like(tb, NEW, "DATA", desc, "SaveModelTiled")


class Kept:
    """What a cell keeps where nothing is predicted: the MS's MODEL_DATA, or CASA's
    initial value when it has none (1 for the parallel hands, 0 for the cross hands:
    VisSetUtil::initScrCols)."""

    def __init__(self, tb, had):
        self.had, self.hands = had, None if had else initial_values(tb)

    def values(self, table, dd, start, n, shape):
        if self.had:
            return table.getcol(MODEL, start, n)
        return initial_cube(self.hands[dd], shape, n)


def fill_outside(tb, queries, kept):
    """The rows of no sub-MS (parts without selected rows): their kept values."""
    inside = " || ".join(f"({where})" for where in queries)
    for dd in data_descriptions(tb):
        with contextlib.closing(tb.query(f"DATA_DESC_ID == {dd} && !({inside})",
                                         sortlist="")) as group:
            for start, n, shape in chunks(group, "DATA"):
                group.putcol(NEW, kept.values(group, dd, start, n, shape), start, n)


def merge_part(tb, within, model_table, kept):
    """One sub-MS's rows of NEW (those MSpartition copied into it: the same query,
    `within`, in row order): the predicted cells, the kept values elsewhere; the keys of
    every row are checked."""
    with contextlib.closing(tb.query(within, sortlist="")) as sel:
        nrows = sel.nrows()
    with casa.opened(table_tool(), model_table, nomodify=True) as mt:
        if nrows != mt.nrows():
            raise RuntimeError(f"{model_table}: {mt.nrows()} rows, but the MS has {nrows} in "
                               f"its part ({within}): the MS changed since the partition")
        for dd in data_descriptions(mt):
            with contextlib.closing(tb.query(f"{within} && DATA_DESC_ID == {dd}", sortlist="")) as mine, \
                    contextlib.closing(mt.query(f"DATA_DESC_ID == {dd}", sortlist="")) as theirs:
                merge_group(mine, theirs, model_table, lambda *a: kept.values(mine, dd, *a))
    return nrows


def merge_group(mine, theirs, model_table, kept_values):
    import numpy as np
    if mine.nrows() != theirs.nrows():
        raise RuntimeError(f"{model_table}: its rows differ from the MS's: the MS changed "
                           "since the partition")
    for start, n, shape in chunks(theirs, MODEL):
        for key in KEYS:
            if not np.array_equal(mine.getcol(key, start, n), theirs.getcol(key, start, n)):
                raise RuntimeError(f"{model_table}: its rows from {start} differ from the MS's "
                                   f"in {key}: the MS changed since the partition")
        new = theirs.getcol(MODEL, start, n)
        unwritten = np.isnan(new)
        if unwritten.any():
            new = np.where(unwritten, kept_values(start, n, shape), new)
        mine.putcol(NEW, new, start, n)


def swap(tb, had):
    """NEW becomes MODEL_DATA by renaming (the old column is removed last)."""
    if had:
        tb.renamecol(MODEL, OLD)
    tb.renamecol(NEW, MODEL)
    if had:
        tb.removecols([OLD])


# ---------------------------------------------------------------- table helpers
def add_column_like(tb, name, like, desc, manager):
    """Add a column with `desc`, tiled as the column `like` is, in a storage manager of
    its own (so that removing it frees its space)."""
    managers = tb.getdminfo().values()
    spec = next(dm for dm in managers if like in list(dm["COLUMNS"]))
    tile = spec.get("SPEC", {}).get("DEFAULTTILESHAPE")
    desc = {k: v for k, v in desc.items() if k not in ("dataManagerGroup", "dataManagerType")}
    used = {dm["NAME"] for dm in managers}     # (a column written before keeps its manager's name)
    unique = next(f"{manager}{k}" for k in range(len(used) + 1) if f"{manager}{k}" not in used)
    dminfo = {"TYPE": "TiledShapeStMan", "NAME": unique,
              "SPEC": {"DEFAULTTILESHAPE": tile} if tile is not None else {}}
    tb.addcols({name: {**desc, "dataManagerType": "TiledShapeStMan",
                       "dataManagerGroup": dminfo["NAME"]}}, dminfo)


def data_descriptions(tb):
    import numpy as np
    return [int(dd) for dd in np.unique(tb.getcol("DATA_DESC_ID"))]


def dd_groups(tb):
    """A reference table per DATA_DESC_ID (one cell shape each), in the order of the ids
    (of a table on disk: casatools cannot query a query's result)."""
    return [tb.query(f"DATA_DESC_ID == {dd}", sortlist="") for dd in data_descriptions(tb)]


def chunks(tb, column):
    """(first row, rows, cell shape) of CHUNK_BYTES pieces of a table of one cell shape."""
    shape = tuple(tb.getcell(column, 0).shape) if tb.nrows() else ()
    step = max(1, CHUNK_BYTES // (8 * max(1, math.prod(shape))))
    return [(s, min(step, tb.nrows() - s), shape) for s in range(0, tb.nrows(), step)]


def nan_cube(shape, n):
    import numpy as np
    return np.full((*shape, n), complex(np.nan, 0), dtype=np.complex64)


def initial_values(tb):
    """DATA_DESC_ID -> per correlation, CASA's initial MODEL_DATA (1 parallel, 0 cross)."""
    import numpy as np
    vis = tb.name()
    with casa.opened(table_tool(), os.path.join(vis, "DATA_DESCRIPTION"), nomodify=True) as dd:
        pols = dd.getcol("POLARIZATION_ID")
    with casa.opened(table_tool(), os.path.join(vis, "POLARIZATION"), nomodify=True) as pt:
        types = [pt.getcell("CORR_TYPE", int(p)) for p in range(pt.nrows())]
    return {d: np.array([0 if t in CROSS_HANDS else 1 for t in types[p]]) for d, p in enumerate(pols)}


def initial_cube(hands, shape, n):
    import numpy as np
    return np.broadcast_to(hands.astype(np.complex64)[:, None, None], (*shape, n)).copy()
