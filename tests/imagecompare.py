"""Compare CASA images pixel by pixel (used to hold the DAG's images against tclean's)."""
import glob
import json
import os
from pathlib import Path

import numpy as np


def pixels(path):
    from casatools import image
    ia = image()
    ia.open(path)
    try:
        return ia.getchunk().astype(float)
    finally:
        ia.close()


def unmasked_pixels(path):
    """The pixels, NaN where the image's pixel mask hides them (as exportfits writes them)."""
    from casatools import image
    ia = image()
    ia.open(path)
    try:
        return np.where(ia.getchunk(getmask=True), ia.getchunk(), np.nan)
    finally:
        ia.close()


def restoring_beam(path):
    """(major, minor, position angle) of an image's restoring beam, in its units."""
    from casatools import image
    ia = image()
    ia.open(path)
    try:
        beam = ia.restoringbeam()
    finally:
        ia.close()
    return tuple((beam[k]["value"], beam[k]["unit"]) for k in ("major", "minor", "positionangle"))


def spectral_axis(path):
    """An image's spectral axis: reference frequency, increment, frame and rest frame."""
    from casatools import image
    ia = image()
    ia.open(path)
    try:
        spectral = ia.coordsys().torecord()["spectral2"]
    finally:
        ia.close()
    return spectral["wcs"], spectral["system"], spectral.get("conversion", {}).get("system")


def taylor_terms(imagename, kind):
    """Suffixes ('.psf.tt0', ...) of the images of one kind that exist."""
    names = sorted(glob.glob(f"{imagename}.{kind}")) + sorted(glob.glob(f"{imagename}.{kind}.tt*"))
    return [n[len(imagename):] for n in names]


def relative_difference(image, reference, region):
    """Largest |image - reference| inside region, over the peak |reference| there."""
    a, b = pixels(image), pixels(reference)
    assert a.shape == b.shape, f"{image}: shape {a.shape} != {reference}: {b.shape}"
    peak = np.abs(b[region]).max()
    assert peak > 0, f"{reference} is zero inside the region"
    return float(np.abs(a - b)[region].max() / peak)


def pb_region(pbimage, pblimit):
    """Pixels where the primary beam exceeds pblimit."""
    region = pixels(pbimage) > pblimit
    assert region.any(), f"{pbimage}: no pixel above pblimit={pblimit}"
    return region


def exists(path):
    return os.path.isdir(path)


def assert_same_images(folder, reference):
    """Every image in a reference folder (products/final), pixel for pixel the same in
    folder, and the same run summary."""
    names = sorted(p.name for p in Path(reference).iterdir() if (p / "table.dat").exists())
    assert names, f"no image in {reference}"
    assert sorted(p.name for p in Path(folder).iterdir() if (p / "table.dat").exists()) == names
    for name in names:
        assert np.array_equal(pixels(f"{folder}/{name}"), pixels(f"{reference}/{name}")), name
    summary = [json.loads((Path(f) / "summary.json").read_text()) for f in (folder, reference)]
    assert summary[0] == summary[1]


# The first cycle's images tclean makes for mtmfs with nterms = 2, per kind.
FIRST_CYCLE_TERMS = {"psf": 3, "weight": 3, "pb": 1, "residual": 2, "sumwt": 3}


def first_cycle_differences(image, ref, kind, region):
    """{suffix: difference from tclean's, of the peak} for every Taylor term of one kind
    of the first cycle's images (pb.tt1 is made at restoration, by pbcor; sumwt is one
    pixel per term, compared whole), after checking tclean made the terms it should."""
    terms = [t for t in taylor_terms(str(ref), kind) if t != ".pb.tt1"]
    assert len(terms) == FIRST_CYCLE_TERMS[kind], f"tclean made {terms}"
    inside = slice(None) if kind == "sumwt" else region
    return {t: relative_difference(f"{image}{t}", f"{ref}{t}", inside) for t in terms}
