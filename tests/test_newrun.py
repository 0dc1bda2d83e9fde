"""`make newrun NAME=...`: a new run directory for another test run of the same data.

From a run directory that has made its CF cache (`make cfs`): the new one has
the code, submit files, DAG and parameters and none of the products, logs or
DAGMan's files; it points at the same MS and CF cache, images with that cache
without remaking or changing it (first cycle equal to tclean's), and refuses
to remake the shared cache when its CF parameters are changed.
"""
import ast

import pytest

import imagecompare as ic
from helpers import PYTHON, folder_digest, run

pytestmark = pytest.mark.casa

RUN_FILES = {"Makefile", "requirements.txt", "requirements-mpi.txt", "scripts", "htc", "dag",
             "params", ".venv"}


def assignments(path):
    """name -> value of a parameter file's assignments, later ones winning."""
    tree = ast.parse(path.read_text())
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
            if isinstance(node, ast.Assign)}


DAGMAN_FILES = ("condor_imaging.dag.dagman.out", "condor_imaging.dag.rescue001")


@pytest.fixture(scope="module")
def new_run(cf_run, tmp_path_factory):
    """`make newrun` in the run that made the CF cache, as if it had also run on a pool."""
    dest = tmp_path_factory.mktemp("newrun") / "run-robust05"
    for name in DAGMAN_FILES:
        (cf_run / "dag" / name).write_text("# as condor_dagman leaves it\n")
    before = sorted(p.name for p in cf_run.iterdir())
    try:
        proc = run(["make", "-s", "newrun", f"NAME={dest}"], cwd=cf_run)
        assert sorted(p.name for p in cf_run.iterdir()) == before
    finally:
        for name in DAGMAN_FILES:
            (cf_run / "dag" / name).unlink()
    assert str(dest) in proc.stdout
    return dest


def test_copies_the_run_not_its_products(cf_run, new_run):
    assert (cf_run / "products").is_dir() and (cf_run / "logs").is_dir()
    assert {p.name for p in new_run.iterdir()} == RUN_FILES
    assert not list((new_run / "dag").glob("*.dag.*"))        # DAGMan's and the runner's files
    assert not list(new_run.rglob("__pycache__"))
    assert (new_run / ".venv").resolve() == (cf_run / ".venv").resolve()
    for folder in ("scripts", "htc", "params"):
        for f in (cf_run / folder).glob("*.*"):
            if f.is_file():
                assert (new_run / folder / f.name).read_bytes().startswith(f.read_bytes())


def test_points_at_the_same_ms_and_cf_cache(cf_run, new_run, shared, sim_ms):
    params = assignments(new_run / "params" / "imaging.py")
    assert params["vis"] == str(sim_ms)
    assert params["cfcache"] == shared["cfcache"]


def test_images_with_the_shared_cache_unchanged(new_run, shared, tclean_ref):
    cache = folder_digest(shared["cfcache"])
    with open(new_run / "params" / "imaging.py", "a") as f:
        f.write("niter = 0\n")
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=new_run)
    assert "up to date" in (new_run / "logs" / "CFdry.out").read_text()
    assert folder_digest(shared["cfcache"]) == cache
    region = ic.pb_region(f"{tclean_ref}.pb.tt0", 0.2)
    for suffix in (".psf.tt0", ".residual.tt0"):
        image = new_run / "products" / "cycle0" / f"ctb80{suffix}"
        assert ic.relative_difference(str(image), f"{tclean_ref}{suffix}", region) <= 1e-5


def test_changed_cf_parameters_do_not_touch_the_shared_cache(cf_run, shared, tmp_path):
    dest = tmp_path / "run-big"
    run(["make", "-s", "newrun", f"NAME={dest}"], cwd=cf_run)
    with open(dest / "params" / "imaging.py", "a") as f:
        f.write("imsize = [320, 320]\n")
    cache = folder_digest(shared["cfcache"])
    proc = run(["scripts/runjob", "prepareRun.py"], cwd=dest, check=False)
    assert proc.returncode != 0
    assert "cfcache" in proc.stderr and "imsize" in proc.stderr and "outside this run" in proc.stderr
    assert folder_digest(shared["cfcache"]) == cache


@pytest.mark.parametrize("name, says", [("", "give the new run directory"),
                                         ("EXISTING", "exists")])
def test_bad_name(cf_run, tmp_path, name, says):
    if name == "EXISTING":
        name = str(tmp_path)
    proc = run(["make", "-s", "newrun", f"NAME={name}"], cwd=cf_run, check=False)
    assert proc.returncode != 0 and says in proc.stderr
