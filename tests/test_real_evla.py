"""The DAG on a real EVLA observation equals monolithic tclean on it.

The data (scripts/tools/realdata.py): J1008+0730 at Ka band (one SPW of 64 x 125 kHz
at 36.3 GHz), the EVLA in D configuration, nine 10 s integrations whose rows
carry jittered TIME values, INTERVAL 0.04 s.  At 36 GHz the primary beam is
about 1.2 arcmin (FWHM) and the resolution about 2 arcsec: the images are 128
pixels of 0.5 arcsec (64 arcsec, where the primary beam stays above 0.59).

- First cycle, gridder awproject, the DAG for 1 and 2 sub-MSes against
  tclean(niter=0) (its own CF cache): PSF, weight, pb, sum of weights and
  residual, every Taylor term, to 1e-5 of the peak.  The DAG's CF cache is made
  by the DAG's own stage (dag/cfs.dag) in the first run; the second reuses it.
- Major cycles on a calibrated, partly flagged copy (datacolumn 'corrected'), 3 sub-MSes:
  tclean takes 4 major cycles here (threshold 0.1 Jy after ~24 iterations of
  at most 10 per cycle); the restored
  Taylor terms, each against its own peak (over 8 MHz at 36 GHz tt1 is close
  to noise), the pb-corrected images and beam to 1e-3, the same cycles,
  iterations and stop reason.
- Many major cycles (Briggs weighting, small minor cycles): tclean takes 24,
  more than two batches of the DAG's unrolled cycles; the DAG takes the same
  cycles, iterations and stop, and the same images to 1e-3.
- Partitions: every row in exactly one sub-MS, no integration (found by hand:
  rows within 5 s of a multiple of 10 s after the first) split, every sub-MS
  at most maxsubmssize on disk.
The original MS must come out unchanged.
"""
import json
import shutil

import numpy as np
import pytest

from imaging import parameters

import imagecompare as ic
from helpers import PYTHON, ROOT, columns, disk_bytes, folder_digest, new_run, row_keys, run

pytestmark = pytest.mark.casa

PBLIMIT = 0.2
REAL = {"imagename": "j1008", "imsize": [128, 128], "cell": "0.5arcsec", "reffreq": "36.3GHz"}
# On disk a sub-MS of up to 3 integrations takes 1.97 MB (its DATA tiles are 1 MB), of 4 or
# 5 about 3.6 MB, the whole MS 5.2 MB: these sizes give 1 and 2 sub-MSes.
SIZES = {1: 6_000_000, 2: 4_500_000}
ITERATING = {"datacolumn": "corrected", "niter": 200, "cycleniter": 10, "threshold": "0.1Jy"}


def tclean(folder, vis, overrides):
    """scripts/tcleanReference.py with params/imaging.py and these overrides."""
    folder.mkdir()
    run([PYTHON, "-m", "tools.tcleanReference", ROOT / "params" / "imaging.py", vis,
         folder / "ref", *(f"{k}={v!r}" for k, v in overrides.items() if k != "imagename")],
        cwd=folder)
    return folder / "ref"


def dag(rundir):
    run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir)
    return rundir


# ---------------------------------------------------------------- (a) the first cycle
@pytest.fixture(scope="module")
def first_cycle_ref(session_dir, real_ms):
    return tclean(session_dir / "real_tclean0", real_ms[0], {**REAL, "niter": 0})


@pytest.fixture(scope="module", params=[1, 2])
def first_cycle(request, session_dir, real_ms):
    nparts = request.param
    overrides = {**REAL, "vis": str(real_ms[0]), "niter": 0, "maxsubmssize": SIZES[nparts],
                 "cfcache": str(session_dir / "real_cf" / "j1008.cf")}
    return nparts, dag(new_run(session_dir / f"real_first_{nparts}", overrides))


def test_first_cycle_has_the_sub_ms_count_asked_for(first_cycle):
    nparts, rundir = first_cycle
    subms = sorted((rundir / "products" / "subms").glob("*.ms"))
    assert len(subms) == nparts
    assert all(disk_bytes(ms) <= SIZES[nparts] for ms in subms)


@pytest.mark.parametrize("kind", ["psf", "weight", "pb", "residual", "sumwt"])
def test_first_cycle_equals_tclean_on_real_data(first_cycle, first_cycle_ref, kind):
    nparts, rundir = first_cycle
    image = rundir / "products" / "cycle0" / "j1008"
    region = ic.pb_region(f"{first_cycle_ref}.pb.tt0", PBLIMIT)
    for suffix, diff in ic.first_cycle_differences(image, first_cycle_ref, kind, region).items():
        assert diff <= 1e-5, f"{nparts} sub-MSes, {suffix}: {diff:.2e} of the peak"


# ---------------------------------------------------------------- (b) major cycles
@pytest.fixture(scope="module")
def major(session_dir, calibrated_ms):
    """The DAG and tclean (on a copy of the DAG's CF cache) iterating.  The copy's rows
    are larger (CORRECTED_DATA): 4.5 MB holds 3 integrations, so 3 sub-MSes of 3.0 MB."""
    overrides = {**REAL, **ITERATING, "vis": str(calibrated_ms), "maxsubmssize": 4_500_000,
                 "cfcache": str(session_dir / "real_cal_cf" / "j1008.cf")}
    rundir = dag(new_run(session_dir / "real_major", overrides))
    assert len(list((rundir / "products" / "subms").glob("*.ms"))) == 3
    folder = session_dir / "real_tclean_major"
    shutil.copytree(overrides["cfcache"], folder / "ref.cf")
    ref = tclean(folder / "ref", calibrated_ms, {**REAL, **ITERATING,
                                                 "cfcache": str(folder / "ref.cf")})
    return rundir / "products" / "final", ref


def test_calibrated_copy_is_flagged_where_asked(calibrated_ms):
    """The edge channels 0-5 and 58-63 of every row and every row of antenna '7' (ID 6:
    names take precedence over IDs in CASA's selection) are flagged."""
    cols = columns(calibrated_ms)
    flags = cols["FLAG"]
    assert flags[:, list(range(6)) + list(range(58, 64)), :].all()
    antenna7 = (cols["ANTENNA1"] == 6) | (cols["ANTENNA2"] == 6)
    # 17 baselines in each of 8 integrations, 16 in the first (antenna '9' is missing there)
    assert antenna7.sum() == 17 * 8 + 16 and flags[..., antenna7].all()
    assert not flags[:, 6:58, ~antenna7].all()


def test_restored_taylor_terms_equal_tclean_each_to_its_peak(major):
    """Also alpha, although over 8 MHz it means nothing (tclean's: -3500 to 1300)."""
    final, ref = major
    region = ic.pb_region(f"{ref}.pb.tt0", PBLIMIT)
    for term in (".image.tt0", ".image.tt1", ".residual.tt0", ".residual.tt1", ".alpha"):
        diff = ic.relative_difference(str(final / f"j1008{term}"), f"{ref}{term}", region)
        assert diff <= 1e-3, f"{term} differs by {diff:.2e} of its peak"


def test_pbcor_images_and_beam_equal_tclean(major):
    final, ref = major
    pbcor = sorted(p.name[len("ref"):] for p in ref.parent.glob("ref*.pbcor"))
    assert pbcor and sorted(p.name[len("j1008"):] for p in final.glob("j1008*.pbcor")) == pbcor
    region = ic.pb_region(f"{ref}.pb.tt0", PBLIMIT)
    for suffix in pbcor + [".pb.tt0"]:
        diff = ic.relative_difference(str(final / f"j1008{suffix}"), f"{ref}{suffix}", region)
        assert diff <= 1e-3, f"{suffix} differs by {diff:.2e} of its peak"
    ours, theirs = (ic.restoring_beam(f"{i}.image.tt0") for i in (final / "j1008", ref))
    assert [v for v, _ in ours[:2]] == pytest.approx([v for v, _ in theirs[:2]], rel=1e-6)


def test_final_images_a_user_keeps_are_fits_files_with_the_beam_and_frequency(major):
    """Read with astropy, not CASA: a FITS file beside each final image tclean also makes
    and a user keeps (not its psf, weight, sumwt); inside the PB limit its pixels are
    those of the CASA image beside it (NaN where its pixel mask hides them), and image.tt0's are tclean's to 1e-3 of the peak;
    BMAJ, BMIN, BPA are tclean's restoring beam; axis 3 is frequency at tclean's
    reference frequency, axis 4 Stokes (exportfits' order)."""
    from astropy.io import fits
    final, ref = major
    kept = {p.name.replace("ref", "j1008", 1) + ".fits" for p in ref.parent.glob("ref.*")
            if p.is_dir() and p.name.split(".")[1] not in ("psf", "weight", "sumwt")}
    assert {"j1008.image.tt0.fits", "j1008.alpha.error.fits", "j1008.pb.tt0.fits"} <= kept
    assert kept <= {p.name for p in final.glob("*.fits")}
    region = ic.pb_region(f"{ref}.pb.tt0", PBLIMIT)[:, :, 0, 0]
    for name in sorted(kept):
        data = fits.getdata(final / name)[0, 0].T                 # (Stokes, freq, y, x)
        casa = ic.unmasked_pixels(str(final / name[:-5]))[:, :, 0, 0]
        assert np.array_equal(data[region], casa[region], equal_nan=True), name
    tt0 = fits.getdata(final / "j1008.image.tt0.fits")[0, 0].T
    theirs = ic.pixels(f"{ref}.image.tt0")[:, :, 0, 0]
    assert np.abs(tt0 - theirs)[region].max() <= 1e-3 * np.abs(theirs[region]).max()
    header = fits.getheader(final / "j1008.image.tt0.fits")
    (bmaj, u1), (bmin, u2), (bpa, u3) = ic.restoring_beam(f"{ref}.image.tt0")
    assert (u1, u2, u3) == ("arcsec", "arcsec", "deg")
    assert [header["BMAJ"], header["BMIN"], header["BPA"]] == pytest.approx(
        [bmaj / 3600, bmin / 3600, bpa], rel=1e-6)
    wcs, _, _ = ic.spectral_axis(f"{ref}.image.tt0")
    assert (header["CTYPE3"], header["CTYPE4"], header["BUNIT"]) == ("FREQ", "STOKES", "Jy/beam")
    assert header["CRVAL3"] == pytest.approx(wcs["crval"], rel=1e-12)


def test_the_quick_look_sheet_shows_the_run_with_sigma_and_peak_as_casa_measures_them(major):
    """quicklook.png is a picture (read back with matplotlib) of the restored image, the
    residual, alpha, the mask and the peak residuals; the sigma and peak it was scaled
    with are CASA's own statistics (image.statistics, robust) inside the PB limit."""
    from casatools import image
    import matplotlib.image
    final, _ = major
    sheet = matplotlib.image.imread(final / "quicklook.png")
    assert sheet.shape[:2] == (760, 1200) and len(np.unique(sheet[..., :3].reshape(-1, 3), axis=0)) > 1000
    shown = json.loads((final / "summary.json").read_text())["quicklook"]
    ia = image()
    pb = f'"{final}/j1008.pb.tt0" >= {PBLIMIT}'
    try:
        ia.open(str(final / "j1008.residual.tt0"))
        residual = ia.statistics(robust=True, mask=pb)
        ia.close()
        ia.open(str(final / "j1008.image.tt0"))
        restored = ia.statistics(robust=True)
    finally:
        ia.close()
    assert shown["sigma"] == pytest.approx(1.4826 * residual["medabsdevmed"][0], rel=1e-3)
    assert shown["peak"] == pytest.approx(restored["max"][0], rel=1e-6)


def test_a_real_run_says_each_jobs_casa_severe_messages_all_known_harmless(major):
    """Every gridding job's stderr ends with its CASA log's SEVERE messages (the offline
    leap-second table's, the CF cache's sum of weights), named harmless; make status
    finds no other."""
    final, _ = major
    rundir = final.parent.parent
    errs = sorted((rundir / "logs").glob("allImagers_c*_n*.err"))
    assert len(errs) >= 3
    for err in errs:
        said = [line for line in err.read_text().splitlines() if line.startswith("casa SEVERE")]
        assert said and all(line.startswith("casa SEVERE (known, harmless: ") for line in said)
        assert any("Leap second table" in line for line in said), err
    status = run([PYTHON, "-m", "tools.status"], cwd=rundir).stdout
    assert "state:   finished" in status and "casa:" not in status, status


def test_same_cycles_iterations_and_stop_on_real_data(major):
    final, ref = major
    ours = json.loads((final / "summary.json").read_text())
    theirs = json.loads((ref.parent / "ref.summary.json").read_text())
    assert theirs["nmajordone"] >= 3, theirs
    assert ours["majorcycles"] + 1 == theirs["nmajordone"]
    assert abs(ours["iterdone"] - theirs["iterdone"]) <= 0.01 * theirs["iterdone"]
    assert ours["stopcode"] == theirs["stopcode"]


# ---------------------------------------------------------------- (b') many major cycles
# Briggs weighting, 20 iterations per minor cycle down to 10 mJy: tclean takes 24 major
# cycles here (measured), more than two batches of the DAG's unrolled cycles hold
# (majorcyclebatch = 10); the DAG must follow it to its own stop, not to a cap of its own.
MANY = {**REAL, "gridder": "standard", "cfcache": "", "wbawp": False, "conjbeams": False,
        "aterm": False, "datacolumn": "corrected", "weighting": "briggs", "robust": 0.5,
        "niter": 1000, "cycleniter": 20, "threshold": "10mJy"}


@pytest.fixture(scope="module")
def many_cycles(session_dir, calibrated_ms):
    overrides = {**MANY, "vis": str(calibrated_ms), "maxsubmssize": 4_500_000}
    rundir = dag(new_run(session_dir / "real_many", overrides))
    ref = tclean(session_dir / "real_tclean_many", calibrated_ms, MANY)
    return rundir / "products", ref


def test_a_run_of_many_major_cycles_equals_tclean_on_real_data(many_cycles):
    products, ref = many_cycles
    ours = json.loads((products / "final" / "summary.json").read_text())
    theirs = json.loads((ref.parent / "ref.summary.json").read_text())
    assert theirs["nmajordone"] > 20, theirs           # more than two batches
    assert (ours["majorcycles"] + 1, ours["iterdone"], ours["stopcode"]) == \
        (theirs["nmajordone"], theirs["iterdone"], theirs["stopcode"])
    assert len(list(products.glob("majorCycles*.dag"))) == 3   # cycles 1-10, 11-20, 21-
    for term in (".image.tt0", ".residual.tt0", ".model.tt0"):
        diff = ic.relative_difference(str(products / "final" / f"j1008{term}"), f"{ref}{term}",
                                      slice(None))
        assert diff <= 1e-3, f"{term} differs by {diff:.2e} of its peak"


# ---------------------------------------------------------------- (c) partitions
def integration_by_hand(times):
    """Nine 10 s integrations (the file's name says 10s): index of the nearest 10 s step."""
    return np.rint((times - times.min()) / 10.0).astype(int)


def test_real_integrations_have_jittered_times(real_ms):
    times = columns(real_ms[0])["TIME"]
    assert np.bincount(integration_by_hand(times)).tolist() == [136] + [153] * 8
    assert len(np.unique(times)) == 15  # more distinct times than integrations


@pytest.fixture(scope="module", params=[2_000_000, 3_000_000])
def real_partition(request, session_dir, real_ms):
    """MSpartition on the real MS: 2 MB holds 3 integrations per sub-MS; at 3 MB the
    first plan (2 sub-MSes of 4 and 5 integrations, 3.6 MB on disk) is too large.  A
    sub-MS left by an earlier plan (n9) must be gone."""
    rundir = new_run(session_dir / f"real_partition_{request.param}",
                     {**REAL, "vis": str(real_ms[0]), "maxsubmssize": request.param})
    (rundir / "products" / "subms" / "day2_evla.n9.ms").mkdir(parents=True)
    run([PYTHON, "scripts/MSpartition.py"], cwd=rundir)
    return request.param, sorted((rundir / "products" / "subms").glob("*.ms"))


def test_every_real_row_in_exactly_one_sub_ms(real_partition, real_ms):
    _, subms = real_partition
    keys = np.concatenate([row_keys(columns(ms)) for ms in subms])
    assert np.array_equal(np.sort(keys), np.sort(row_keys(columns(real_ms[0]))))


def test_no_real_integration_split(real_partition, real_ms):
    _, subms = real_partition
    first = columns(real_ms[0])["TIME"].min()
    found = [set(integration_by_hand(np.r_[first, columns(ms)["TIME"]])[1:]) for ms in subms]
    assert sorted(i for f in found for i in f) == list(range(9))


def test_real_sub_ms_sizes_on_disk_within_maxsubmssize(real_partition):
    size, subms = real_partition
    assert len(subms) == 3 and max(disk_bytes(ms) for ms in subms) <= size


def test_size_below_one_written_integration_names_the_smallest(session_dir, real_ms):
    """1.5 MB holds one integration by the estimate (0.19 MB of sub-tables + 0.56 MB of
    rows), but a sub-MS of one integration takes 1.97 MB on disk."""
    rundir = new_run(session_dir / "real_too_small",
                     {**REAL, "vis": str(real_ms[0]), "maxsubmssize": 1_500_000})
    proc = run([PYTHON, "scripts/MSpartition.py"], cwd=rundir, check=False)
    assert proc.returncode == parameters.INPUT_EXIT        # (not retried: it cannot succeed)
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("MSpartition: maxsubmssize = 1500000 bytes is below the smallest")
    assert int(last.split(": ")[2].split()[0]) > 1_500_000
    assert not (rundir / "products" / "subms").exists()


def test_original_real_ms_unchanged(real_ms, first_cycle_ref, major):
    ms, digest = real_ms
    assert folder_digest(ms) == digest
