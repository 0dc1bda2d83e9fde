"""Uniform and Briggs weighting across sub-MSes equal monolithic tclean's.

Imaging weights depend on all the visibilities in a uv cell, so each gridding
job must weight with the whole MS's weight density (weightDensity.py).  For
robust -1 and 0.5, uniform, and Briggs with a uv taper, with 4 sub-MSes
(standard gridder), robust -1 with 1 sub-MS too, and robust 0.5 with awproject
(2 sub-MSes): the first cycle's PSF and residual (every Taylor term) equal
tclean(niter=0)'s to 1e-5 of the peak.  A control shows the density matters:
weighting each sub-MS on its own gives another PSF.
"""
import pytest

from imaging import products
from imaging.partitioning import size_for

import imagecompare as ic
from helpers import PYTHON, ROOT, STANDARD, assert_memory_requests_cover, new_run, run

pytestmark = pytest.mark.casa

TOLERANCE = 1e-5
WEIGHTINGS = {
    "robust-1": {"weighting": "briggs", "robust": -1.0},
    "robust0.5": {"weighting": "briggs", "robust": 0.5},
    "uniform": {"weighting": "uniform"},
    "robust0-taper": {"weighting": "briggs", "robust": 0.0, "uvtaper": ["40arcsec"]},
}
CASES = [(w, 4, "standard") for w in WEIGHTINGS] + [("robust-1", 1, "standard"),
                                                     ("robust0.5", 2, "awproject")]


@pytest.fixture(scope="module")
def tclean_refs(session_dir, sim_ms, shared, cf_run):
    """tclean(niter=0) per weighting and gridder (awproject on a copy of the CF cache)."""
    import shutil
    refs = {}
    for name, gridder in sorted({(w, g) for w, _, g in CASES}):
        folder = session_dir / f"weighting_tclean_{name}_{gridder}"
        folder.mkdir()
        extra = {**WEIGHTINGS[name], "niter": 0}
        if gridder == "standard":
            extra.update(STANDARD)
        else:
            shutil.copytree(shared["cfcache"], folder / "ref.cf")
            extra["cfcache"] = str(folder / "ref.cf")
        run([PYTHON, "-m", "tools.tcleanReference", ROOT / "params" / "imaging.py",
             sim_ms, folder / "ref", *[f"{k}={v!r}" for k, v in extra.items()]], cwd=folder)
        refs[name, gridder] = folder / "ref"
    return refs


@pytest.fixture(scope="module", params=CASES, ids=lambda c: f"{c[0]}-{c[1]}parts-{c[2]}")
def dag_run(request, session_dir, shared, sim_ms, cf_run):
    name, nparts, gridder = request.param
    overrides = {**shared, **WEIGHTINGS[name], "niter": 0,
                 "maxsubmssize": size_for(nparts, sim_ms), **(STANDARD if gridder == "standard" else {})}
    rundir = new_run(session_dir / f"weighting_{name}_{nparts}_{gridder}", overrides)
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    return name, nparts, gridder, rundir


def test_first_cycle_equals_tclean(dag_run, tclean_refs):
    name, nparts, gridder, rundir = dag_run
    ref = tclean_refs[name, gridder]
    image = rundir / "products" / "cycle0" / "ctb80"
    assert (rundir / "products" / "weights" / "ctb80.gridwt").is_dir()
    region = ic.pb_region(f"{ref}.pb.tt0", 0.2) if gridder == "awproject" else slice(None)
    terms = ic.taylor_terms(str(ref), "psf") + ic.taylor_terms(str(ref), "residual")
    assert len(terms) == 5, terms
    for suffix in terms:
        diff = ic.relative_difference(f"{image}{suffix}", f"{ref}{suffix}", region)
        assert diff <= TOLERANCE, f"{name}, {nparts} sub-MSes, {suffix}: {diff:.2e} of the peak"


def test_memory_requests_cover_the_weight_density_jobs(dag_run):
    assert assert_memory_requests_cover(dag_run[3]) >= 2 * dag_run[1] + 4


@pytest.mark.parametrize("dag_run", [("robust-1", 4, "standard")], indirect=True,
                         ids=["robust-1-4parts-standard"])
def test_weighting_each_sub_ms_alone_differs(dag_run, tclean_refs, tmp_path):
    """The control: the same 4 sub-MSes, each weighted with its own density (no
    weightDensity stage), give a PSF unlike tclean's, so the test above can fail."""
    from imaging import parameters
    from imaging import synthesis
    name, nparts, gridder, rundir = dag_run
    params = parameters.load(str(rundir / "params" / "imaging.py"), str(rundir))
    parts = []
    for k, p in enumerate(products.read_plan(rundir / "products" / "partitions.json")["parts"]):
        parts.append(str(tmp_path / p["part"] / "ctb80"))
        synthesis.grid_psf(params, str(rundir / p["subms"]), parts[-1], makepb=k == 0)
    summed = tmp_path / "sum" / "ctb80"
    summed.parent.mkdir()
    synthesis.normalize_psf(params, str(summed), parts)
    ref = tclean_refs[name, gridder]
    diff = ic.relative_difference(f"{summed}.psf.tt0", f"{ref}.psf.tt0", slice(None))
    assert diff > 100 * TOLERANCE, f"weighted alone: {diff:.2e} of the peak"
