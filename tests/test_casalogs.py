"""CASA's SEVERE lines, said where a user sees them (scripts/imaging/casalogs.py): a
job's stderr ends with each distinct message, marked when it is known to be harmless,
and make status shows the others, from the lines CASA writes to the jobs' stderr, with
the node that logged them."""
import pytest

from helpers import PYTHON, run
from imaging import casalogs

# From the CASA log of a gridding job of tests/test_real_evla.py (awproject), and one
# SEVERE message of CASA made up here.
SOURCE = "/source/casa6/casatools/casacore/measures/Measures/MeasTable.cc, line 4290"
LOG = "\n".join([
    "2026-12-01 23:52:47\tINFO\tSynthesisImager::selectData\tMS : products/subms/x.n2.ms",
    f"2026-12-01 23:52:47\tSEVERE\tMeasTable::dUTC(Double) (file {SOURCE})\t"
    "Leap second table TAI_UTC seems out-of-date.",
    f"2026-12-01 23:52:47\tSEVERE\tMeasTable::dUTC(Double) (file {SOURCE})+\t"
    "Until the table is updated (see the CASA documentation or your system admin),",
    f"2026-12-01 23:52:47\tSEVERE\tMeasTable::dUTC(Double) (file {SOURCE})+\t"
    "times and coordinates derived from UTC could be wrong by 1s or more.",
    "2026-12-01 23:52:47\tWARN\tAWProjectWBFT2::makeSensitivityImage(Complex)[R&D]\tSetting up",
    "2026-12-01 23:52:48\tSEVERE\tCFCache2::loadWtImage\tSum-of-weights not found Table "
    "products/parts/cycle0/n2.tmp/j1008.sumwt.tt0 does not existLoaded "
    '"products/parts/cycle0/n2.tmp/j1008.weight.tt0"',
    "2026-12-01 23:52:48\tSEVERE\tCFCache2::loadWtImage\tSum-of-weights not found Table "
    "products/parts/cycle0/n2.tmp/j1008.sumwt.tt0 does not existLoaded "
    '"products/parts/cycle0/n2.tmp/j1008.weight.tt1"',
    "2026-12-01 23:52:49\tSEVERE\tSIImageStore::getPSF\tPSF is empty",
    "2026-12-01 23:52:49\tSEVERE\tSIImageStore::getPSF\tPSF is empty",
])


@pytest.mark.fast
def test_each_distinct_severe_message_once_with_its_continuation_lines():
    assert casalogs.severe_messages(LOG) == [
        "MeasTable::dUTC(Double): Leap second table TAI_UTC seems out-of-date. Until the "
        "table is updated (see the CASA documentation or your system admin), times and "
        "coordinates derived from UTC could be wrong by 1s or more.",
        "CFCache2::loadWtImage: Sum-of-weights not found Table products/parts/cycle0/n2.tmp/"
        'j1008.sumwt.tt0 does not existLoaded "products/parts/cycle0/n2.tmp/j1008.weight.tt0"',
        "CFCache2::loadWtImage: Sum-of-weights not found Table products/parts/cycle0/n2.tmp/"
        'j1008.sumwt.tt0 does not existLoaded "products/parts/cycle0/n2.tmp/j1008.weight.tt1"',
        "SIImageStore::getPSF: PSF is empty"]


@pytest.mark.fast
def test_the_leap_second_and_sum_of_weights_messages_are_named_harmless_others_are_not():
    lines = casalogs.report_lines(LOG)
    assert [line.startswith("casa SEVERE (known, harmless: ") for line in lines] == \
        [True, True, True, False]
    assert "no leap second has been added since 2016" in lines[0]
    assert lines[3] == "casa SEVERE: SIImageStore::getPSF: PSF is empty"
    assert casalogs.unknown(LOG) == ["SIImageStore::getPSF: PSF is empty"]


@pytest.mark.fast
def test_make_status_names_the_unknown_severe_messages_and_their_nodes(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "imaging.log").write_text("")            # a run that started
    report = "\n".join(casalogs.report_lines(LOG))
    for node in ("allImagers_c0_n1", "allImagers_c0_n2"):
        (logs / f"{node}.err").write_text(f"{LOG}\n{report}\n")
    (logs / "addImages.err").write_text("\n".join(LOG.split("\n")[:4]))    # harmless only
    out = run([PYTHON, "-m", "tools.status"], cwd=tmp_path).stdout
    casa = [line for line in out.splitlines() if line.startswith("casa:")]
    assert casa == ["casa:    SEVERE in allImagers_c0_n1 and 1 more (logs/allImagers_c0_n1.err): "
                    "SIImageStore::getPSF: PSF is empty"], out
