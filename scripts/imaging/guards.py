"""Guards that say when a run went wrong, though it made its images.

Each guard is a pure function of numbers (the parameters, the minor cycles' records,
a few facts read from the final images) returning a list of warnings: one line each,
saying what went wrong, with the numbers, and what the user might do.  `warnings`
collects them; restore.py writes them into products/final/summary.json and
summary.txt, and `make status` and the end of `make run` print them
(tools/status.py).  A warning never fails the run: the images were made.

The guards:
  empty_model      niter > 0, yet no iteration was done or the model is all zeros
  divergence       tclean's own divergence stops (codes 5 and 6 of its iteration bot,
                   casatasks imager_base.py) and a peak residual that grew over cycles
  empty_automask   usemask='auto-multithresh': a cycle whose automask had no pixel
  flux_outside_mask  model flux (tt0) outside the final mask
  taylor_terms     mtmfs with nterms > 1 on a band too narrow for the highest term

Only `image_facts` reads images (CASA); everything else takes numbers.
"""
import os

from imaging import iteration

DIVERGED = (5, 6)          # tclean's stop codes: peak residual up > 3 times (iteration.py)
GROWTH = 1.5               # a last peak residual this many times the lowest is a warning
OUTSIDE_FRACTION = 1e-3    # model flux outside the mask, as a fraction of all of it
# Taylor terms: the model's term k multiplies ((f - reffreq) / reffreq)^k, which over the
# selected data reaches at most (b/2)^k, b/2 the farthest selected frequency from reffreq
# over reffreq (b the fractional bandwidth when reffreq is the band's middle).  CASA's MFS
# image spans reffreq +- that distance: its spectral increment is twice it (with
# reffreq='' the middle of the band and the band's width), so image_facts reads it there.
# A term's coefficient is measured with an error of at least (sigma_I / I) / (b/2)^k
# relative to tt0: for the spectral index (k = 1, tt1 = alpha tt0) of a source 20 times the
# noise (sigma_I / I = 0.05) that error is 1, i.e. no information, when b/2 = 0.05.  Below
# LEVERAGE the highest term says nothing even of sources 20 times the noise.
LEVERAGE = 0.05
TERM_NAMES = {1: "spectral index", 2: "spectral curvature"}


def warnings(params, records, facts):
    """Every guard's warnings for a finished run: `records` the minor cycles' records
    (cycle 0 first, the last one the stop), `facts` what image_facts read (or {})."""
    return (empty_model(params, records, facts.get("model_peaks"))
            + divergence(params, records)
            + empty_automask(params, records)
            + flux_outside_mask(facts.get("model_flux"), facts.get("model_flux_outside"))
            + taylor_terms(params, facts.get("reffreq"), facts.get("halfspan")))


# ---------------------------------------------------------------- the guards

def empty_model(params, records, model_peaks=None):
    """niter > 0 but the model is empty: no iteration (with tclean's reason, from the
    records; with a start model, nothing was added to it), or every Taylor term's
    largest |pixel| zero (`model_peaks`)."""
    if params.get("niter", 0) <= 0 or not records:
        return []
    iterdone = records[-1]["iterdone"]
    if iterdone == 0 and params.get("startmodel"):
        return [f"nothing was cleaned beyond the start model (0 iterations; "
                f"{no_iteration_reason(params, records)})"]
    if iterdone == 0:
        return [f"nothing was cleaned: the model is empty (0 iterations; "
                f"{no_iteration_reason(params, records)})"]
    if model_peaks is not None and all(p == 0 for p in model_peaks):
        return [f"nothing was cleaned: the model is all zeros in every Taylor term although "
                f"{iterdone} iterations were done (gain = {params.get('gain')}): check gain "
                f"and the mask"]
    return []


def no_iteration_reason(params, records):
    """Why the minor cycle never iterated, from the stop and the first peak residual."""
    stop = records[-1]["stopcode"]
    peak = first_peak(records)
    init = last_init(records[0]) or {}
    if stop == 2:
        return (f"the first peak residual {fmt(peak)} Jy/beam was already below threshold "
                f"{fmt(threshold_jy(params))} Jy: lower threshold")
    if stop == 8:
        return (f"the first peak residual {fmt(peak)} Jy/beam was already below the n-sigma "
                f"threshold {fmt(init.get('nsigmathreshold'))} Jy (nsigma = "
                f"{params.get('nsigma')} x the robust rms {fmt(init.get('madrms'))}): "
                f"lower nsigma")
    if stop == 7 and params.get("usemask") == "auto-multithresh":
        return "the automask found nothing above its thresholds"
    if stop == 7:
        return (f"the mask is empty (usemask = {params.get('usemask')!r}, mask = "
                f"{params.get('mask')!r}): check the mask against the image")
    if stop == 9:
        return f"nmajor = {params.get('nmajor')} allowed no minor cycle: raise nmajor"
    return f"tclean stopped: {iteration.STOP_REASONS.get(stop, stop)}"


def divergence(params, records):
    """tclean's own divergence stops, and the peak residual (without mask) of the last
    cycle GROWTH times the lowest of the cycles before it."""
    advice = (f"lower gain ({params.get('gain')}) or raise cyclefactor "
              f"({params.get('cyclefactor')}), or use a mask")
    out = []
    if records and records[-1]["stopcode"] in DIVERGED:
        out.append(f"the minor cycle diverged: tclean stopped at major cycle "
                   f"{records[-1]['cycle']}: {iteration.STOP_REASONS[records[-1]['stopcode']]} "
                   f"(peak residuals {peak_list(records)}): {advice}")
    peaks = [(r["cycle"], unmasked_peak(r)) for r in records]
    peaks = [(c, p) for c, p in peaks if p is not None]
    if len(peaks) < 2 or out:
        return out
    low_cycle, low = min(peaks[:-1], key=lambda cp: cp[1])
    last_cycle, last = peaks[-1]
    if low > 0 and last > GROWTH * low:
        out.append(f"the peak residual grew: {fmt(last)} Jy/beam at major cycle {last_cycle}, "
                   f"{last / low:.3g} times the lowest, {fmt(low)} at cycle {low_cycle}: the "
                   f"minor cycle may be diverging; {advice}")
    return out


def empty_automask(params, records):
    """usemask='auto-multithresh': the cycles whose automask (the mask sum of the init
    record after tclean's updateMask) had no pixel where a minor cycle was due: one ran
    (stop code 0), or tclean stopped for the empty mask (7) or made no iteration (-2)."""
    if params.get("usemask") != "auto-multithresh":
        return []
    empty = [r["cycle"] for r in records if r["stopcode"] in (0, 7, -2)
             and (last_init(r) or {}).get("masksum") == 0]
    if not empty:
        return []
    return [f"the automask came out empty at major cycle(s) {', '.join(map(str, empty))} "
            f"(no pixel in the mask tclean's updateMask made): nothing was cleaned there; "
            f"lower sidelobethreshold ({params.get('sidelobethreshold')}) or noisethreshold "
            f"({params.get('noisethreshold')})"]


def flux_outside_mask(total, outside):
    """Model flux (sum of |model.tt0|, Jy) outside the final mask above OUTSIDE_FRACTION of
    all of it; None: no mask in use."""
    if total is None or outside is None or total <= 0:
        return []
    fraction = outside / total
    if fraction <= OUTSIDE_FRACTION:
        return []
    return [f"flux in the model outside the mask: {fmt(outside)} Jy of {fmt(total)} Jy "
            f"(sum of |model.tt0|), a fraction {fraction:.3g} > {OUTSIDE_FRACTION:g}: the "
            f"mask shrank after it was cleaned in, or a model was started outside it; "
            f"check the mask"]


def taylor_terms(params, reffreq, halfspan):
    """mtmfs with nterms > 1: the highest Taylor term's leverage (b/2)^(nterms-1), b/2 =
    halfspan / reffreq (Hz; CASA's MFS image spans reffreq +- the farthest selected
    frequency), below LEVERAGE."""
    nterms = params.get("nterms", 1)
    if params.get("deconvolver") != "mtmfs" or nterms <= 1 or not reffreq or halfspan is None:
        return []
    half = halfspan / reffreq
    leverage = half ** (nterms - 1)
    if leverage >= LEVERAGE:
        return []
    top = nterms - 1
    name = f" ({TERM_NAMES[top]})" if top in TERM_NAMES else ""
    return [f"nterms = {nterms}: the selected data lie within {hz(halfspan)} of reffreq "
            f"{hz(reffreq)} (b/2 = {half:.2g}, a fractional bandwidth b of at most "
            f"{2 * half:.1%}); the Taylor term tt{top}{name} is poorly constrained "
            f"((b/2)^{top} = {leverage:.2g} < {LEVERAGE}): use nterms = {nterms - 1} or "
            f"select more bandwidth"]


# ---------------------------------------------------------------- from the records

def last_init(record):
    """The last initminorcycle record of a cycle (after its mask update), or None."""
    inits = [rec for kind, rec in record.get("calls", []) if kind == iteration.Call.INIT]
    return iteration.from_json(inits[-1]) if inits else None


def first_peak(records):
    return records[0].get("peakresidual")


def unmasked_peak(record):
    """A cycle's peak residual over the whole image (a growing mask makes the masked one
    grow), else its masked one."""
    init = last_init(record) or {}
    value = init.get("peakresidualnomask", record.get("peakresidual"))
    return None if value is None else float(value)


def peak_list(records):
    return ", ".join(f"{r['cycle']}: {fmt(unmasked_peak(r))}" for r in records)


def threshold_jy(params):
    """tclean's threshold in Jy (a number is Jy; '10mJy', '0.01Jy' are quantities)."""
    value = params.get("threshold")
    if not value or isinstance(value, (int, float)):
        return float(value or 0)
    from imaging import casaenv  # noqa: F401
    from casatools import quanta
    qa = quanta()
    return qa.convert(qa.quantity(value), "Jy")["value"]


def fmt(value):
    return "-" if value is None else f"{value:.4g}"


def hz(value):
    """A frequency in Hz as '3 GHz', '128 MHz'."""
    for unit, scale in (("GHz", 1e9), ("MHz", 1e6), ("kHz", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value:.4g} Hz"


# ---------------------------------------------------------------- from the images (CASA)

def mask_in_use(params):
    return (params.get("usemask") in ("pb", "auto-multithresh")
            or (params.get("usemask") == "user" and bool(params.get("mask"))))


def image_facts(params, image):
    """What the guards need from a final image set: each model term's largest |pixel|,
    the sum of |model.tt0| and of it outside the mask (with a mask in use), and the
    spectral axis (reference frequency, half its width) of the PSF."""
    import numpy as np
    from imaging import casaenv  # noqa: F401
    from imaging.automask import pixels
    from imaging.products import image_paths
    facts = {}
    terms = image_paths(image, "model")
    if terms:
        models = [pixels(t) for t in terms]
        facts["model_peaks"] = [float(np.abs(m).max()) for m in models]
        if mask_in_use(params) and os.path.isdir(image + ".mask"):
            inside = pixels(image + ".mask") > 0
            facts["model_flux"] = float(np.abs(models[0]).sum())
            facts["model_flux_outside"] = float(np.abs(models[0][~inside]).sum())
    psf = (image_paths(image, "psf") or [None])[0]
    if psf:
        facts["reffreq"], facts["halfspan"] = spectral_axis(psf)
    return facts


def spectral_axis(path):
    """(reference frequency, half the increment) of an image's spectral axis, in Hz."""
    from casatools import image
    from imaging.casa import opened, using
    with using(image()) as ia, opened(ia, path):
        cs = ia.coordsys()
        try:
            ref = cs.referencevalue(type="spectral", format="n")["numeric"][0]
            inc = cs.increment(type="spectral", format="n")["numeric"][0]
            unit = cs.units(type="spectral")[0]
        finally:
            cs.done()
    scale = {"Hz": 1.0, "kHz": 1e3, "MHz": 1e6, "GHz": 1e9}[unit]
    return float(ref) * scale, abs(float(inc)) * scale / 2
