"""make bench's own pieces: what it reads of an MS, and how it reports the larger images
against the issue's targets (the benchmark itself runs for an hour: `make bench`)."""
import os

import pytest

from tools import bench


@pytest.mark.casa
def test_layout_of_the_session_ms(sim_ms):
    """The scaling model's rows and bytes: 84 240 rows (tools/simulate.py's default: 351
    baselines x 4 SPWs x 60 integrations), and about the main table's size on disk."""
    layout = bench.layout(str(sim_ms))
    assert layout["rows"] == 351 * 4 * 60
    on_disk = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(sim_ms) for f in fs)
    assert 0.5 * on_disk < layout["bytes"] <= 1.05 * on_disk


def large_run(n, tclean, dag):
    stages = {stage: 1.0 for stage in bench.STAGES}
    return {"imsize": n, "cell": "1arcsec", "nparts": 2, "difference": 1e-7,
            "tclean": {"wall": tclean, "nmajordone": 5}, "dag": {"wall": dag, "cycles": 5,
                                                                 "stages": stages}}


@pytest.mark.fast
def test_larger_images_are_reported_against_the_targets():
    """At most 0.6 of tclean's wall time at 2048^2 and 0.7 at 4096^2 (issue 19): 0.55 meets
    the first, 0.75 misses the second; 1024^2 has no target."""
    lines = bench.large_report([large_run(1024, 100.0, 80.0), large_run(2048, 200.0, 110.0),
                                large_run(4096, 400.0, 300.0)])
    rows = {line.split(" | ")[0]: line for line in lines if line.startswith("| ")}
    assert "| 0.80 | - |" in rows["| 1024^2"]
    assert "| 0.55 | <= 0.6 |" in rows["| 2048^2"]
    assert "| 0.75 | <= 0.7 **not met** |" in rows["| 4096^2"]
    assert "| gridding | 1.0 | 1.0 | 1.0 |" in lines
