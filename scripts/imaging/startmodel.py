"""tclean's `startmodel`: model images of an earlier run, one per Taylor term.

tclean copies them into <imagename>.model when it defines the image, then, in its
first major cycle, divides the model by the weight and predicts it, so that the
first residual is the data minus the start model, and its first minor cycle
adds to it.  The DAG does the same in three steps (dagutils.gridding_subdag):

    allImagers_psf_<part>   the PSF and weight of each sub-MS
    addImages_psf           products/psf, then products/startmodel: the start
                            model's pixels in the run's own images (model) and
                            divided by the weight (predict/), as a minor cycle's
    allImagers_c0_<part>    the first residual of each sub-MS, predicting it

and the minor cycle of cycle 0 starts from products/startmodel's model.

The start model must be defined as this run's image (same shape, same direction
axes: cell, phase centre, projection), checked before any job; tclean would
regrid one that is not, which the DAG leaves to the user (imregrid).  With
mtmfs, `startmodel` lists up to nterms images, tt0 first; a single name is tt0,
and the terms not given start at zero, as in tclean.  The images' pixels are part
of the run's identity (digest): replacing them is seen as a change.
"""
import hashlib
import os

import numpy as np

from imaging import casa, parameters



def names(params):
    """The start model's image paths, as given (relative ones: to the run directory)."""
    given = params.get("startmodel") or []
    return [given] if isinstance(given, str) else list(given)


def enabled(params):
    return bool(names(params))


def terms(params):
    return params["nterms"] if params["deconvolver"] == "mtmfs" else 1


def check_given(params, rundir="."):
    """The names: existing CASA images (relative paths: to rundir), no more than the
    run's Taylor terms, inside the run directory when they are sent to the jobs
    (sharedfs = False)."""
    given = names(params)
    if len(given) > terms(params):
        refuse(params, f"names {len(given)} images; the run has {terms(params)} Taylor "
               "term(s) (nterms with deconvolver='mtmfs', else 1)")
    for path in given:
        if not isinstance(path, str) or not os.path.isfile(os.path.join(rundir, path, "table.dat")):
            refuse(params, f"{path!r} is not a CASA image (a folder with a table.dat); give "
                   "the model images of an earlier run, e.g. ['old.model.tt0', 'old.model.tt1']")
        if not params["sharedfs"] and not parameters.inside_run(path):
            refuse(params, f"{path!r}: with sharedfs = False the jobs are sent the start "
                   "model, so it must be a path inside the run directory")


def check_image(params, csys):
    """Each image's shape and direction axes against the run's image (csys: the
    coordinate system record CASA's imager defines for the run)."""
    from imaging import casaenv  # noqa: F401
    from casatools import coordsys, image
    run = coordsys()
    run.fromrecord(csys)
    nx, *ny = parameters.as_list(params["imsize"])
    want = [nx, ny[0] if ny else nx]
    for path in names(params):
        with casa.using(image()) as ia, casa.opened(ia, path):
            shape, cs = list(ia.shape()), ia.coordsys()
        if shape[:2] != want or shape[2:] and int(np.prod(shape[2:])) != len(run.stokes()):
            refuse(params, f"{path!r} has shape {shape}; this run's image is {want} pixels "
                   f"with {len(run.stokes())} Stokes plane(s) and one channel")
        if why := direction_difference(cs, run):
            refuse(params, f"{path!r} is not on this run's image grid ({why}); regrid it "
                   "onto the run's image (CASA's imregrid) or image with its cell, imsize "
                   "and phasecenter")
        cs.done()
    run.done()


def direction_difference(cs, run):
    """'' if both coordinate systems have the same direction axes, else what differs:
    the cells to 1e-6 of a cell, the reference direction to 1e-3 of a cell, the
    reference pixel to 1e-3 of a pixel."""
    mine, theirs = cs.torecord()["direction0"], run.torecord()["direction0"]
    if (mine["system"], mine["projection"]) != (theirs["system"], theirs["projection"]):
        return (f"projection {mine['system']} {mine['projection']}, not "
                f"{theirs['system']} {theirs['projection']}")
    cell = np.abs(np.asarray(theirs["cdelt"], float)).max()
    for key, what, tolerance in (("cdelt", "cell (rad)", 1e-6 * cell),
                                 ("crval", "reference direction (rad)", 1e-3 * cell),
                                 ("crpix", "reference pixel", 1e-3)):
        a, b = np.asarray(mine[key], float), np.asarray(theirs[key], float)
        if np.abs(a - b).max() > tolerance:
            return f"{what} {a.tolist()}, the run's {b.tolist()}"
    return ""


def digest(params):
    """A digest of the start model's pixels and coordinates (every file of each image)."""
    h = hashlib.sha256()
    for path in names(params):
        for folder, dirs, files in sorted(os.walk(path)):
            dirs.sort()
            for name in sorted(files):
                h.update(name.encode())
                with open(os.path.join(folder, name), "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
    return h.hexdigest()[:16]


def install(params, template, model):
    """The start model in the run's own model images <model>.model[.ttN]: the
    coordinate system of the run's PSF (`template`, an image base name), the pixels of
    the start model's images (zeros for the terms not given), in Jy/pixel."""
    from imaging import casaenv  # noqa: F401
    from casatools import image
    given = names(params)
    suffixes = [f".tt{k}" for k in range(terms(params))] if params["deconvolver"] == "mtmfs" else [""]
    with casa.using(image()) as ia:
        with casa.opened(ia, f"{template}.psf{suffixes[0]}"):
            shape, csys = ia.shape(), ia.coordsys().torecord()
        for k, suffix in enumerate(suffixes):
            pixels = read_pixels(ia, given[k], shape) if k < len(given) else np.zeros(shape)
            ia.fromshape(f"{model}.model{suffix}", list(shape), csys=csys, overwrite=True)
            ia.putchunk(pixels.astype(np.float32))
            ia.setbrightnessunit("Jy/pixel")
            ia.close()


def read_pixels(ia, path, shape):
    with casa.opened(ia, path):
        return ia.getchunk().reshape(shape)


def refuse(params, why):
    raise parameters.ParameterError(f"startmodel = {params['startmodel']!r}: {why}")
