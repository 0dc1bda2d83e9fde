"""Tests of scripts/simulate.py, checked with CASA's own table and msmetadata
tools and with numbers derived by hand from the command-line arguments.

The script runs as a subprocess (as `make data` runs it); CASA logs go to a
temporary folder, never into the working tree.
"""
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
os.environ["CASASITECONFIG"] = str(SCRIPTS / "imaging" / "casasiteconfig.py")
os.environ["CASA_LOGDIR"] = os.path.join(tempfile.gettempdir(), "casa-test-logs-%d" % os.getuid())
sys.path.insert(0, str(SCRIPTS))

import casatools  # noqa: E402

from imaging import casaenv  # noqa: E402,F401
from tools import simulate  # noqa: E402  (for SOURCES, the sky specification, and spw_layout)

C = 299792458.0
HOURS, INTEGRATION, NSPW, NCHAN, NOISE = 0.25, 60.0, 4, 4, 0.01
# By hand: vla.d.cfg lists 27 antennas -> 27*26/2 = 351 cross-correlation
# baselines; 0.25 h of 60 s integrations -> 15; 4 SPWs, one row per SPW.
N_ANT, N_BASELINES, N_INT = 27, 351, 15
N_ROWS = N_BASELINES * N_INT * NSPW  # 21060, no autocorrelations
# 2-4 GHz in 4 slices of 500 MHz, 4 channels of 64 MHz from each slice's lower edge.
FIRST_CHAN_GHZ = [2.032, 2.532, 3.032, 3.532]
CHAN_WIDTH = 64e6


def run(out, *extra, check=True):
    args = [sys.executable, "-m", "tools.simulate", str(out), "--hours", str(HOURS),
            "--integration", str(INTEGRATION), "--spws", str(NSPW),
            "--chans", str(NCHAN), *extra]
    proc = subprocess.run(args, cwd=Path(out).parent, env=dict(os.environ, PYTHONPATH=str(SCRIPTS)),
                          capture_output=True, text=True, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def read(ms, *cols, sub=""):
    tb = casatools.table()
    tb.open(str(ms) + sub)
    try:
        return {c: tb.getcol(c) for c in cols}
    finally:
        tb.close()


@pytest.fixture(scope="module")
def sims(tmp_path_factory):
    """Small MSs: seed 42 (twice), seed 7, without noise with and without primary beam."""
    d = tmp_path_factory.mktemp("sim")
    ms = {"a": d / "a.ms", "a2": d / "a2.ms", "seed7": d / "s7.ms", "clean": d / "clean.ms",
          "clean_pb": d / "clean_pb.ms"}
    run(ms["a"], "--seed", "42", "--noise", "%gJy" % NOISE)
    run(ms["a2"], "--seed", "42", "--noise", "%gJy" % NOISE)
    run(ms["seed7"], "--seed", "7", "--noise", "%gJy" % NOISE)
    run(ms["clean"], "--noise", "0Jy", "--no-pb")
    run(ms["clean_pb"], "--noise", "0Jy")
    return ms


@pytest.mark.casa
def test_telescope_and_antennas(sims):
    obs = read(sims["a"], "TELESCOPE_NAME", sub="/OBSERVATION")
    assert list(obs["TELESCOPE_NAME"]) == ["EVLA"]
    md = casatools.msmetadata()
    md.open(str(sims["a"]))
    try:
        assert md.nantennas() == N_ANT
        assert md.nbaselines() == N_BASELINES
        assert md.nspw() == NSPW and md.nfields() == 1
    finally:
        md.close()


@pytest.mark.casa
def test_spectral_windows_in_s_band(sims):
    spw = read(sims["a"], "CHAN_FREQ", "CHAN_WIDTH", "REF_FREQUENCY", "NUM_CHAN",
               sub="/SPECTRAL_WINDOW")
    assert list(spw["NUM_CHAN"]) == [NCHAN] * NSPW
    np.testing.assert_allclose(spw["REF_FREQUENCY"], np.array(FIRST_CHAN_GHZ) * 1e9)
    expected = np.array(FIRST_CHAN_GHZ)[None, :] * 1e9 + CHAN_WIDTH * np.arange(NCHAN)[:, None]
    np.testing.assert_allclose(spw["CHAN_FREQ"], expected)
    np.testing.assert_allclose(spw["CHAN_WIDTH"], CHAN_WIDTH)
    lo = spw["CHAN_FREQ"] - spw["CHAN_WIDTH"] / 2
    hi = spw["CHAN_FREQ"] + spw["CHAN_WIDTH"] / 2
    assert lo.min() >= 2e9 - 1 and hi.max() <= 4e9 + 1
    pol = read(sims["a"], "CORR_TYPE", sub="/POLARIZATION")
    assert pol["CORR_TYPE"][:, 0].tolist() == [5, 8]  # RR, LL in casacore's Stokes enum


@pytest.mark.fast
@pytest.mark.parametrize("nspw,nchan", [(1, 1), (4, 4), (8, 4), (3, 16), (2, 64)])
def test_layout_stays_in_band(nspw, nchan):
    for f0, width in simulate.spw_layout(nspw, nchan):
        assert width <= 64.0
        assert f0 - width / 2000 >= 2.0 - 1e-9
        assert f0 + (nchan - 0.5) * width / 1000 <= 4.0 + 1e-9


@pytest.mark.casa
def test_rows_times_and_integration(sims):
    cols = read(sims["a"], "ANTENNA1", "ANTENNA2", "TIME", "INTERVAL", "EXPOSURE", "DATA_DESC_ID")
    assert len(cols["TIME"]) == N_ROWS
    assert np.all(cols["ANTENNA1"] != cols["ANTENNA2"]), "autocorrelations present"
    pairs = set(zip(cols["ANTENNA1"].tolist(), cols["ANTENNA2"].tolist()))
    assert len(pairs) == N_BASELINES
    assert np.bincount(cols["DATA_DESC_ID"]).tolist() == [N_BASELINES * N_INT] * NSPW
    np.testing.assert_allclose(cols["INTERVAL"], INTEGRATION)
    np.testing.assert_allclose(cols["EXPOSURE"], INTEGRATION)
    times = np.unique(cols["TIME"])
    assert len(times) == N_INT
    np.testing.assert_allclose(np.diff(times), INTEGRATION, atol=1e-3)
    # Span of the integration centres plus one integration = requested length.
    assert times[-1] - times[0] + INTEGRATION == pytest.approx(HOURS * 3600, abs=1e-3)


@pytest.mark.casa
def test_observed_before_2025_around_transit(sims):
    times = np.unique(read(sims["a"], "TIME")["TIME"])
    me, qa = casatools.measures(), casatools.quanta()
    mid = me.epoch("UTC", qa.quantity(0.5 * (times[0] + times[-1]), "s"))
    assert qa.time(mid["m0"], form="ymd")[0] < "2025"
    me.doframe(me.observatory("VLA"))
    me.doframe(mid)
    lst = me.measure(mid, "LAST")["m0"]["value"] % 1.0 * 2 * math.pi  # rad
    centre = me.direction("J2000", "19h53m20s", "+32d55m00s")
    ha = (lst - centre["m0"]["value"] + math.pi) % (2 * math.pi) - math.pi
    assert abs(ha) < math.radians(2.0)  # within 8 minutes of transit
    azel = me.measure(centre, "AZEL")
    assert azel["m1"]["value"] > math.radians(80)


@pytest.mark.casa
def test_columns(sims):
    tb = casatools.table()
    tb.open(str(sims["a"]))
    try:
        assert "DATA" in tb.colnames()
    finally:
        tb.close()


def direct_fourier_sum(ms):
    """Visibilities of simulate.SOURCES computed by hand from the MS's UVW."""
    c = read(ms, "UVW", "DATA_DESC_ID")
    freq = read(ms, "CHAN_FREQ", sub="/SPECTRAL_WINDOW")["CHAN_FREQ"]
    spw_of_dd = read(ms, "SPECTRAL_WINDOW_ID", sub="/DATA_DESCRIPTION")["SPECTRAL_WINDOW_ID"]
    f = freq[:, spw_of_dd[c["DATA_DESC_ID"]]]  # (chan, row)
    u, v, w = (c["UVW"][i] * f / C for i in range(3))
    ra0, dec0 = math.radians(15 * (19 + 53 / 60 + 20 / 3600)), math.radians(32 + 55 / 60)
    arcmin = math.radians(1 / 60)
    vis = np.zeros(f.shape, complex)
    for east, north, flux, index, shape in simulate.SOURCES:
        ra, dec = ra0 + east * arcmin / math.cos(dec0), dec0 + north * arcmin
        l = math.cos(dec) * math.sin(ra - ra0)
        m = math.sin(dec) * math.cos(dec0) - math.cos(dec) * math.sin(dec0) * math.cos(ra - ra0)
        n = math.sqrt(1 - l * l - m * m)
        amp = flux * (f / 3e9) ** index
        if shape:  # elliptical Gaussian: FWHM major/minor, position angle east of north
            pa = math.radians(shape[2])
            along = u * math.sin(pa) + v * math.cos(pa)
            across = u * math.cos(pa) - v * math.sin(pa)
            amp = amp * np.exp(-math.pi ** 2 / (4 * math.log(2)) * (
                (shape[0] * arcmin * along) ** 2 + (shape[1] * arcmin * across) ** 2))
        vis += amp * np.exp(2j * math.pi * (u * l + v * m + w * (n - 1)))
    return vis


@pytest.mark.casa
def test_noise_free_data_equal_sky_model(sims):
    data = read(sims["clean"], "DATA")["DATA"]
    expected = direct_fourier_sum(sims["clean"])
    for corr in range(2):  # unpolarised sky: RR = LL = I
        np.testing.assert_allclose(data[corr], expected, rtol=0, atol=1e-4)


@pytest.mark.casa
def test_spectrum_on_short_baselines(sims):
    c = read(sims["a"], "DATA", "UVW", "DATA_DESC_ID")
    short = np.hypot(c["UVW"][0], c["UVW"][1]) < 45.0
    amp = [np.abs(c["DATA"][:, :, short & (c["DATA_DESC_ID"] == k)]).mean() for k in range(NSPW)]
    centre_ghz = np.array(FIRST_CHAN_GHZ) + 0.096
    total = [sum(s * (f / 3.0) ** a for _, _, s, a, _ in simulate.SOURCES) for f in centre_ghz]
    # Sky dominated by steep spectra: 2.32 Jy at 2.128 GHz down to 1.69 Jy at 3.628 GHz.
    assert total[0] == pytest.approx(2.32, abs=0.01) and total[-1] == pytest.approx(1.69, abs=0.01)
    assert all(a1 > a2 for a1, a2 in zip(amp, amp[1:])), amp
    assert all(a <= t + 3 * NOISE for a, t in zip(amp, total)), (amp, total)
    assert amp[0] > 0.6 * total[0], (amp, total)


@pytest.mark.casa
def test_noise_level_and_seed(sims):
    a = read(sims["a"], "DATA")["DATA"]
    a2 = read(sims["a2"], "DATA")["DATA"]
    s7 = read(sims["seed7"], "DATA")["DATA"]
    assert np.abs(a).min() > 0
    assert np.array_equal(a, a2)
    assert not np.allclose(a, s7)
    noise = a - read(sims["clean_pb"], "DATA")["DATA"]
    assert noise.real.std() == pytest.approx(NOISE, rel=0.02)
    assert noise.imag.std() == pytest.approx(NOISE, rel=0.02)


@pytest.mark.casa
def test_existing_output_left_untouched(tmp_path):
    out = tmp_path / "exists.ms"
    out.mkdir()
    (out / "marker").write_text("keep me")
    proc = run(out)
    assert "left untouched" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.ms"]
    assert [p.name for p in out.iterdir()] == ["marker"]
    assert (out / "marker").read_text() == "keep me"


@pytest.mark.casa
def test_overwrite_replaces_and_leaves_no_temporaries(tmp_path):
    out = tmp_path / "new.ms"
    out.mkdir()
    (out / "marker").write_text("old")
    run(out, "--overwrite", "--hours", "0.05")
    assert not (out / "marker").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.ms"]
    assert len(read(out, "TIME")["TIME"]) == N_BASELINES * 3 * NSPW  # 3 min of 60 s


@pytest.mark.casa
def test_primary_beam_attenuates_off_axis_source(tmp_path):
    """A flat-spectrum 1 Jy source 5' off axis is seen at the EVLA beam's response there.

    Expected, by hand: a Gaussian beam of FWHM 42'/f[GHz] (the VLA's, close to
    CASA's polynomial model near the centre), exp(-4 ln2 (5'/FWHM)^2): about
    0.85 at 2.03 GHz down to 0.61 at 3.53 GHz.
    """
    sky = tmp_path / "sky.json"
    sky.write_text("[[5.0, 0, 1.0, 0.0, null]]")
    out = tmp_path / "offaxis.ms"
    run(out, "--sources", sky, "--noise", "0Jy", "--hours", "0.05")
    c = read(out, "DATA", "DATA_DESC_ID")
    for k, f_ghz in enumerate(FIRST_CHAN_GHZ):
        amp = np.abs(c["DATA"][:, 0, c["DATA_DESC_ID"] == k]).mean()
        expected = math.exp(-4 * math.log(2) * (5.0 * f_ghz / 42.0) ** 2)
        assert amp == pytest.approx(expected, abs=0.05), (f_ghz, amp, expected)


@pytest.mark.casa
def test_sources_file(tmp_path):
    """One unresolved 1 Jy source at the phase centre, flat spectrum: every visibility is 1 Jy."""
    sky = tmp_path / "sky.json"
    sky.write_text("[[0, 0, 1.0, 0.0, null]]")
    out = tmp_path / "one.ms"
    run(out, "--sources", sky, "--noise", "0Jy", "--hours", "0.05")
    data = read(out, "DATA")["DATA"]
    np.testing.assert_allclose(data, 1.0, atol=1e-4)
