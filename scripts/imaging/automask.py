"""tclean's automasking (usemask='auto-multithresh') state, carried between deconvolve jobs.

Prototype (issue 15, part 1); see docs/automask.md for where each piece of state
lives in CASA and the experiment that checks this module against tclean.

tclean makes the auto-mask in its one SynthesisDeconvolver, in updateMask
(setupmask -> SynthesisDeconvolver::setAutoMask -> SDMaskHandler::autoMask ->
autoMaskByMultiThreshold), on the normalized residual of each major cycle,
before the minor cycle.  Besides the `<imagename>.mask` image on disk, that
deconvolver keeps in memory what a fresh synthesisdeconvolver lacks:

  iterdone          SynthesisDeconvolver::itsIterDone, the iterations of the
                    minor cycles so far (+= SIMinorCycleController::getIterDone()
                    in setAutoMask).  autoMaskByMultiThreshold only asks whether
                    it is zero: no mask growth (growiterations) while it is, and
                    the robust statistics of an nsigma initminorcycle are reused.
                    A fresh deconvolver has 0.
  thresholdreached  SIMinorCycleController::itsIsThresholdReached, from the
                    iteration controls of the last minor cycle; needed by the
                    minpercentchange test (skipChannels).  A fresh one has False.
  chanflag          SynthesisDeconvolver::itsChanFlag, one flag per channel:
                    'stop automasking this channel' (skipChannels: the mask is
                    empty, or changed less than minpercentchange % once the
                    cycle threshold reached the threshold).  Fresh: all False.
  posmask           SynthesisDeconvolver::itsPosMask, the positive-only mask (a
                    scratch image); always a subset of the .mask, so a fresh
                    (zero) one gives the same union: not carried.
  robust stats      SynthesisDeconvolver::itsRobustStats, recomputed by every
                    automask with iterdone > 0: not carried.

The python synthesisdeconvolver has no setter for any of them (setIterDone,
setChanFlag, setPosMask, setRobustStats are C++ only), so this module brings a
fresh deconvolver to tclean's state through the calls it does have:

  iterdone, thresholdreached: one minor-cycle iteration (executeminorcycle
      with cycleniter=1) whose model and residual are then put back as they
      were: it leaves SIMinorCycleController::itsIterDone = 1 (non-zero, which
      is all the mask code asks) and sets itsIsThresholdReached from the record.
  chanflag: kept on disk (automask.json) from the log line skipChannels writes
      ("Stopping masking for chan=N"); a channel tclean stopped masking is not
      masked again: with every channel stopped, setupmask is not called at all
      (tclean's then leaves the mask as it is).
"""
import os

import numpy as np

from imaging import casa, casaenv

STATE_FILE = "automask.json"
STOP_LINE = "Stopping masking for chan="

# tclean's automasking parameters (task_tclean), all passed through ImagerParameters.
PARAMETERS = ("usemask", "pbmask", "sidelobethreshold", "noisethreshold", "lownoisethreshold",
              "negativethreshold", "smoothfactor", "minbeamfrac", "cutthreshold",
              "growiterations", "dogrowprune", "minpercentchange", "verbose", "fastnoise")


def initial_state(nchan=1):
    """The state of tclean's deconvolver before its first automask."""
    return {"iterdone": 0, "thresholdreached": False, "chanflag": [False] * nchan}


def after_minor_cycle(state, controls, iterdone):
    """The state after a minor cycle run with `controls` (the iteration bot's
    minor-cycle controls) that made `iterdone` iterations."""
    return {**state, "iterdone": int(state["iterdone"]) + int(iterdone),
            "thresholdreached": bool(controls["thresholdreached"])}


def one_step_controls(thresholdreached):
    """Minor-cycle controls for a single iteration (whose effect restore() undoes)."""
    return {"cycleniter": 1, "cyclethreshold": 0.0, "thresholdreached": bool(thresholdreached),
            "loopgain": 0.0, "nsigma": 0.0}


def restore(sd, state, imagename):
    """Bring a fresh, initialized (initminorcycle) deconvolver to tclean's
    automask state: iterdone non-zero and the last controls' thresholdreached.

    Runs one minor-cycle iteration (even with loop gain 0 mtmfs changes the
    model and residual), then puts the model and residual pixels back as they
    were, so that the mask is made on the residual of this major cycle."""
    if int(state["iterdone"]) <= 0:
        return
    saved = {path: pixels(path) for path in step_images(imagename)}
    rec = sd.executeminorcycle(iterbotrecord=one_step_controls(state["thresholdreached"]))
    if int(rec["iterdone"]) != 1:
        raise RuntimeError(f"automask: the restoring step made {rec['iterdone']} iterations")
    for path, data in saved.items():
        put_pixels(path, data)


def step_images(imagename):
    """The images a minor cycle writes: model and residual (every Taylor term)."""
    import glob
    return sorted(p for kind in ("model", "residual")
                  for p in glob.glob(glob.escape(imagename) + "." + kind + "*")
                  if os.path.isdir(p))


def update_mask(sd, state, logfile=None):
    """tclean's updateMask on a restored deconvolver; returns the new state.

    Channels tclean stopped masking (state['chanflag']) are not masked again;
    channels that skipChannels stops now are read from the CASA log."""
    flags = list(state["chanflag"])
    if flags and all(flags):
        return dict(state)
    logfile = logfile or casaenv.casalog_file()
    start = os.path.getsize(logfile) if logfile and os.path.exists(logfile) else 0
    sd.setupmask()
    for chan in stopped_channels(logfile, start):
        if chan < len(flags):
            flags[chan] = True
    return {**state, "chanflag": flags}


def stopped_channels(logfile, start):
    if not logfile or not os.path.exists(logfile):
        return []
    with open(logfile, errors="replace") as f:
        f.seek(start)
        text = f.read()
    chans = []
    for line in text.splitlines():
        if STOP_LINE in line:
            chans.append(int(line.split(STOP_LINE, 1)[1].split()[0]))
    return chans


def pixels(path):
    """An image's pixels (numpy)."""
    from casatools import image
    with casa.using(image()) as ia:
        ia.open(path)
        return ia.getchunk()


def put_pixels(path, data):
    from casatools import image
    with casa.using(image()) as ia:
        ia.open(path)
        ia.putchunk(data)


def compare_masks(a, b):
    """(pixels that differ, pixels in a, pixels in b) of two mask images."""
    pa, pb = pixels(a), pixels(b)
    return int(np.count_nonzero((pa > 0) != (pb > 0))), int((pa > 0).sum()), int((pb > 0).sum())


# ------------------------------------------------------------- in the deconvolve job
def enabled(params):
    return params.get("usemask") == "auto-multithresh"


def read_state(path, nchan=1):
    """The state a minor cycle left (its automask.json), or the initial one."""
    import json
    if path is None:
        return initial_state(nchan)
    with open(path) as f:
        return json.load(f)


class Live:
    """Wraps the job's iteration.Live: its mask updates are tclean's automask.

    The first update restores the carried state into the fresh deconvolver;
    every update keeps the mask it started from as <image>.prev.mask once a
    minor cycle has run (tclean's runMinorCycleCore copy), so that a stop can
    put it back (tclean's hasConverged revert).  After the job's calls,
    `finish(stop)` does that and returns what the next cycle's job needs."""

    def __init__(self, live, image, state, cycle):
        self.live, self.image, self.carried = live, image, dict(state)
        self.restored = False
        self.minor_ran = cycle > 0          # the mask on disk is a minor cycle's
        self.controls, self.iterdone = None, 0

    @property
    def calls(self):
        return self.live.calls

    def init_minor(self):
        return self.live.init_minor()

    def execute_minor(self, controls):
        rec = self.live.execute_minor(controls)
        self.controls, self.iterdone = controls, int(rec["iterdone"])
        self.minor_ran = True
        return rec

    def update_mask(self):
        import shutil
        if not self.live.initialized:
            self.live.sd.initminorcycle()
            self.live.initialized = True
        if not self.restored:
            restore(self.live.sd, self.carried, self.image)
            self.restored = True
        prev = self.image + ".prev.mask"
        shutil.rmtree(prev, ignore_errors=True)
        if self.minor_ran and os.path.isdir(self.image + ".mask"):
            shutil.copytree(self.image + ".mask", prev)
        self.carried = update_mask(self.live.sd, self.carried)

    def finish(self, stop):
        """After the job's calls: tclean's revert at a stop, and the state to keep."""
        import shutil
        prev = self.image + ".prev.mask"
        if stop > 0 and os.path.isdir(prev):
            shutil.rmtree(self.image + ".mask")
            shutil.move(prev, self.image + ".mask")
        shutil.rmtree(prev, ignore_errors=True)
        if self.controls is None:
            return dict(self.carried)
        return after_minor_cycle(self.carried, self.controls, self.iterdone)
