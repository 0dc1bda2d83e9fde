"""The quick-look sheet of a finished run: products/final/quicklook.png.

What a user glances at before opening any image: the restored image (Taylor term 0)
with its colour bar, the restoring beam and the primary beam's pblimit contour; the
residual on a symmetric scale of a few sigma; the spectral index (mtmfs, nterms > 1)
where the image is above SIGNAL sigma; the mask of the last minor cycle where there is
one; and the peak residual against major cycle.  Sigma is the residual's robust rms
inside the pblimit contour (1.4826 times its median absolute deviation from the
median), as CASA's imstat gives it (algorithm 'classic', robust=True); it is written
into summary.json (`quicklook`) with the colour limits used.
"""
import os

import numpy as np

from imaging import casa, plots

SIGNAL = 5          # alpha is shown where image.tt0 exceeds this many sigma
ALPHA_LIMITS = [-3, 2]   # the colour scale of alpha (steep to inverted spectra)
MAD_TO_SIGMA = 1.4826


def read(path):
    """(pixels of the first plane as [y, x], NaN where masked; beam (major, minor, pa)
    in pixels and degrees or None); None if there is no such image."""
    if not os.path.isdir(path):
        return None
    from imaging import casaenv  # noqa: F401
    import casatools
    with casa.opened(casatools.image(), path) as ia:
        plane = np.where(ia.getchunk(getmask=True), ia.getchunk(), np.nan)[:, :, 0, 0].T
        beam = ia.restoringbeam()
        cell = abs(ia.coordsys().increment(format="n", type="direction")["numeric"][0])
    if not beam or "major" not in beam:
        return plane, None
    arcsec = np.degrees(cell) * 3600
    to_pixels = {"arcsec": 1 / arcsec, "deg": 3600 / arcsec}
    return plane, (beam["major"]["value"] * to_pixels[beam["major"]["unit"]],
                   beam["minor"]["value"] * to_pixels[beam["minor"]["unit"]],
                   beam["positionangle"]["value"])


def robust_sigma(residual, inside):
    values = residual[inside & np.isfinite(residual)]
    return float(MAD_TO_SIGMA * np.median(np.abs(values - np.median(values))))


def term(image, kind, params):
    return f"{image}.{kind}.tt0" if params["deconvolver"] == "mtmfs" else f"{image}.{kind}"


def sheet(image, params, cycles, path, title, threshold=None):
    """Draw the sheet of the image set `image` (path without suffix) into `path`;
    returns the numbers it shows (sigma, peak, colour limits)."""
    restored, beam = read(term(image, "image", params))
    residual, _ = read(term(image, "residual", params))
    pb, _ = read(term(image, "pb", params))
    inside = pb >= params["pblimit"] if pb is not None else np.isfinite(residual)
    sigma = robust_sigma(residual, inside)
    shown = {"sigma": sigma, "peak": float(np.nanmax(restored)),
             "residual_limit": 5 * sigma, "image_limits": [-3 * sigma, float(np.nanmax(restored))]}
    panels = [("restored image (Jy/beam)", restored, "inferno", shown["image_limits"])]
    panels.append(("residual (Jy/beam, ±5σ)", residual, "RdBu_r", [-5 * sigma, 5 * sigma]))
    alpha = read(f"{image}.alpha")
    if alpha is not None:
        panels.append((f"spectral index where image > {SIGNAL}σ",
                       np.where(restored > SIGNAL * sigma, alpha[0], np.nan), "coolwarm", ALPHA_LIMITS))
    mask = read(f"{image}.mask")
    if mask is not None:
        panels.append(("mask of the last minor cycle (white: cleaned)", mask[0], "Greys_r",
                       [0, 1]))
    plots.sheet(panels, (pb, params["pblimit"]), beam, (cycles, threshold), path, title)
    return shown
