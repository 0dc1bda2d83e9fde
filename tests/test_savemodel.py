"""savemodel = 'modelcolumn': the final model in MODEL_DATA of the user's MS, as tclean
writes it, and nothing else of the MS changed; a failed write leaves the MS as it was.

A small run (standard gridder, 128^2 pixels, a few hundred iterations, 3 sub-MSes)
through the DAG against monolithic tclean with the same parameters on a separate copy
of the same MS, read back with CASA's table tool.  The MS is prepared so that every
case of tclean's writing is met: it has no MODEL_DATA (tclean adds the column, with 1
in the parallel hands of every row), the selection leaves one SPW out (its rows keep
that 1), one integration is wholly flagged in one SPW (tclean's major cycle skips it:
it keeps that 1 too), and it holds a virtual model (setjy's), which tclean removes.
"""
import json
import shutil

import numpy as np
import pytest

from helpers import PYTHON, STANDARD, inject, new_run, run
from imaging import modelcolumn, parameters, partitioning

SMALL = {**STANDARD, "imsize": [128, 128], "niter": 200, "cycleniter": 50,
         "savemodel": "modelcolumn", "spw": "0~2"}
MODEL = "MODEL_DATA"

# Prepended to a copy of scripts/saveModel.py: the write fails after the first sub-MS's
# values went into the new column (what a full disk or a killed job would leave).
FAIL_AFTER_FIRST_PART = """\
from imaging import modelcolumn as _mc
_merge, _done = _mc.merge_part, []
def _fail_second(*args):
    if _done:
        raise OSError("injected failure while writing MODEL_DATA")
    _done.append(1)
    return _merge(*args)
_mc.merge_part = _fail_second
"""


def table(ms, nomodify=True):
    from casatools import table as tool
    tb = tool()
    tb.open(str(ms), nomodify=nomodify)
    return tb


def content(ms):
    """Every column of the main table but MODEL_DATA, and its column names."""
    tb = table(ms)
    try:
        names = tb.colnames()
        return names, {c: tb.getcol(c) for c in names if c not in (MODEL, "FLAG_CATEGORY")}
    finally:
        tb.close()


def model_data(ms):
    tb = table(ms)
    try:
        return tb.getcol(MODEL)
    finally:
        tb.close()


def assert_same_content(ms, before):
    """The same columns (a MODEL_DATA written anew is the last one) with the same values."""
    names, cols = content(ms)
    assert sorted(names) == sorted(before[0])
    for name, values in before[1].items():
        assert np.array_equal(cols[name], values), f"{ms}: {name} changed"


@pytest.fixture(scope="module")
def prepared_ms(session_dir, sim_ms):
    """The session's MS without MODEL_DATA, with one integration of SPW 1 flagged, and a
    virtual model (setjy's, in the SOURCE table's keywords), which tclean removes."""
    from casatasks import setjy
    ms = session_dir / "savemodel.ms"
    shutil.copytree(sim_ms, ms)
    tb = table(ms, nomodify=False)
    try:
        tb.removecols([MODEL])
        times, dd = tb.getcol("TIME"), tb.getcol("DATA_DESC_ID")
        flagged = (times == np.unique(times)[len(np.unique(times)) // 2]) & (dd == 1)
        flags = tb.getcol("FLAG")
        flags[:, :, flagged] = True
        tb.putcol("FLAG", flags)
        tb.putcol("FLAG_ROW", tb.getcol("FLAG_ROW") | flagged)
    finally:
        tb.close()
    setjy(vis=str(ms), field="0", standard="manual", fluxdensity=[2.0, 0, 0, 0], usescratch=False)
    assert virtual_model_keys(ms)
    return ms


def virtual_model_keys(ms):
    tb = table(ms / "SOURCE")
    try:
        return sorted(k for k in tb.getkeywords() if "model" in k)
    finally:
        tb.close()


def copy_of(ms, where):
    shutil.copytree(ms, where)
    return where


@pytest.fixture(scope="module")
def tclean_model(session_dir, prepared_ms):
    """tclean with the runs' parameters (savemodel included) on its own copy of the MS."""
    theirs = copy_of(prepared_ms, session_dir / "savemodel_tclean.ms")
    rundir = new_run(session_dir / "savemodel_params", {"vis": str(theirs), **SMALL})
    ref = session_dir / "savemodel_tclean" / "ref"
    ref.parent.mkdir()
    run([PYTHON, "-m", "tools.tcleanReference", rundir / "params" / "imaging.py", theirs, ref],
        cwd=ref.parent)
    assert virtual_model_keys(theirs) == []          # removed by tclean
    return model_data(theirs)


@pytest.mark.casa
@pytest.mark.parametrize("sharedfs, partitionby", [(False, "time"), (True, "both")])
def test_model_data_equals_tcleans_row_for_row_and_the_rest_of_the_ms_is_unchanged(
        session_dir, prepared_ms, tclean_model, sharedfs, partitionby):
    """Without a shared filesystem (the prediction jobs are sent their sub-MSes and send
    back their model tables), and with one (partitionby = 'both': the sub-MSes are SPW groups
    split along time; SPW 3, outside the selection, is in none: its rows keep CASA's
    initial model).  (The pool's own test writes the model with a shared filesystem and
    time partitions: test_pool.py.)"""
    before = content(prepared_ms)
    ours = copy_of(prepared_ms, session_dir / f"savemodel_dag_{sharedfs}_{partitionby}.ms")
    rundir = new_run(session_dir / f"savemodel_{sharedfs}_{partitionby}", {
        "vis": str(ours), **SMALL, "sharedfs": sharedfs, "partitionby": partitionby,
        "maxsubmssize": partitioning.size_for(3, ours)})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)

    mine = model_data(ours)
    assert mine.shape == tclean_model.shape
    largest = np.abs(tclean_model).max()
    assert np.abs(mine - tclean_model).max() <= 1e-5 * largest
    assert largest > 1.0                       # a model, not CASA's initial 1 alone
    assert_same_content(ours, (before[0] + [MODEL], before[1]))   # the one column added
    assert virtual_model_keys(ours) == []            # the virtual model removed, as tclean does
    parts = json.loads((rundir / "products" / "partitions.json").read_text())["parts"]
    if partitionby == "time":
        assert len(parts) == 3
    else:
        assert len(parts) >= 3 and all(set(p["spws"]) <= {0, 1, 2} for p in parts)


@pytest.mark.casa
def test_a_failed_or_locked_write_leaves_the_ms_as_it_was(session_dir, sim_ms):
    ms = copy_of(sim_ms, session_dir / "savemodel_fail.ms")
    tb = table(ms, nomodify=False)            # an MS with a MODEL_DATA of its own
    try:
        tb.putcol(MODEL, np.full(tb.getcol(MODEL).shape, 2 + 1j, dtype=np.complex64))
    finally:
        tb.close()
    before, old = content(ms), model_data(ms)
    rundir = new_run(session_dir / "savemodel_fail", {
        "vis": str(ms), **SMALL, "maxsubmssize": partitioning.size_for(3, ms)})
    original = (rundir / "scripts" / "saveModel.py").read_text()
    inject(rundir, "saveModel.py", FAIL_AFTER_FIRST_PART)

    failed = run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir, check=False)
    assert failed.returncode != 0
    assert "injected failure while writing MODEL_DATA" in (rundir / "logs" / "saveModel.err").read_text()
    assert_same_content(ms, before)
    assert np.array_equal(model_data(ms), old)

    (rundir / "scripts" / "saveModel.py").write_text(original)
    holder = table(ms, nomodify=False)         # another process's write lock on the MS
    holder.lock(write=True)
    try:
        locked = run(["scripts/runjob", "saveModel.py"], cwd=rundir, check=False)
    finally:
        holder.unlock()
        holder.close()
    assert locked.returncode != 0 and "locked by another process" in locked.stderr
    assert_same_content(ms, before)
    assert np.array_equal(model_data(ms), old)

    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)   # continues
    assert_same_content(ms, before)
    written = model_data(ms)
    assert not np.array_equal(written, old)
    assert np.array_equal(written[:, :, spw_rows(ms, 3)], old[:, :, spw_rows(ms, 3)])  # unselected

    shutil.rmtree(rundir / "products" / "savemodel")     # written again (as after an edit)
    run(["scripts/runjob", "saveModel.py"], cwd=rundir)
    assert np.array_equal(model_data(ms), written)
    assert_same_content(ms, before)


def spw_rows(ms, dd):
    tb = table(ms)
    try:
        return tb.getcol("DATA_DESC_ID") == dd
    finally:
        tb.close()


@pytest.mark.casa
def test_a_run_stopped_by_nmajor_leaves_what_tclean_leaves(session_dir, sim_ms):
    """tclean writes MODEL_DATA only in a major cycle its iteration control foresaw as the
    last; nmajor's stop is not foreseen, so its MODEL_DATA holds the first (calcres) cycle's
    prediction, of no model: zeros.  The DAG leaves the same."""
    params = {**SMALL, "spw": "", "nmajor": 1}
    ours = copy_of(sim_ms, session_dir / "savemodel_nmajor_dag.ms")
    theirs = copy_of(sim_ms, session_dir / "savemodel_nmajor_tclean.ms")
    rundir = new_run(session_dir / "savemodel_nmajor", {
        "vis": str(ours), **params, "maxsubmssize": partitioning.size_for(2, ours)})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    ref = session_dir / "savemodel_nmajor_tclean" / "ref"
    ref.parent.mkdir()
    run([PYTHON, "-m", "tools.tcleanReference", rundir / "params" / "imaging.py", theirs, ref],
        cwd=ref.parent)
    assert json.loads(open(f"{ref}.summary.json").read())["stopcode"] == 9
    assert np.array_equal(model_data(ours), model_data(theirs))


@pytest.mark.parametrize("flags, params, cycle", [
    ([{"0": False, "1": False}, {"2": True}, {}], {}, 2),     # foreseen: the final model
    ([{"0": True, "1": False}, {}], {}, 0),                   # nmajor = 1: the calcres cycle's
    ([{"0": False, "1": True}, {"2": False}, {}], {}, 1),     # an earlier foreseen cycle's
    ([{"0": False, "1": False}, {}], {}, None),               # none: nothing written
    ([{"0": False, "1": False}, {}], {"usemask": "auto-multithresh"}, 1),  # predicted after
    ([{"0": False, "1": False}, {}], {"nsigma": 3.0}, 1),
])
@pytest.mark.fast
def test_the_major_cycle_whose_prediction_tclean_leaves(flags, params, cycle):
    records = [{"lastcycle": f} for f in flags]
    assert modelcolumn.predicted_cycle(params, records) == cycle
    assert modelcolumn.predicted_cycle(params, [{}, {}]) == 1          # records without flags


@pytest.mark.fast
def test_a_virtual_model_is_refused_naming_the_parameter_and_the_alternative():
    with pytest.raises(parameters.ParameterError,
                       match=r"savemodel = 'virtual' is not supported.*'modelcolumn'"):
        parameters.check_supported({"savemodel": "virtual"}, "params/imaging.py")
