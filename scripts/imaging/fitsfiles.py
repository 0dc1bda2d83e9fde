"""FITS copies of the final images, beside them (exportfits = True).

What a user takes into CARTA, DS9, astropy or any FITS tool: every final product
kept (image and pbcor of each Taylor term, residual, model, pb, alpha and
alpha.error, mask), written as CASA's exportfits writes them: its one call,
image.tofits, with exportfits' defaults (32-bit floats, frequency axis, Stokes
last, degenerate axes kept, history), so the header holds the restoring beam
(BMAJ, BMIN, BPA) as CASA writes it.  (The task itself is not imported: importing
casatasks costs 1.5 s of a job's start, casaenv.py.)  The PSF,
weight and sumwt images are tclean's working images and are not exported.
"""
import glob
import os
import re

from imaging import casa

# casatasks' exportfits defaults (its XML), as it passes them to image.tofits.
EXPORTFITS = {"velocity": False, "optical": False, "bitpix": -32, "minpix": 0, "maxpix": -1,
              "overwrite": True, "dropstokes": False, "stokeslast": True, "history": True,
              "dropdeg": False}
# The suffixes (after '<imagename>.') of the images a user keeps.
KEPT = re.compile(r"((image|residual|model|pb)(\.tt\d+)?(\.pbcor)?|alpha(\.error)?|mask)")


def kept_images(image):
    """The CASA images of an image set (`image`: the path without suffix) a user keeps."""
    return sorted(path for path in glob.glob(f"{image}.*")
                  if os.path.isdir(path) and KEPT.fullmatch(path[len(image) + 1:]))


def export(image):
    """Write <name>.fits beside each kept image of the set; returns the FITS paths."""
    from imaging import casaenv  # noqa: F401
    import casatools
    written = []
    for path in kept_images(image):
        with casa.opened(casatools.image(), path) as ia:
            ia.tofits(outfile=f"{path}.fits", **EXPORTFITS)
        written.append(f"{path}.fits")
    return written
