"""deconvolve: the minor cycle on the summed residual of one major cycle.

    deconvolve.py CYCLE

Reads the normalized residual of major cycle CYCLE (products/cycle<CYCLE>),
brings tclean's iteration control to where tclean's would be (see
iteration.py), asks it whether to stop and, if not, runs the minor cycle
(synthesisdeconvolver with the run's deconvolver, scales, gain and mask) on
the model of the cycle before.  Writes products/minor<CYCLE>: record.json
(this cycle's iteration records, stop code, iterations, peak residual), the
updated model and mask, and the model divided by weight for the next major
cycle's gridding (predict/).  Built in a scratch folder, moved into place
when complete (one that exists is kept); earlier cycles' products are only
read.
"""
import os
import sys

import dagutils
from imaging import automask, casa, identity, iteration, products, synthesis, timing


def main(cycle):
    params = dagutils.load_params()
    cycle = int(cycle)
    final = products.minor_dir(cycle)
    if products.finished(final, params, "deconvolution"):
        print(f"deconvolve: {final} exists from an earlier try; kept")
        return
    identity.require(products.stage_dir("cycle", cycle), params, products.cycle_stage(cycle))
    with products.building(final, params, "deconvolution") as work:
        image = products.image_base(work, params)
        record, mask_state = deconvolve(params, cycle, image)
        if record["stopcode"] == 0:
            make_predict_model(params, work, image)
        if mask_state is not None:
            products.write_json(os.path.join(work, automask.STATE_FILE), mask_state)
        products.write_json(os.path.join(work, "record.json"), record)
    print(f"deconvolve: cycle {cycle}: {iteration.STOP_REASONS[record['stopcode']]}; "
          f"{record['iterdone']} iterations in all; wrote {final}")


def deconvolve(params, cycle, image):
    """Set up the image set, replay earlier cycles, run this one; return its record
    and, with automasking, the automask state for the next cycle (automask.py)."""
    products.assemble_cycle(params, cycle, image)
    if params["niter"] == 0:   # (tclean without an iteration bot: its one major cycle is the last)
        return {"cycle": cycle, "stopcode": -1, "calls": [], "iterdone": 0, "lastcycle": {"0": True},
                "peakresidual": None, "stopreason": iteration.STOP_REASONS[-1]}, None
    with timing.timed("minor_cycle"), casa.using(synthesis.iteration_bot(params)) as bot, \
            casa.using(synthesis.open_deconvolver(params, image)) as sd:
        nmajor = params["nmajor"]
        for k in range(cycle):
            replay = iteration.Replay(products.read_record(k, params)["calls"])
            iteration.drive(bot, replay, k, nmajor)
        live = source = iteration.Live(sd)
        if automask.enabled(params):
            source = automask.Live(live, image, automask.read_state(mask_state_file(cycle)), cycle)
        lastcycles = {}
        stop = iteration.drive(bot, source, cycle, nmajor, lastcycles)
        record = summarize(cycle, stop, live.calls, bot.getiterationsummary(), lastcycles)
    # after the deconvolver is closed: the stop may put the mask of the last minor cycle back
    return record, (source.finish(stop) if source is not live else None)


def mask_state_file(cycle):
    """The automask state the minor cycle before `cycle` left (none before cycle 0)."""
    return os.path.join(products.minor_dir(cycle - 1), automask.STATE_FILE) if cycle > 0 else None


def summarize(cycle, stop, calls, summary, lastcycles):
    """The cycle's record; `lastcycle`: for the major cycles whose check it made,
    whether tclean would call each its last (savemodel writes the MS then)."""
    inits = [rec for kind, rec in calls if kind == iteration.Call.INIT]
    peak = iteration.from_json(inits[-1]).get("peakresidual") if inits else None
    return {"cycle": cycle, "stopcode": int(stop), "calls": calls,
            "lastcycle": {str(k): bool(v) for k, v in lastcycles.items()},
            "iterdone": int(summary["iterdone"]), "peakresidual": to_float(peak),
            "stopreason": iteration.STOP_REASONS[int(stop)]}


def make_predict_model(params, work, image):
    """The model as the gridders predict it: divided by the weight, as tclean does."""
    predict = products.image_base(os.path.join(work, "predict"), params)
    synthesis.write_predict_model(params, image, image, predict)


def to_float(value):
    try:
        return float(max(value)) if hasattr(value, "__len__") else float(value)
    except (TypeError, ValueError):
        return None


if __name__ == "__main__":
    dagutils.run_stage("deconvolve", main, *sys.argv[1:])
