"""tclean's `startmodel` through the DAG: the model of an earlier run, predicted in the
first major cycle and cleaned on, equals tclean given the same start model.

The start model is made by monolithic tclean (mtmfs, 2 Taylor terms, 40
iterations); a DAG run over several sub-MSes without a shared filesystem, and
tclean, then start from it with 300 more iterations.  The start model's image
definition is checked before any job, and its pixels are part of the run's
identity.
"""
import shutil

import pytest

from helpers import PYTHON, STANDARD, assert_equals_tclean, folder_digest, new_run, run
from imaging import startmodel

START = {**STANDARD, "imsize": [128, 128], "niter": 300, "cycleniter": 100,
         "threshold": "0mJy", "startmodel": ["start/first.model.tt0", "start/first.model.tt1"]}


@pytest.fixture(scope="module")
def start_images(session_dir, sim_ms):
    """tclean's model of 40 iterations: session_dir/startmodel_first/start/first.model.*"""
    made = new_run(session_dir / "startmodel_first", {"vis": str(sim_ms), **START})
    (made / "start").mkdir()
    run([PYTHON, "-m", "tools.tcleanReference", made / "params" / "imaging.py", sim_ms,
         made / "start" / "first", "startmodel=''", "niter=40"], cwd=made / "start")
    return made


@pytest.fixture(scope="module")
def tclean_from_start(start_images, session_dir, sim_ms):
    """tclean given that start model, 300 more iterations."""
    ref = session_dir / "startmodel_tclean" / "ref"
    ref.parent.mkdir()
    models = [str(start_images / t) for t in START["startmodel"]]
    run([PYTHON, "-m", "tools.tcleanReference", start_images / "params" / "imaging.py", sim_ms,
         ref, f"startmodel={models!r}"], cwd=ref.parent)
    return ref


@pytest.mark.casa
def test_a_start_model_is_cleaned_on_as_tclean_does(start_images, tclean_from_start, session_dir,
                                                    sim_ms):
    """Without a shared filesystem: the jobs are sent the start model.  (With one, on real
    data: test_real_features.py's self-calibrated second round.)"""
    before = {t: folder_digest(start_images / t) for t in START["startmodel"]}
    rundir = new_run(session_dir / "startmodel_run", {"vis": str(sim_ms), **START,
                                                      "sharedfs": False})
    shutil.copytree(start_images / "start", rundir / "start")
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    plan = (rundir / "products" / "partitions.json").read_text()
    assert plan.count('"part"') >= 2                        # several sub-MSes
    assert_equals_tclean(rundir, tclean_from_start, 1e-5)
    assert {t: folder_digest(start_images / t) for t in START["startmodel"]} == before


@pytest.mark.casa
def test_replaced_start_model_pixels_are_a_change_prepare_run_refuses(session_dir):
    """After the run above: the same paths with other pixels are other inputs."""
    rundir = session_dir / "startmodel_run"
    assert (rundir / "products" / "final").is_dir(), "runs after the test above"
    shutil.copytree(rundir / "start" / "first.residual.tt0",
                    rundir / "start" / "first.model.tt0", dirs_exist_ok=True)
    proc = run([PYTHON, "scripts/prepareRun.py", "--before-dag"], cwd=rundir, check=False)
    assert proc.returncode == 65, proc.stdout + proc.stderr
    assert "startmodel images" in proc.stderr and "make clean" in proc.stderr, proc.stderr


@pytest.mark.casa
def test_a_start_model_on_another_grid_is_refused_before_any_job(start_images, session_dir, sim_ms):
    models = [str(start_images / t) for t in START["startmodel"]]
    rundir = new_run(session_dir / "startmodel_grid",
                     {"vis": str(sim_ms), **START, "startmodel": models, "cell": "5arcsec"})
    proc = run([PYTHON, "scripts/prepareRun.py", "--before-dag"], cwd=rundir, check=False)
    assert proc.returncode == 65, proc.stdout + proc.stderr
    assert "startmodel" in proc.stderr and "not on this run's image grid (cell" in proc.stderr, \
        proc.stderr
    assert not (rundir / "products" / "params.json").exists()


def params(tmp_path, given, **kw):
    return {"startmodel": given, "deconvolver": "mtmfs", "nterms": 2, "sharedfs": True, **kw}


def image(folder):
    folder.mkdir(parents=True)
    (folder / "table.dat").write_bytes(b"")
    return folder


@pytest.mark.fast
@pytest.mark.parametrize("given, says", [
    ("missing.model", "'missing.model' is not a CASA image"),
    (["a.model.tt0", "a.model.tt1", "a.model.tt2"], "names 3 images; the run has 2 Taylor"),
])
def test_a_start_model_that_is_not_there_or_has_too_many_terms_is_refused(
        tmp_path, monkeypatch, given, says):
    monkeypatch.chdir(tmp_path)
    for name in ("a.model.tt0", "a.model.tt1", "a.model.tt2"):
        image(tmp_path / name)
    with pytest.raises(startmodel.parameters.ParameterError, match="startmodel = ") as e:
        startmodel.check_given(params(tmp_path, given))
    assert says in str(e.value)


@pytest.mark.fast
def test_without_a_shared_filesystem_the_start_model_must_be_in_the_run(tmp_path, monkeypatch):
    outside = image(tmp_path / "elsewhere" / "old.model")
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(startmodel.parameters.ParameterError, match="inside the run directory"):
        startmodel.check_given(params(tmp_path, str(outside), sharedfs=False))
    startmodel.check_given(params(tmp_path, "old.model", sharedfs=False))     # inside: fine


@pytest.mark.fast
def test_one_name_with_mtmfs_is_the_first_taylor_term(tmp_path):
    p = params(tmp_path, "old.model")
    assert startmodel.names(p) == ["old.model"] and startmodel.terms(p) == 2
    assert startmodel.terms({**p, "deconvolver": "hogbom"}) == 1
