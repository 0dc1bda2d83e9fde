"""Small wrappers around CASA's synthesis tools, in the call order tclean uses.

Every CASA call of the decomposition lives here, so that the stage scripts
read as the algorithm.  The sequences follow casatasks' own
`imagerhelpers/imager_base.py` (serial tclean) and
`imager_parallel_continuum.py` (tclean(parallel=True)).
"""
import os
import shutil

from imaging import casaenv  # offline CASA site configuration, before casatools
casaenv.casatasks_helpers()   # ImagerParameters without importing every casatasks task
from casatasks.private.imagerhelpers.input_parameters import ImagerParameters  # noqa: E402
from imaging.casa import opened, using
from imaging.cfcache import cf_names
from imaging.products import copy_images, image_paths, link_images
from imaging.modelcolumn import predicts_after
from imaging.timing import casa_work
from casatools import (image, iterbotsink, synthesisdeconvolver, synthesisimager,
                       synthesisnormalizer)

# tclean's parameter names that ImagerParameters spells differently (task_tclean.py).
RENAMES = {"vis": "msname", "timerange": "timestr", "uvrange": "uvdist",
           "observation": "obs", "intent": "state", "gain": "loopgain",
           "smallscalebias": "scalebias"}


def imager_parameters(params, **overrides):
    """ImagerParameters built from tclean-named parameters exactly as tclean does.
    savemodel is 'none' unless an override says otherwise: with 'modelcolumn' CASA opens
    the MS for writing and adds MODEL_DATA to it (selectData), which only the model
    column's jobs may do, on a copy of their sub-MS (save_model_column)."""
    given = {RENAMES.get(k, k): v for k, v in {**params, "savemodel": "none", **overrides}.items()}
    code = ImagerParameters.__init__.__code__
    names = code.co_varnames[1:code.co_argcount]
    bparm = {k: given.get(k, d) for k, d in zip(names, ImagerParameters.__init__.__defaults__)}
    bparm["chanchunks"] = 1
    bparm["startmodel"] = ""     # the DAG puts a start model in place itself (startmodel.py)
    if bparm["mosweight"] and bparm["gridder"] not in ("mosaic", "awp2"):
        bparm["mosweight"] = False
    if bparm["specmode"] in ("mfs", "cont"):
        bparm["specmode"] = "mfs"
        bparm["perchanweightdensity"] = False
    return ImagerParameters(**bparm)


def image_parameters(params, **overrides):
    """ImagerParameters for the tools that never open the MS (normalizer, deconvolver,
    iteration bot).  ImagerParameters still checks that the MS path exists, so the
    current directory stands in: a job without the MS (sharedfs = False) builds them."""
    return imager_parameters(params, vis=os.curdir, **overrides)


def open_imager(params, msname, imagename, density=None, csys=None, savemodel="none"):
    """A synthesisimager set up on one MS with the run's image definition and
    weighting.  As tclean(parallel=True) gives its nodes: `csys`, the coordinate
    system the whole MS defines (image_coordinates), and `density`, the weight
    density of the whole MS (a .gridwt image).  The MS is opened read-only unless
    savemodel='modelcolumn'."""
    os.makedirs(os.path.dirname(imagename) or ".", exist_ok=True)
    ip = imager_parameters(params, vis=msname, imagename=imagename, savemodel=savemodel)
    si = synthesisimager()
    for sel in ip.getSelPars().values():
        if savemodel == "modelcolumn":   # (ImagerParameters leaves it read-only with automasking)
            sel.update(readonly=False, usescratch=True)
        si.selectdata(sel)
    impars = ip.getImagePars()["0"]
    if csys:
        impars["csys"] = csys["coordsys"]
    si.defineimage(impars, ip.getGridPars()["0"])
    si.normalizerinfo(ip.getNormPars()["0"])
    si.setweighting(**ip.getWeightPars())
    if density:
        si.setweightdensity(density)
    return si


@casa_work
def dry_cfcache(params, cfcache, scratch):
    """The empty CF cache with its metadata, for the whole MS (tclean's drygridding).

    Returns the names of its CFs ('CFS_*'; each has a 'WTCFS_*' partner that is
    filled with it).  `scratch` names images the imager leaves behind.
    """
    with using(open_imager({**params, "cfcache": cfcache}, params["vis"], imagename=scratch)) as si:
        si.drygridding([""])
    return cf_names(cfcache)


@casa_work
def fill_cfcache(params, cfcache, cfs):
    """Fill some CFs of an empty cache (and their WTCFS partners) in place.

    Needs no MS: the cache's metadata says everything.  A CF must not be
    filled twice (CASA then fails on a zero support).
    """
    grid = imager_parameters(params).getGridPars()["0"]
    with using(synthesisimager()) as si:
        si.fillcfcache(cfs, grid["gridder"], cfcache, grid["psterm"], grid["aterm"],
                       grid["conjbeams"])


@casa_work
def image_coordinates(params, scratch):
    """The image's coordinate system as the whole MS defines it (getcsys, as
    tclean(parallel=True) makes it on its main node).  Every job images with it: the
    sub-MSes of other times have other LSRK frequencies, hence other spectral axes, and
    sub-images with other axes do not add (CASA: "coordinate system mismatch").
    An AW gridder's imager creates its CF cache folder: here a scratch one, not the
    run's, which the CF stage is making at the same time.
    """
    quiet = {**params, "cfcache": scratch + ".cf"} if params["cfcache"] else params
    with using(open_imager(quiet, params["vis"], scratch)) as si:
        return si.getcsys()


@casa_work
def weight_density(params, msname, partname, csys=None):
    """The gridded weights (weight density) of one MS: <partname>.gridwt."""
    with using(open_imager(params, msname, partname, csys=csys)) as si:
        return si.getweightdensity()


@casa_work
def gather_density(params, imagename, partnames):
    """Sum the sub-MSes' weight densities into <imagename>.gridwt; return its path.

    (Not scatterweightdensity: it writes the sum into the sub-MSes' images.)
    """
    with using(normalizer(params, imagename, partnames)) as pn:
        pn.gatherweightdensity()
    density = imagename + ".gridwt"
    if params["weighting"] == "briggs":
        set_briggs_f2(density, params["robust"])
    return density


def set_briggs_f2(density, robust):
    """Briggs' f^2 of the summed density, from sums in double precision as tclean makes
    it over the whole MS.  The gather stores the f^2 of a sum in single precision, about
    1e-4 off, which moves the imaging weights (and sum of weights) by 2e-5."""
    import numpy as np
    with using(image()) as ia, opened(ia, density):
        grid = ia.getchunk().astype(np.float64)
        fields = np.moveaxis(grid, -1, 0) if grid.ndim == 5 else [grid]   # one per field
        misc = ia.miscinfo()
        misc["f2"] = np.array([(5.0 * 10.0 ** -robust) ** 2
                               / ((f[f > 0] ** 2).sum() / f.sum()) for f in fields])
        ia.setmiscinfo(misc)


@casa_work
def grid_psf(params, msname, partname, makepb=False, **setup):
    """Grid one MS into un-normalized PSF, weight and sum-of-weight images.

    With makepb, also the primary beam of the image's frequencies, as
    tclean(parallel=True) makes it on its first node.  `setup`: open_imager's
    csys and density.
    """
    with using(open_imager(params, msname, partname, **setup)) as si:
        si.makepsf()
        if makepb:
            si.makepb()


@casa_work
def grid_residual(params, msname, partname, **setup):
    """Grid one MS into an un-normalized residual (data minus model) image."""
    with using(open_imager(params, msname, partname, **setup)) as si:
        si.executemajorcycle(controls={"lastcycle": True})


@casa_work
def save_model_column(params, msname, partname, **setup):
    """tclean's last major cycle with savemodel='modelcolumn', on one MS: the model of
    the image set `partname` predicted into the MS's MODEL_DATA (CASA adds the column
    if missing) while the residual is gridded.  As in tclean, only the rows of the data
    selection are written, and of those only the chunks with unflagged data.  With
    automasking, nsigma or interactive tclean saves nothing in its major cycles; it
    predicts the model once after them (task_tclean.py: predictModel), every selected row."""
    with using(open_imager(params, msname, partname, savemodel="modelcolumn", **setup)) as si:
        if predicts_after(params):
            si.predictmodel()
        else:
            si.executemajorcycle(controls={"lastcycle": True})


def normalizer(params, imagename, partnames):
    """A synthesisnormalizer on imagename, gathering the given partial images if any."""
    norm = image_parameters(params, imagename=imagename).getNormPars()["0"]
    if partnames:
        norm["partimagenames"] = list(partnames)
    pn = synthesisnormalizer()
    pn.setupnormalizer(normpars=norm)
    return pn


@casa_work
def normalize_psf(params, imagename, partnames):
    """Sum partial PSFs and weights, normalize once, make the primary beam."""
    with using(normalizer(params, imagename, partnames)) as pn:
        pn.gatherpsfweight()
        pn.dividepsfbyweight()
        pn.divideweightbysumwt()
        pn.makepsfbeamset()
        pn.normalizeprimarybeam()


@casa_work
def sign_odd_weights(imagename, partnames):
    """The gathered weight of each odd Taylor term as tclean makes it over the whole MS.

    The AW gridders keep an odd term's weight image as |sum of w (nu - reffreq)^k ...|,
    pixel by pixel: positive, whatever the sign of the sum.  Sub-MSes of SPW groups on
    both sides of reffreq have sums of opposite signs (2 SPWs at 2.1 and 3.1 GHz,
    reffreq 3 GHz: weight.tt1 -13144 and +894 at the peak, so the gathered 14038, and
    tclean's 12250), so the gathered |a| + |b| is not |a + b|.  Each part's sign is that
    of its sum of weights of the term (sumwt: one signed number per term); where they
    differ, the gathered image is scaled, pixel by pixel, by |sum of signed parts| / sum
    of parts (tclean does not scale an odd term's weight when it normalizes).  Returns
    the terms rescaled (none when every part has the same sign: time partitions)."""
    import numpy as np
    done = []
    k = 1
    with using(image()) as ia:
        while os.path.isdir(f"{imagename}.weight.tt{k}"):
            signs = []
            for part in partnames:
                with opened(ia, f"{part}.sumwt.tt{k}"):
                    signs.append(np.sign(float(ia.getchunk().ravel()[0])) or 1.0)
            if len(set(signs)) > 1:
                signed, unsigned = 0.0, 0.0
                for part, sign in zip(partnames, signs):
                    with opened(ia, f"{part}.weight.tt{k}"):
                        raw = ia.getchunk().astype(np.float64)
                    signed, unsigned = signed + sign * raw, unsigned + raw
                scale = np.divide(np.abs(signed), unsigned, out=np.ones_like(unsigned),
                                  where=unsigned != 0)
                with opened(ia, f"{imagename}.weight.tt{k}", cache=False):
                    ia.putchunk((ia.getchunk() * scale).astype(np.float32))
                done.append(k)
            k += 2
    return done


@casa_work
def normalize_residual(params, imagename, partnames):
    """Sum partial residuals and their sums of weights, normalize once."""
    with using(normalizer(params, imagename, partnames)) as pn:
        pn.gatherresidual()
        pn.divideresidualbyweight()


def open_deconvolver(params, imagename):
    """A synthesisdeconvolver on one image set (psf, residual, model, mask, pb).  An image
    set that holds the mask already (copied from the cycle before) keeps it, as tclean's
    deconvolver, set up once, keeps the mask it made in the first cycle: CASA refuses a
    `mask` given again beside an existing mask image."""
    if os.path.exists(f"{imagename}.mask"):
        params = {**params, "mask": ""}
    ip = image_parameters(params, imagename=imagename)
    sd = synthesisdeconvolver()
    sd.setupdeconvolution(decpars=ip.getDecPars()["0"])
    return sd


def iteration_bot(params):
    """A fresh iteration bot with tclean's iteration parameters."""
    bot = iterbotsink()
    bot.setupiteration(iterpars=image_parameters(params).getIterPars())
    return bot


@casa_work
def divide_model(params, imagename):
    """Turn imagename.model into what the gridders predict from (tclean's dividemodelbyweight)."""
    with using(normalizer(params, imagename, [])) as pn:
        pn.dividemodelbyweight()


def write_predict_model(params, model, weights, predict):
    """predict.model: model.model as the gridders predict it, divided by the weight
    (weights.weight, with its pb, sumwt and psf, linked beside it), as tclean does."""
    os.makedirs(os.path.dirname(predict))
    copy_images(model, predict, ["model"])
    link_images(weights, predict, ["weight", "pb", "sumwt", "psf"])
    divide_model(params, predict)


@casa_work
def restore(params, imagename):
    """Restored images (and alpha for mtmfs); pb-corrected ones if pbcor."""
    with using(open_deconvolver(params, imagename)) as sd:
        sd.checkrestoringbeam()
        sd.restore()
        if params["pbcor"]:
            sd.pbcor()


@casa_work
def sum_images(partnames, imagename, kind):
    """imagename.<kind>[.ttN] = the sum over partial images of that kind.

    Terms that the partial images have are (over)written; others are left.
    """
    with using(image()) as ia:
        for term in image_paths(partnames[0], kind):
            suffix = term[len(partnames[0]):]
            total = summed_pixels(ia, [part + suffix for part in partnames])
            if not os.path.exists(imagename + suffix):
                shutil.copytree(term, imagename + suffix)
            with opened(ia, imagename + suffix):
                ia.putchunk(total)


@casa_work
def add_images(partnames, imagename, kind):
    """imagename.<kind>[.ttN] = the sum of the partial images of that kind, made by
    CASA's image expression language (ia.imagecalc), plane by plane in C++: 8 residuals
    of 2048^2 pixels, 2 Taylor terms, in 0.6 s, where reading them into numpy
    (sum_images) took 4-5 s.  The sum takes the first image's coordinates."""
    with using(image()) as ia:
        for term in image_paths(partnames[0], kind):
            suffix = term[len(partnames[0]):]
            expression = " + ".join(f'"{part}{suffix}"' for part in partnames)
            ia.imagecalc(outfile=imagename + suffix, pixels=expression, overwrite=False).done()


def summed_pixels(ia, paths):
    """The sum of the images' pixels, added in their order."""
    total = None
    for path in paths:
        with opened(ia, path):
            chunk = ia.getchunk()
        total = chunk if total is None else total + chunk
    return total
