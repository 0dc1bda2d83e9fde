"""The DAG's first major cycle equals monolithic tclean(niter=0) on the same data.

For 1, 2 and 10 or more sub-MSes (more than one addImages job gathers itself, so
addParts jobs first add the residuals of groups of them, products.gather_groups):
the summed and normalized PSF (every Taylor term),
weight, primary beam, sum of weights and first residual (every Taylor term)
from the project's own DAG, run by the local runner, against tclean's, to 1e-5
of the peak where the primary beam exceeds pblimit.  The CF cache is made
read-only (immutable files) while the DAGs grid, and must come out unchanged.
"""
import pytest

from imaging import products
from imaging.partitioning import size_for

import imagecompare as ic
from helpers import PYTHON, folder_digest, new_run, run

pytestmark = pytest.mark.casa

TOLERANCE = 1e-5
PBLIMIT = 0.2  # params/imaging.py


@pytest.fixture(scope="module")
def cache_before(frozen_cfcache):
    return folder_digest(frozen_cfcache)


@pytest.fixture(scope="module", params=[1, 2, 10])
def dag_run(request, session_dir, shared, sim_ms, frozen_cfcache, cache_before):
    nparts = request.param
    rundir = new_run(session_dir / f"first_cycle_{nparts}",
                     {**shared, "maxsubmssize": size_for(nparts, sim_ms), "niter": 0})
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    return nparts, rundir


def test_partition_count_and_sizes(dag_run):
    nparts, rundir = dag_run
    subms = sorted((rundir / "products" / "subms").glob("*.ms"))
    parts = [p["part"] for p in products.read_plan(rundir / "products" / "partitions.json")["parts"]]
    assert len(subms) == len(parts)
    if nparts <= products.GATHER_FANIN:
        assert len(subms) == nparts
    else:       # (size_for's estimate misses small sub-MSes' fixed costs: some more)
        assert len(subms) >= nparts
        groups = sorted(p.name for p in (rundir / "products" / "parts" / "cycle0").glob("g*"))
        assert groups == sorted(products.gather_groups(parts)) and len(groups) >= 2
    limit = products.read_plan(rundir / "products" / "partitions.json")["maxsubmssize"]
    for ms in subms:
        size = sum(p.stat().st_size for p in ms.rglob("*") if p.is_file())
        assert size <= limit, f"{ms.name}: {size} bytes > maxsubmssize {limit}"


@pytest.mark.parametrize("kind", ["psf", "weight", "pb", "residual", "sumwt"])
def test_images_equal_tclean(dag_run, tclean_ref, kind):
    nparts, rundir = dag_run
    image = rundir / "products" / "cycle0" / "ctb80"
    region = ic.pb_region(f"{tclean_ref}.pb.tt0", PBLIMIT)
    for suffix, diff in ic.first_cycle_differences(image, tclean_ref, kind, region).items():
        assert diff <= TOLERANCE, f"{nparts} sub-MSes, {suffix}: {diff:.2e} of the peak"


def test_psf_stage_images_equal_tclean(dag_run, tclean_ref):
    """products/psf holds the PSF normalized with the PSF gridding's weights."""
    nparts, rundir = dag_run
    region = ic.pb_region(f"{tclean_ref}.pb.tt0", PBLIMIT)
    for suffix in ic.taylor_terms(str(tclean_ref), "psf"):
        image = rundir / "products" / "psf" / f"ctb80{suffix}"
        assert ic.relative_difference(str(image), f"{tclean_ref}{suffix}", region) <= TOLERANCE


def test_every_sub_image_has_the_whole_ms_spectral_axis(dag_run, tclean_ref):
    """Sub-MSes of other times have other LSRK frequencies: each job must image on the
    spectral axis the whole MS defines (as tclean's), or the sub-images do not add (on a
    3-hour MS in 4 sub-MSes CASA refused: "coordinate system mismatch")."""
    nparts, rundir = dag_run
    expected = ic.spectral_axis(f"{tclean_ref}.residual.tt0")
    parts = sorted((rundir / "products" / "parts" / "cycle0").glob("n*/ctb80.residual.tt0"))
    assert len(parts) >= nparts
    for image in parts:
        assert ic.spectral_axis(str(image)) == expected, image


def test_cfcache_unchanged_by_gridding(dag_run, frozen_cfcache, cache_before):
    assert folder_digest(frozen_cfcache) == cache_before
