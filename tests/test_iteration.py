"""The replay of tclean's iteration control (scripts/imaging/iteration.py), on made-up
deconvolvers: each job's fresh iteration bot, brought up to date by replaying the records
of the earlier cycles, takes the decisions tclean documents.

The bot is CASA's own (iterbotsink, set up by synthesis.iteration_bot as deconvolve.py sets
it up); the deconvolver is a stand-in whose records give a major cycle's peak residual,
PSF sidelobe, n-sigma threshold and mask sum, and whose minor cycle takes every iteration
the bot allows.  The expected values are worked out by hand from tclean's rules (CASA
Docs, task tclean: parameters cyclefactor, cycleniter, nmajor, nsigma, and its returned
stop codes; the code: casa6 synthesis/ImagerObjects, getMinorCycleControls, cleanComplete):

- cycle threshold: psf_fraction = maxpsfsidelobe x cyclefactor, held between
  minpsffraction and maxpsffraction; cyclethreshold = max(peak residual x psf_fraction,
  threshold);
- a minor cycle's iterations: min(cycleniter, niter - iterations done);
- stop codes, checked on the residual of every major cycle: 1 niter reached,
  2 peak residual at threshold (within 1 %, CAS-11278), 4 no change in the peak
  residual across a major cycle, 5 peak residual (without mask) up by more than 3 times
  the previous one, 6 up by more than 3 times the lowest reached, 7 zero mask,
  8 peak residual at the n-sigma threshold, 9 nmajor major cycles done (the initial
  residual is not counted); this project's -2: a minor cycle that made no iterations.
"""
import json

import numpy as np
import pytest

from imaging import iteration, synthesis

pytestmark = pytest.mark.fast

# params/imaging.py's iteration parameters (niter and cycleniter set per test)
ITERATION = {"niter": 1000, "cycleniter": 100, "threshold": "0.01Jy", "nsigma": 0.0,
             "cyclefactor": 1.0, "minpsffraction": 0.05, "maxpsffraction": 0.8, "nmajor": -1,
             "gain": 0.1, "deconvolver": "hogbom", "imagename": "made_up"}
SUMMARY_ROWS = 6   # rows of the minor-cycle summary this CASA's records carry


class MadeUp:
    """The deconvolver of one cycle: the peak residual of its major cycle (`peak`) and
    what its minor cycle leaves (`after`); it takes every iteration the bot allows, or
    `iterations` if fewer."""

    def __init__(self, peak, after=None, sidelobe=0.2, nomask=None, nsigmathreshold=0.0,
                 masksum=-1.0, iterations=None):
        self.peak, self.after, self.iterations = peak, after, iterations
        self.init = {"peakresidual": peak, "peakresidualnomask": peak if nomask is None else nomask,
                     "maxpsfsidelobe": sidelobe, "madrms": 0.0, "nsigma": 0.0,
                     "nsigmathreshold": nsigmathreshold, "masksum": masksum, "fullsummary": False,
                     "summaryminor": np.zeros((SUMMARY_ROWS, 0))}
        self.controls = None

    def initminorcycle(self):
        return dict(self.init)

    def setupmask(self):
        pass

    def executeminorcycle(self, iterbotrecord):
        self.controls = dict(iterbotrecord)
        n = iterbotrecord["cycleniter"]
        n = n if self.iterations is None else min(n, self.iterations)
        after = self.peak / 2 if self.after is None else self.after
        summary = np.zeros((SUMMARY_ROWS, 1))
        summary[:2, 0] = n, after
        return {"iterdone": n, "maxcycleiterdone": n, "peakresidual": after,
                "peakresidualnomask": after, "updatedmodelflag": n > 0, "summaryminor": summary}


def cycles(*peaks, **init):
    """Made-up deconvolvers for major cycles with these peak residuals: each minor cycle
    leaves the next cycle's peak."""
    return [MadeUp(p, after, **init) for p, after in zip(peaks, peaks[1:] + (peaks[-1] / 2,))]


def outcome(stop, deconvolver, bot):
    controls = deconvolver.controls
    return {"stop": stop, "iterdone": int(bot.getiterationsummary()["iterdone"]),
            "cycleniter": controls and controls["cycleniter"],
            "cyclethreshold": controls and round(float(controls["cyclethreshold"]), 6)}


def jobs(made_up, **params):
    """The DAG's deconvolve jobs, cycle after cycle until one stops: each a fresh bot that
    replays the earlier cycles' records (through JSON, as products/minor<c>/record.json
    keeps them), then drives its own cycle.  Returns each cycle's outcome."""
    params = {**ITERATION, **params}
    records, outcomes = [], []
    for cycle, deconvolver in enumerate(made_up):
        with synthesis.using(synthesis.iteration_bot(params)) as bot:
            for k, calls in enumerate(records):
                iteration.drive(bot, iteration.Replay(calls), k, params["nmajor"])
            live = iteration.Live(deconvolver)
            stop = iteration.drive(bot, live, cycle, params["nmajor"])
            outcomes.append(outcome(stop, deconvolver, bot))
        records.append(json.loads(json.dumps(live.calls)))
        if stop:
            return outcomes
    raise AssertionError(f"no stop in {len(made_up)} cycles: {outcomes}")


def one_bot(made_up, **params):
    """tclean itself: one bot kept across every cycle."""
    params = {**ITERATION, **params}
    outcomes = []
    with synthesis.using(synthesis.iteration_bot(params)) as bot:
        for cycle, deconvolver in enumerate(made_up):
            stop = iteration.drive(bot, iteration.Live(deconvolver), cycle, params["nmajor"])
            outcomes.append(outcome(stop, deconvolver, bot))
            if stop:
                return outcomes
    raise AssertionError(f"no stop in {len(made_up)} cycles: {outcomes}")


def stops(outcomes):
    return [o["stop"] for o in outcomes]


# ---------------------------------------------------------------- the minor cycle's controls

def test_cycle_threshold_is_the_peak_residual_times_cyclefactor_times_the_psf_sidelobe():
    """peak 1.0 Jy, sidelobe 0.2, cyclefactor 1.5: 1.0 x 0.3 = 0.3 Jy (above threshold)."""
    first = jobs(cycles(1.0, 0.001), cyclefactor=1.5)[0]
    assert first["cyclethreshold"] == pytest.approx(0.3)


@pytest.mark.parametrize("sidelobe, cyclefactor, fraction", [
    (0.01, 1.0, 0.05),      # 0.01 below minpsffraction 0.05
    (0.6, 2.0, 0.8),        # 1.2 above maxpsffraction 0.8
    (0.3, 1.0, 0.3),        # within
])
def test_psf_fraction_is_held_between_minpsffraction_and_maxpsffraction(sidelobe, cyclefactor,
                                                                        fraction):
    first = jobs(cycles(2.0, 0.001, sidelobe=sidelobe), cyclefactor=cyclefactor)[0]
    assert first["cyclethreshold"] == pytest.approx(2.0 * fraction)


def test_cycle_threshold_never_goes_below_threshold():
    """peak 0.1 Jy x sidelobe 0.2 = 0.02 Jy, below threshold 0.05 Jy: 0.05 Jy."""
    first = jobs(cycles(0.1, 0.001), threshold="0.05Jy")[0]
    assert first["cyclethreshold"] == pytest.approx(0.05)


def test_minor_cycles_take_cycleniter_until_niter_is_used_up_then_stop_with_code_1():
    """niter 250, cycleniter 100, the residual never at threshold: minor cycles of 100,
    100 and 250 - 200 = 50 iterations; the fourth cycle's residual stops the run (1)
    without a minor cycle."""
    out = jobs(cycles(1.0, 0.8, 0.6, 0.5, 0.4), niter=250, cycleniter=100)
    assert [o["cycleniter"] for o in out] == [100, 100, 50, None]
    assert [o["iterdone"] for o in out] == [100, 200, 250, 250]
    assert stops(out) == [0, 0, 0, 1]


def test_cycleniter_minus_one_gives_the_minor_cycle_all_of_niter():
    out = jobs(cycles(1.0, 0.5), niter=250, cycleniter=-1)
    assert [o["cycleniter"] for o in out] == [250, None] and stops(out) == [0, 1]


# ---------------------------------------------------------------- stopping rules

@pytest.mark.parametrize("last, stop", [
    (0.009, 2),             # below threshold 0.01 Jy
    (0.01005, 2),           # 0.5 % above: within tclean's 1 % tolerance
    (0.0102, 0),            # 2 % above: another minor cycle
])
def test_stops_with_code_2_when_the_peak_residual_reaches_threshold(last, stop):
    out = jobs(cycles(1.0, 0.3, last, 0.001))
    assert stops(out)[2] == stop
    assert out[2]["iterdone"] == 200 + (stop == 0) * 100


def test_stops_with_code_4_when_a_major_cycle_leaves_the_peak_residual_unchanged():
    assert stops(jobs(cycles(1.0, 0.5, 0.5))) == [0, 0, 4]


@pytest.mark.parametrize("peaks, expected", [
    ((1.0, 0.1, 0.45), [0, 0, 5]),          # (0.45 - 0.1) / 0.1 = 3.5 > 3
    ((1.0, 0.1, 0.35, 0.2, 0.001), [0, 0, 0, 0, 2]),   # 2.5: goes on
])
def test_stops_with_code_5_when_the_peak_residual_grows_more_than_3_times_in_a_cycle(peaks,
                                                                                     expected):
    assert stops(jobs(cycles(*peaks))) == expected


def test_stops_with_code_6_when_the_peak_residual_grows_more_than_3_times_the_lowest():
    """0.1 Jy is the lowest, two cycles before: 0.3 is 2 times above it and 2 times above
    its predecessor (goes on); 0.5 is (0.5 - 0.1) / 0.1 = 4 times above the lowest, but
    only 0.67 times above its predecessor: 6.  The job of the last cycle knows the lowest
    only from the replayed records."""
    assert stops(jobs(cycles(1.0, 0.1, 0.3, 0.5))) == [0, 0, 0, 6]


def test_stops_with_code_7_when_the_mask_is_empty():
    out = jobs(cycles(1.0, 0.5, masksum=0.0))
    assert stops(out) == [7] and out[0]["cycleniter"] is None


def test_stops_with_code_8_when_the_peak_residual_reaches_the_nsigma_threshold():
    """n-sigma threshold 0.05 Jy (the deconvolver's nsigma x robust rms), threshold
    0.01 Jy: a peak residual of 0.04 Jy stops the run (8), not by threshold."""
    assert stops(jobs(cycles(1.0, 0.3, 0.04, 0.001, nsigmathreshold=0.05), nsigma=3.0)) == [0, 0, 8]


def test_stops_with_code_9_after_nmajor_major_cycles():
    """nmajor 2: the initial residual (cycle 0) and two major cycles; minor cycles on
    the first two residuals only."""
    out = jobs(cycles(1.0, 0.5, 0.3, 0.2), nmajor=2)
    assert stops(out) == [0, 0, 9] and out[2]["cycleniter"] is None
    assert out[2]["iterdone"] == 200


def test_a_minor_cycle_without_iterations_stops_with_code_minus_2():
    out = jobs([MadeUp(1.0, 1.0, iterations=0)])
    assert stops(out) == [-2] and out[0]["iterdone"] == 0


# ---------------------------------------------------------------- the replay itself

SCENARIOS = {   # the peak residuals of the major cycles, the deconvolver's, the run's parameters
    "niter": ((1.0, 0.8, 0.6, 0.5, 0.4), {}, {"niter": 250}),
    "threshold": ((1.0, 0.3, 0.05, 0.009), {}, {}),
    "unchanged": ((1.0, 0.5, 0.5), {}, {}),
    "diverging": ((1.0, 0.1, 0.45), {}, {}),
    "above the lowest": ((1.0, 0.1, 0.3, 0.5), {}, {}),
    "nsigma": ((1.0, 0.3, 0.04), {"nsigmathreshold": 0.05}, {"nsigma": 3.0}),
    "nmajor": ((1.0, 0.5, 0.3, 0.2), {}, {"nmajor": 2}),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_jobs_that_replay_the_earlier_cycles_decide_as_one_bot_kept_across_them(name):
    """Every cycle's controls, iterations and stop code are tclean's (one bot for the
    whole run), though each job's bot is new and knows the earlier cycles only from
    their records."""
    peaks, deconvolver, params = SCENARIOS[name]
    assert jobs(cycles(*peaks, **deconvolver), **params) == \
        one_bot(cycles(*peaks, **deconvolver), **params)


def test_records_come_back_from_json_exactly():
    record = {"peakresidual": np.float32(0.15623014), "iterdone": np.int64(74), "flag": True,
              "summaryminor": np.array([[74.0], [0.0237]], dtype=np.float64),
              "nested": {"mask": np.zeros((2, 3), dtype=np.float32), "name": "x", "none": None}}
    back = iteration.from_json(json.loads(json.dumps(iteration.to_json(record))))
    assert back.keys() == record.keys() and back["nested"].keys() == record["nested"].keys()
    for a, b in [(back[k], record[k]) for k in ("peakresidual", "iterdone", "summaryminor")] + \
            [(back["nested"]["mask"], record["nested"]["mask"])]:
        assert type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    assert (back["flag"], back["nested"]["name"], back["nested"]["none"]) == (True, "x", None)


def test_a_replay_out_of_step_with_tclean_calls_is_refused():
    replay = iteration.Replay([["exec", {"iterdone": 1}]])
    with pytest.raises(AssertionError, match="replay out of step: recorded exec, tclean calls init"):
        replay.init_minor()
