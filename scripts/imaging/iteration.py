"""tclean's iteration control, kept across the jobs of the DAG.

tclean keeps its stopping rules (niter, cycleniter, threshold, nsigma, nmajor,
the cycle threshold from cyclefactor and the PSF sidelobe, the peak-residual
history that detects divergence) in one CASA iteration bot (`iterbotsink`)
that lives through the whole run.  Here every major cycle is a separate job,
so each deconvolve job makes a fresh iteration bot and brings it to the state
tclean's would have by replaying, in tclean's order, the calls of the earlier
cycles with the records those cycles saw (the deconvolver's init and exec
records, saved as JSON in products/minor<c>/record.json).  The bot's own C++
code then decides; no stopping rule is re-implemented here.

The calls, from casatasks' task_tclean.py and imager_base.py, per cycle c
(the residual of major cycle c is on disk):
  c = 0:  cleanComplete(lastcyclecheck) and endmajorcycle (the calcres cycle),
          hasConverged, updateMask, hasConverged
  c > 0:  endmajorcycle, updateMask, hasConverged
  then, unless stopped: minor cycle (getminorcyclecontrols, resetminorcycleinfo,
  executeminorcycle, mergeexecrecord) and, if it iterated,
  cleanComplete(lastcyclecheck) before the next major cycle.
"""
import enum

import numpy as np

STOP_REASONS = {
    0: "not stopped",
    1: "iteration limit", 2: "threshold", 3: "force stop",
    4: "no change in peak residual across two major cycles",
    5: "peak residual increased by more than 3 times from the previous major cycle",
    6: "peak residual increased by more than 3 times from the minimum reached",
    7: "zero mask", 8: "any combination of n-sigma and other valid exit criterion",
    9: "reached nmajor",
    -1: "no deconvolution (niter=0)",
    -2: "the minor cycle made no iterations",
}


def drive(bot, source, cycle, nmajor, lastcycles=None):
    """Run one cycle's iteration-bot calls; return tclean's stop code (0: go on).
    `lastcycles` (a dict) gets, per major cycle whose check this cycle makes, whether
    tclean calls it its last (cleanComplete(lastcyclecheck=True) > 0, imager_base.py:
    runMajorCycle): tclean's savemodel writes the MS in those major cycles only."""
    lastcycles = {} if lastcycles is None else lastcycles
    if cycle == 0:
        lastcycles[0] = bot.cleanComplete(lastcyclecheck=True) > 0
    bot.endmajorcycle()
    if cycle == 0:
        has_converged(bot, source, cycle, nmajor)
    source.update_mask()
    stop = has_converged(bot, source, cycle, nmajor)
    if stop:
        return stop
    controls = bot.getminorcyclecontrols()
    bot.resetminorcycleinfo()
    exrec = source.execute_minor(controls)
    bot.mergeexecrecord(exrec, 0)
    if exrec["iterdone"] == 0:  # tclean: no major cycle; it checks once more and stops
        source.update_mask()
        return has_converged(bot, source, cycle, nmajor) or -2
    lastcycles[cycle + 1] = bot.cleanComplete(lastcyclecheck=True) > 0
    return 0


def has_converged(bot, source, majors_done, nmajor):
    bot.resetminorcycleinfo()
    bot.mergeinitrecord(source.init_minor(), 0)
    return int(bot.cleanComplete(reachedMajorLimit=0 <= nmajor <= majors_done))


class Call(enum.StrEnum):
    """A deconvolver call a cycle's record keeps (its calls: [kind, record])."""
    INIT = "init"      # initminorcycle
    EXEC = "exec"      # executeminorcycle


class Live:
    """The deconvolver of this job: runs it and records what it returns."""

    def __init__(self, deconvolver):
        self.sd = deconvolver
        self.calls = []
        self.initialized = False

    def init_minor(self):
        self.initialized = True
        return self._keep(Call.INIT, self.sd.initminorcycle())

    def execute_minor(self, controls):
        return self._keep(Call.EXEC, self.sd.executeminorcycle(iterbotrecord=controls))

    def update_mask(self):
        if not self.initialized:  # tclean's deconvolver was initialized by an earlier cycle
            self.sd.initminorcycle()
            self.initialized = True
        self.sd.setupmask()

    def _keep(self, kind, record):
        self.calls.append([kind, to_json(record)])
        return record


class Replay:
    """An earlier cycle's deconvolver, played back from its saved records."""

    def __init__(self, calls):
        self.calls = list(calls)

    def init_minor(self):
        return self._next(Call.INIT)

    def execute_minor(self, controls):
        return self._next(Call.EXEC)

    def update_mask(self):
        pass

    def _next(self, kind):
        got, record = self.calls.pop(0)
        assert got == kind, f"replay out of step: recorded {got}, tclean calls {kind}"
        return from_json(record)


def to_json(value):
    """A CASA record as JSON-able data that from_json turns back exactly."""
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return {"__scalar__": value.item(), "dtype": str(value.dtype)}
    return value


def from_json(value):
    if isinstance(value, dict) and "__ndarray__" in value:
        return np.array(value["__ndarray__"], dtype=value["dtype"])
    if isinstance(value, dict) and "__scalar__" in value:
        return np.dtype(value["dtype"]).type(value["__scalar__"])
    if isinstance(value, dict):
        return {k: from_json(v) for k, v in value.items()}
    return value
