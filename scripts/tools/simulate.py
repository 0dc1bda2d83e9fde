"""Simulate a wide-band EVLA S-band measurement set for the imaging DAG's tests and benchmarks.

What is simulated (all with casatools.simulator, no real data needed):
- the EVLA (telescope name 'EVLA': with 'VLA' the awproject gridder aborts) in
  one of its A/B/C/D configurations, antenna positions from casadata;
- S band (2-4 GHz) split into SPWS spectral windows of CHANS channels each,
  correlations RR and LL, one field near the supernova remnant CTB80;
- short integrations over about an hour centred on transit;
- a sky of point sources with different spectral indices plus an extended
  (Gaussian) component (or the sources of a JSON file), attenuated by the
  EVLA's frequency-dependent primary beam (unless --no-pb) and predicted
  into the DATA column;
- Gaussian thermal noise from a fixed random seed, so two runs with the same
  arguments write identical DATA.

Usage: python -m tools.simulate OUTPUT_MS [--config d] [--hours 1.0]
           [--integration 60] [--spws 4] [--chans 4] [--noise 0.01Jy]
           [--seed 42] [--sources FILE.json] [--no-pb] [--overwrite]

An existing OUTPUT_MS is left untouched unless --overwrite is given. The MS is
written in a temporary folder next to OUTPUT_MS and renamed at the end, so an
interrupted run never leaves a half-written MS under the final name.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile

from imaging import casa, casaenv  # noqa: F401  (casaenv before casatools: offline CASA config)
import casadata
import casatools

PHASE_CENTRE = "J2000 19h53m20s +32d55m00s"  # near CTB80
BAND_GHZ = (2.0, 4.0)  # S band
MAX_CHAN_WIDTH_MHZ = 64.0
REF_FREQ = "3GHz"  # reference frequency of the spectral indices
OBS_DATE = "2024/06/21/00:00:00"  # before 2025: no leap-second warning

# Sky model: (offset east, offset north in arcmin, flux in Jy at REF_FREQ,
# spectral index, Gaussian FWHM major/minor in arcmin and PA in deg or None).
SOURCES = [
    (0.0, 0.0, 1.0, -0.7, None),
    (3.0, 1.5, 0.25, -1.2, None),
    (-2.5, 3.0, 0.15, 0.5, None),
    (1.0, -4.0, 0.1, -0.3, None),
    (-4.0, -2.0, 0.08, 0.0, None),
    (-1.5, -1.0, 0.3, -0.45, (4.0, 3.0, 30.0)),  # the remnant's diffuse emission
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("output_ms", help="measurement set to create")
    p.add_argument("--config", default="d", choices=list("abcd"), help="VLA configuration")
    p.add_argument("--hours", type=float, default=1.0, help="observation length, centred on transit")
    p.add_argument("--integration", type=float, default=60.0, help="integration time in seconds")
    p.add_argument("--spws", type=int, default=4, help="number of spectral windows across 2-4 GHz")
    p.add_argument("--chans", type=int, default=4, help="channels per spectral window")
    p.add_argument("--noise", default="0.01Jy", help="simplenoise per visibility (0Jy: none)")
    p.add_argument("--seed", type=int, default=42, help="random seed of the noise")
    p.add_argument("--phasecentre", default=PHASE_CENTRE, help="J2000 phase centre")
    p.add_argument("--sources", help="JSON list of [east arcmin, north arcmin, Jy at 3 GHz, "
                   "spectral index, null or [FWHM major arcmin, minor arcmin, PA deg]]")
    p.add_argument("--no-pb", action="store_true", help="do not apply the primary beam")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT_MS")
    args = p.parse_args(argv)
    if args.spws < 1 or args.chans < 1 or args.hours <= 0 or args.integration <= 0:
        p.error("--spws, --chans, --hours and --integration must be positive")
    return args


def spw_layout(nspw, nchan):
    """(first channel centre in GHz, channel width in MHz) per SPW.

    The band is cut into nspw equal slices starting at 2.0 GHz; each SPW's
    lower edge is its slice's lower edge and its nchan channels (at most 64 MHz
    wide) fit in the slice, so every channel lies inside 2-4 GHz.
    """
    slice_ghz = (BAND_GHZ[1] - BAND_GHZ[0]) / nspw
    width_mhz = min(MAX_CHAN_WIDTH_MHZ, slice_ghz * 1000.0 / nchan)
    return [(BAND_GHZ[0] + i * slice_ghz + width_mhz / 2000.0, width_mhz)
            for i in range(nspw)]


def offset_direction(me, qa, centre, east_arcmin, north_arcmin):
    """Direction string at the given offsets (arcmin on the sky) from centre."""
    ref = me.direction(*centre.split())
    ra0, dec0 = ref["m0"]["value"], ref["m1"]["value"]
    arcmin = qa.convert(qa.quantity(1.0, "arcmin"), "rad")["value"]
    ra = ra0 + east_arcmin * arcmin / math.cos(dec0)
    dec = dec0 + north_arcmin * arcmin
    return "J2000 %.9frad %.9frad" % (ra, dec)


def read_sources(path):
    """The sky of a --sources file, or SOURCES."""
    if not path:
        return SOURCES
    with open(path) as f:
        sources = json.load(f)
    if not all(isinstance(s, list) and len(s) == 5 for s in sources):
        sys.exit(f"simulate: {path}: each source must be [east, north, flux, index, shape]")
    return sources


def make_sky(path, centre, sources):
    """Write the componentlist of sources to path."""
    cl, me, qa = casatools.componentlist(), casatools.measures(), casatools.quanta()
    for east, north, flux, index, shape in sources:
        kw = dict(dir=offset_direction(me, qa, centre, east, north), flux=flux,
                  fluxunit="Jy", freq=REF_FREQ, shape="point")
        if shape:
            kw.update(shape="Gaussian", majoraxis="%garcmin" % shape[0],
                      minoraxis="%garcmin" % shape[1], positionangle="%gdeg" % shape[2])
        cl.addcomponent(**kw)
        cl.setspectrum(which=cl.length() - 1, type="spectral index", index=index)
    cl.rename(path)
    cl.close()
    cl.done()


def read_antennas(config):
    """Antenna x, y, z (m), diameters and names from casadata's vla.<config>.cfg."""
    rows = []
    with open(os.path.join(casadata.datapath, "alma", "simmos", "vla.%s.cfg" % config)) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                rows.append(line.split())
    x, y, z, dish = ([float(r[i]) for r in rows] for i in range(4))
    return x, y, z, dish, [r[4] for r in rows]


def observe(sm, args):
    """Give the simulator's new MS the array, SPWs, field and scan of args (no data yet)."""
    me = casatools.measures()
    x, y, z, dish, names = read_antennas(args.config)
    sm.setconfig(telescopename="EVLA", x=x, y=y, z=z, dishdiameter=dish, mount=["alt-az"],
                 antname=names, padname=names, coordsystem="global",
                 referencelocation=me.observatory("VLA"))
    spws = []
    for i, (f0, width) in enumerate(spw_layout(args.spws, args.chans)):
        name = "SPW%d" % i
        sm.setspwindow(spwname=name, freq="%.6fGHz" % f0, deltafreq="%.6fMHz" % width,
                       freqresolution="%.6fMHz" % width, nchannels=args.chans, stokes="RR LL")
        spws.append(name)
    sm.setfield(sourcename="CTB80", sourcedirection=args.phasecentre)
    sm.setlimits(shadowlimit=0.001, elevationlimit="8deg")
    sm.setauto(autocorrwt=0.0)  # no autocorrelations
    sm.settimes(integrationtime="%gs" % args.integration, usehourangle=True,
                referencetime=me.epoch("UTC", OBS_DATE))
    half = "%gs" % (args.hours * 1800.0)
    for name in spws:
        sm.observe(sourcename="CTB80", spwname=name, starttime="-" + half, stoptime=half)


def simulate(ms, args, workdir):
    """Observe, predict the sky into DATA and add the noise, all in ms."""
    sky = os.path.join(workdir, "sky.cl")
    make_sky(sky, args.phasecentre, read_sources(args.sources))
    with casa.using(casatools.simulator()) as sm, casa.opened(sm, ms):
        observe(sm, args)
        if not args.no_pb:
            sm.setvp(dovp=True, usedefaultvp=True)  # EVLA beam at each channel's frequency
        sm.predict(complist=sky, incremental=False)
        if casatools.quanta().quantity(args.noise)["value"] > 0:
            sm.setseed(args.seed)
            sm.setnoise(mode="simplenoise", simplenoise=args.noise)
            sm.corrupt()


def main(argv=None):
    args = parse_args(argv)
    out = os.path.abspath(args.output_ms.rstrip("/"))
    if os.path.exists(out) and not args.overwrite:
        print("%s exists: left untouched (use --overwrite to replace it)" % args.output_ms)
        return 0
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix=".simulate-", dir=parent)
    try:
        ms = os.path.join(workdir, os.path.basename(out))
        simulate(ms, args, workdir)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(ms, out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("wrote %s" % args.output_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
