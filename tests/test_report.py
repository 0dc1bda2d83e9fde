"""products/final/report.html (scripts/tools/report.py): one page for a finished run.
(On a whole `make run`: tests/test_guards_casa.py.)"""
import json

import pytest

from helpers import PYTHON, run
from tools import report

JOBS = {   # as progress.jobs reads them from the job log: times in seconds
    "allImagers_c0_n1": {"started": 100, "time": 112, "rc": 0, "memory": 700},
    "allImagers_c0_n2": {"started": 100, "time": 109, "rc": 0, "memory": 650},
    "allImagers_c1_n1": {"started": 130, "time": 138, "rc": 0, "memory": 720},
    "deconvolve": {"started": 115, "time": 120, "rc": 0, "memory": 300},
    "restore": {"started": 140},                                     # running: not counted
}


@pytest.mark.fast
def test_jobs_per_kind_with_summed_and_longest_wall_time_and_largest_memory():
    assert report.job_rows(JOBS) == [["allImagers", 3, "29.0", "12.0", 720],
                                     ["deconvolve", 1, "5.0", "5.0", 300]]


@pytest.mark.fast
def test_the_page_of_a_finished_run(tmp_path):
    final = tmp_path / "products" / "final"
    final.mkdir(parents=True)
    summary = {"majorcycles": 1, "iterdone": 42, "stopcode": 2, "stopreason": "threshold",
               "warnings": ["the automask is empty <here>"],
               "cycles": [{"cycle": 0, "peakresidual": 1.5, "iterdone": 20},
                          {"cycle": 1, "peakresidual": 0.2, "iterdone": 42}]}
    (final / "summary.json").write_text(json.dumps(summary))
    (final / "ctb80.image.tt0.fits").write_text("")
    (tmp_path / "products" / "params.json").write_text(json.dumps(
        {"imagename": "ctb80", "niter": 1000, "gain": 0.1, "threshold": "0.01Jy",
         "maxsubmssize": "10MB", "identity": {}}))
    out = run([PYTHON, "-m", "tools.report"], cwd=tmp_path).stdout
    assert out == "report: products/final/report.html\n"
    page = (final / "report.html").read_text()
    assert "1 major cycles after the first, 42 minor-cycle iterations; stopped: threshold" in page
    assert "<li><b>warning: the automask is empty &lt;here&gt;</b></li>" in page
    # tclean's defaults: niter 0, threshold 0.0, gain 0.1 (not shown); maxsubmssize '2GB'
    assert "<td>niter</td><td>1000</td><td>0</td>" in page
    assert "<td>threshold</td><td>&#x27;0.01Jy&#x27;</td><td>0.0</td>" in page
    assert "<td>gain</td>" not in page
    assert "<td>maxsubmssize</td><td>&#x27;10MB&#x27;</td><td>&#x27;2GB&#x27;</td>" in page
    assert "<td>1</td><td>0.2</td><td>42</td>" in page
    assert "<a href='ctb80.image.tt0.fits'>" in page and "src='quicklook.png'" in page


@pytest.mark.fast
def test_no_report_before_the_run_finished(tmp_path):
    proc = run([PYTHON, "-m", "tools.report"], cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "has not finished" in proc.stderr
