"""The guards (scripts/imaging/guards.py): the warnings a finished run gives, each decided
on numbers worked out by hand, and where the user sees them: summary.txt, summary.json,
`make status` and the end of `make run`.

Records are made up in the form deconvolve.py writes them (products/minor<c>/record.json:
the deconvolver's init and exec records, the stop code, the iterations so far, the
peak residual).  tclean's stop codes are those of casatasks' imager_base.py (5 and 6:
the peak residual up by more than 3 times from the previous major cycle, from the
minimum reached).
"""
import json

import pytest

from helpers import PYTHON, new_run, run
from imaging import guards, iteration

pytestmark = pytest.mark.fast

PARAMS = {"niter": 100, "threshold": 0.01, "nsigma": 0.0, "gain": 0.1, "usemask": "user",
          "mask": "", "deconvolver": "mtmfs", "nterms": 2, "nmajor": -1, "imagename": "ctb80",
          "sidelobethreshold": 2.0, "noisethreshold": 4.25, "cyclefactor": 1.0}


def record(cycle, stopcode, iterdone, peak, nomask=None, masksum=-1.0, nsigmathreshold=0.0,
           madrms=0.0):
    """A cycle's record: its init record (after the mask update) with the peak residual
    in the mask and without it, and the mask sum; an exec record if a minor cycle ran."""
    init = {"peakresidual": peak, "peakresidualnomask": peak if nomask is None else nomask,
            "masksum": masksum, "nsigmathreshold": nsigmathreshold, "madrms": madrms}
    calls = [[iteration.Call.INIT.value, iteration.to_json(init)]]
    if stopcode == 0:
        calls.append([iteration.Call.EXEC.value, {"iterdone": iterdone}])
    return {"cycle": cycle, "stopcode": stopcode, "iterdone": iterdone, "peakresidual": peak,
            "calls": calls, "stopreason": iteration.STOP_REASONS[stopcode]}


def converging(*peaks, stop=2):
    """Cycles with these peak residuals, 10 iterations each, the last one the stop."""
    return [record(c, 0 if c < len(peaks) - 1 else stop, 10 * (c + 1), p)
            for c, p in enumerate(peaks)]


# ---------------------------------------------------------------- the empty model

def test_a_threshold_above_the_first_peak_says_nothing_was_cleaned_and_why():
    records = [record(0, 2, 0, 1.026)]
    assert guards.empty_model({**PARAMS, "threshold": 2.0}, records) == [
        "nothing was cleaned: the model is empty (0 iterations; the first peak residual "
        "1.026 Jy/beam was already below threshold 2 Jy: lower threshold)"]


def test_no_iteration_after_a_start_model_does_not_call_the_model_empty():
    """The start model is the model (tests/test_real_features.py met this case: a second
    self-calibration round whose first residual was already below threshold)."""
    records = [record(0, 2, 0, 0.0196)]
    assert guards.empty_model({**PARAMS, "threshold": 0.02, "startmodel": "old.model"},
                              records) == [
        "nothing was cleaned beyond the start model (0 iterations; the first peak residual "
        "0.0196 Jy/beam was already below threshold 0.02 Jy: lower threshold)"]


def test_a_threshold_given_as_a_quantity_is_named_in_jy():
    records = [record(0, 2, 0, 0.3)]
    [line] = guards.empty_model({**PARAMS, "threshold": "500mJy"}, records)
    assert "the first peak residual 0.3 Jy/beam was already below threshold 0.5 Jy" in line


def test_an_nsigma_threshold_above_the_first_peak_names_nsigma_and_the_rms():
    records = [record(0, 8, 0, 0.04, nsigmathreshold=0.05, madrms=0.01)]
    [line] = guards.empty_model({**PARAMS, "nsigma": 5.0}, records)
    assert ("the first peak residual 0.04 Jy/beam was already below the n-sigma threshold "
            "0.05 Jy (nsigma = 5.0 x the robust rms 0.01): lower nsigma") in line


def test_an_empty_mask_is_named_as_the_reason():
    records = [record(0, 7, 0, 1.0, masksum=0.0)]
    [line] = guards.empty_model({**PARAMS, "mask": "circle[[5pix, 5pix], 2pix]"}, records)
    assert line.startswith("nothing was cleaned: the model is empty (0 iterations; the mask "
                           "is empty (usemask = 'user', mask = 'circle[[5pix, 5pix], 2pix]')")


def test_an_empty_automask_is_named_as_the_reason():
    records = [record(0, 7, 0, 1.0, masksum=0.0)]
    [line] = guards.empty_model({**PARAMS, "usemask": "auto-multithresh"}, records)
    assert line == ("nothing was cleaned: the model is empty (0 iterations; the automask "
                    "found nothing above its thresholds)")


def test_a_model_all_zeros_after_iterations_is_an_empty_model():
    [line] = guards.empty_model({**PARAMS, "gain": 0.0}, converging(1.0, 0.5), [0.0, 0.0])
    assert line.startswith("nothing was cleaned: the model is all zeros in every Taylor term "
                           "although 20 iterations were done (gain = 0.0)")


@pytest.mark.parametrize("params, records, peaks", [
    ({**PARAMS, "niter": 0}, [record(0, -1, 0, None)], None),    # no deconvolution asked
    (PARAMS, converging(1.0, 0.5, 0.009), [0.9, 0.1]),            # cleaned to the threshold
    (PARAMS, converging(1.0, 0.5), [0.0, 0.2]),                   # one term is not empty
])
def test_a_run_that_cleaned_or_was_not_asked_to_has_no_empty_model_warning(params, records,
                                                                             peaks):
    assert guards.empty_model(params, records, peaks) == []


# ---------------------------------------------------------------- divergence

@pytest.mark.parametrize("stop", [5, 6])
def test_tcleans_divergence_stops_are_a_warning_with_the_peaks(stop):
    records = converging(1.0, 0.2, 0.9, stop=stop)
    assert guards.divergence(PARAMS, records) == [
        f"the minor cycle diverged: tclean stopped at major cycle 2: "
        f"{iteration.STOP_REASONS[stop]} (peak residuals 0: 1, 1: 0.2, 2: 0.9): lower gain "
        f"(0.1) or raise cyclefactor (1.0), or use a mask"]


def test_a_last_peak_residual_1_6_times_the_lowest_is_a_warning_naming_the_cycles():
    # 0.16 / 0.1 = 1.6 > 1.5
    assert guards.divergence(PARAMS, converging(1.0, 0.2, 0.1, 0.16, stop=1)) == [
        "the peak residual grew: 0.16 Jy/beam at major cycle 3, 1.6 times the lowest, 0.1 "
        "at cycle 2: the minor cycle may be diverging; lower gain (0.1) or raise cyclefactor "
        "(1.0), or use a mask"]


@pytest.mark.parametrize("peaks", [(1.0, 0.2, 0.1, 0.14), (1.0, 0.5, 0.25), (1.0,)])
def test_a_peak_residual_that_falls_or_grows_by_less_than_half_is_no_warning(peaks):
    assert guards.divergence(PARAMS, converging(*peaks, stop=1)) == []


def test_growth_is_judged_on_the_peak_without_mask_which_a_growing_mask_does_not_raise():
    # masked peaks 0.1 -> 0.3 (the automask took in a brighter source); unmasked 1.0 -> 0.3
    records = [record(0, 0, 10, 0.1, nomask=1.0), record(1, 1, 20, 0.3, nomask=0.3)]
    assert guards.divergence(PARAMS, records) == []


# ---------------------------------------------------------------- the empty automask

def test_cycles_with_an_empty_automask_where_a_minor_cycle_was_due_are_named():
    params = {**PARAMS, "usemask": "auto-multithresh"}
    records = [record(0, 0, 10, 1.0, masksum=50.0), record(1, 0, 10, 0.5, masksum=0.0),
               record(2, -2, 10, 0.5, masksum=0.0)]
    assert guards.empty_automask(params, records) == [
        "the automask came out empty at major cycle(s) 1, 2 (no pixel in the mask tclean's "
        "updateMask made): nothing was cleaned there; lower sidelobethreshold (2.0) or "
        "noisethreshold (4.25)"]


def test_an_empty_automask_at_a_threshold_stop_or_without_automasking_is_no_warning():
    records = [record(0, 0, 10, 1.0, masksum=50.0), record(1, 2, 10, 0.009, masksum=0.0)]
    assert guards.empty_automask({**PARAMS, "usemask": "auto-multithresh"}, records) == []
    empty = [record(0, 7, 0, 1.0, masksum=0.0)]
    assert guards.empty_automask(PARAMS, empty) == []


# ---------------------------------------------------------------- flux outside the mask

def test_model_flux_outside_the_mask_above_a_thousandth_is_a_warning_with_the_flux():
    # 0.004 / 2.0 = 0.002 > 1e-3
    assert guards.flux_outside_mask(2.0, 0.004) == [
        "flux in the model outside the mask: 0.004 Jy of 2 Jy (sum of |model.tt0|), a "
        "fraction 0.002 > 0.001: the mask shrank after it was cleaned in, or a model was "
        "started outside it; check the mask"]


@pytest.mark.parametrize("total, outside", [(2.0, 0.001), (2.0, 0.0), (None, None), (0.0, 0.0)])
def test_model_flux_within_a_thousandth_or_no_mask_is_no_warning(total, outside):
    assert guards.flux_outside_mask(total, outside) == []


@pytest.mark.parametrize("usemask, mask, in_use", [
    ("user", "", False), ("user", "circle[[5pix, 5pix], 2pix]", True), ("pb", "", True),
    ("auto-multithresh", "", True)])
def test_a_mask_is_in_use_with_a_user_mask_pb_or_automasking(usemask, mask, in_use):
    assert guards.mask_in_use({"usemask": usemask, "mask": mask}) == in_use


# ---------------------------------------------------------------- Taylor terms

def test_nterms_2_on_a_band_within_100_mhz_of_3_ghz_says_tt1_is_poorly_constrained():
    # b/2 = 0.1 / 3 = 0.0333 < 0.05; b = 6.7 %
    assert guards.taylor_terms(PARAMS, 3e9, 0.1e9) == [
        "nterms = 2: the selected data lie within 100 MHz of reffreq 3 GHz (b/2 = 0.033, a "
        "fractional bandwidth b of at most 6.7%); the Taylor term tt1 (spectral index) is "
        "poorly constrained ((b/2)^1 = 0.033 < 0.05): use nterms = 1 or select more "
        "bandwidth"]


def test_nterms_3_is_judged_on_the_square_of_the_half_bandwidth():
    # b/2 = 0.5 / 3 = 0.167, (b/2)^2 = 0.0278 < 0.05 although b/2 > 0.05
    [line] = guards.taylor_terms({**PARAMS, "nterms": 3}, 3e9, 0.5e9)
    assert "tt2 (spectral curvature) is poorly constrained ((b/2)^2 = 0.028 < 0.05): use " \
           "nterms = 2" in line


@pytest.mark.parametrize("params, halfspan", [
    (PARAMS, 0.2e9),                                   # b/2 = 0.0667 >= 0.05
    ({**PARAMS, "nterms": 3}, 0.7e9),                   # (b/2)^2 = 0.0544
    ({**PARAMS, "nterms": 1}, 0.01e9),                  # one term: no spectral fit
    ({**PARAMS, "deconvolver": "hogbom"}, 0.01e9),      # not mtmfs
])
def test_enough_bandwidth_or_no_taylor_fit_is_no_warning(params, halfspan):
    assert guards.taylor_terms(params, 3e9, halfspan) == []


def test_warnings_collects_every_guard_in_order():
    records = converging(1.0, 0.2, 0.9, stop=5)
    facts = {"model_peaks": [0.5, 0.1], "model_flux": 1.0, "model_flux_outside": 0.5,
             "reffreq": 3e9, "halfspan": 0.1e9}
    found = guards.warnings(PARAMS, records, facts)
    assert [w.split(":")[0] for w in found] == [
        "the minor cycle diverged", "flux in the model outside the mask", "nterms = 2"]


# ---------------------------------------------------------------- where the user sees them

WARNINGS = ["nothing was cleaned: the model is empty (0 iterations; ...)",
            "nterms = 2: the selected data lie within 100 MHz of reffreq 3 GHz (...)"]


def test_summary_txt_ends_with_one_warning_line_each():
    import restore
    summary = restore.summary(0, [record(0, 2, 0, 1.026)])
    summary["warnings"] = WARNINGS
    assert write_and_read(restore, summary)[-3:] == ["", f"warning: {WARNINGS[0]}", f"warning: {WARNINGS[1]}"]


def test_summary_txt_without_warnings_has_no_warning_line():
    import restore
    summary = {**restore.summary(0, [record(0, 2, 0, 1.026)]), "warnings": []}
    assert not [line for line in write_and_read(restore, summary) if "warning" in line]


def write_and_read(restore, summary):
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        restore.write_summary(folder, summary)
        assert json.load(open(f"{folder}/summary.json"))["warnings"] == summary["warnings"]
        return open(f"{folder}/summary.txt").read().splitlines()


@pytest.fixture
def finished_run(tmp_path):
    """A run directory whose products say it finished: one cycle's record and a summary
    with two warnings (as restore writes them)."""
    rundir = new_run(tmp_path / "run", {})
    minor = rundir / "products" / "minor0"
    minor.mkdir(parents=True)
    (minor / "record.json").write_text(json.dumps(record(0, 2, 0, 1.026)))
    final = rundir / "products" / "final"
    final.mkdir()
    (final / "summary.json").write_text(json.dumps({"warnings": WARNINGS}))
    return rundir


def test_make_status_of_a_finished_run_ends_with_its_warnings(finished_run):
    out = run(["make", "-s", "status"], cwd=finished_run).stdout.splitlines()
    assert "state:   finished" in out[1]
    assert out[-2:] == [f"warning: {w}" for w in WARNINGS]


def test_the_end_of_make_run_prints_only_the_warnings(finished_run):
    out = run([PYTHON, "-m", "tools.status", "--warnings"], cwd=finished_run).stdout
    assert out.splitlines() == [f"warning: {w}" for w in WARNINGS]
    plan = run(["make", "--no-print-directory", "-n", "run"], cwd=finished_run).stdout.strip().splitlines()
    assert plan[-1].endswith("-m tools.status --warnings"), plan[-1]


def test_a_summary_from_before_the_guards_prints_no_warning(finished_run):
    (finished_run / "products" / "final" / "summary.json").write_text("{}")
    out = run([PYTHON, "-m", "tools.status", "--warnings"], cwd=finished_run).stdout
    assert out == ""
