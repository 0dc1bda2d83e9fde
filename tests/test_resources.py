"""resources.py's requests against peaks measured outside it (make bench's wait4 of each
job), by the numbers that drive them."""
import pytest

from imaging import resources

pytestmark = pytest.mark.fast

SHIPPED = {"nterms": 2, "deconvolver": "mtmfs", "scales": [0], "cfcache": "cfcache/ctb80.cf",
           "exportfits": True}


@pytest.mark.parametrize("subms_rows, peak_mb", [
    (42_120, 181),       # the 1-hour test MS in 2 sub-MSes (imsize runs)
    (379_080, 195),      # the 3-hour bench MS in 4
    (758_160, 218),      # in 2
    (1_516_320, 273),    # in 1: above the 225 MB asked before rows counted
])
def test_a_gridding_job_asks_for_the_memory_its_sub_ms_rows_take(subms_rows, peak_mb):
    """make bench, 2026-12-06, 256^2 pixels, the shipped parameters (CF cache 8.0 MB): a
    gridding job's peak grows by 64-76 bytes per row of its sub-MS.  Its request covers
    the peak and is not wasteful (at most 1.5 x peak + 128 MB, as the tests' runs check
    from the job log: helpers.assert_memory_requests_cover)."""
    size = {"pixels": 256 ** 2, "cf": 8.0e6, "rows": 1_516_320, "ms": 1.0,
            "subms": subms_rows / 1_516_320, "nparts": 1}
    request = resources.memory_mb("allImagers", SHIPPED, size)
    assert peak_mb <= request <= 1.5 * peak_mb + 128
