"""params/imaging.py: read without executing it, validated in one place.

Bad values are those tclean itself rejects (its own schema and validator) or
that the decomposition cannot honour; each error names the parameter.
"""
import ast
import json
import os
import re

import pytest

from imaging import checks, parameters

from helpers import PYTHON, ROOT, new_run, run


@pytest.fixture
def params_file(tmp_path, sim_ms):
    """The project's params/imaging.py pointed at the session's MS; returns an appender."""
    path = tmp_path / "imaging.py"
    path.write_text((ROOT / "params" / "imaging.py").read_text() + f"\nvis = {str(sim_ms)!r}\n")

    def append(text):
        with open(path, "a") as f:
            f.write(text + "\n")
        return path
    return append


@pytest.mark.casa
def test_defaults_image_the_simulated_data_with_wideband_awproject(params_file):
    p = parameters.load(params_file(""))
    assert (p["gridder"], p["wbawp"], p["conjbeams"], p["nterms"], p["deconvolver"],
            p["specmode"]) == ("awproject", True, True, 2, "mtmfs", "mfs")


@pytest.mark.casa
def test_gridjobs_zero_is_one_per_core_of_this_machine(params_file):
    """The shipped gridjobs = 0 rounds the sub-MSes to this machine's cores (make run's
    slots); a number given is kept."""
    assert parameters.load(params_file(""))["gridjobs"] == os.cpu_count()
    assert parameters.load(params_file("gridjobs = 5"))["gridjobs"] == 5


@pytest.mark.casa
def test_later_assignment_wins(params_file):
    assert parameters.load(params_file("niter = 10\nniter = 20"))["niter"] == 20


@pytest.mark.casa
def test_parameters_not_set_take_tclean_defaults(params_file):
    p = parameters.load(params_file(""))
    assert p["psfcutoff"] == 0.35 and p["projection"] == "SIN"  # tclean's documented defaults


@pytest.mark.casa
@pytest.mark.parametrize("line, name", [
    ("niterr = 5", "niterr"),                  # unknown name
    ("niter = 'many'", "niter"),               # wrong type
    ("robust = 3.0", "robust"),                # tclean: max value is 2.0
    ("gridder = 'awproj'", "gridder"),         # tclean: unallowed value
    ("stokes = 'IQUVX'", "stokes"),
    ("weighting = 'superuniform'", "weighting"),  # needs its own density handling: not supported
    ("specmode = 'cube'", "specmode"),         # continuum only
    ("maxsubmssize = 'lots'", "maxsubmssize"),
    ("maxsubmssize = '0MB'", "maxsubmssize"),
    ("vis = 'no/such.ms'", "vis"),
    ("imsize = [0, 256]", "imsize"),
    ("nterms = 3\ndeconvolver = 'hogbom'", "nterms"),
    ("jobresources = {'gridding': {}}", "jobresources"),
    ("sharedfs = 'no'", "sharedfs"),
    ("partitionby = 'frequency'", "partitionby"),
    ("cfjobs = True", "cfjobs"),
    ("gridjobs = -2", "gridjobs"),
])
def test_bad_value_names_the_parameter(params_file, line, name):
    with pytest.raises(parameters.ParameterError, match=name):
        parameters.load(params_file(line))


# Quantities tclean's schema lets through as any string or number, refused here by what
# CASA's quanta make of them; the message names the parameter, the value and the form.
@pytest.mark.casa
@pytest.mark.parametrize("line, says", [
    ("cell = 'abc'", "cell = 'abc': not an angle"),
    ("cell = ['6arcsec', '6Jy']", "cell = ['6arcsec', '6Jy']: not an angle"),
    ("cell = ['1arcsec', '1arcsec', '1arcsec']", "not an angle"),
    ("threshold = '0.01Jansky'", "threshold = '0.01Jansky': not a flux density; give a number "
                                 "(Jy) or a number with a unit such as '0.01Jy' or '10mJy'"),
    ("threshold = '10arcsec'", "threshold = '10arcsec': not a flux density"),
    ("noise = '1.0Jansky'", "noise = '1.0Jansky': not a flux density"),
    ("reffreq = '3.0GHzz'", "reffreq = '3.0GHzz': not a frequency"),
    ("reffreq = '3.0'", "reffreq = '3.0': not a frequency"),
    ("uvtaper = ['10arcsek']", "uvtaper = ['10arcsek']: not a taper"),
    ("uvtaper = ['10arcsec', '5arcsec', '10Jy']", "not a taper"),
    ("restoringbeam = ['10arcsec', 'wide']", "restoringbeam = ['10arcsec', 'wide']: not a beam"),
    ("restoringbeam = 'largest'", "restoringbeam = 'largest': not a beam"),
    ("nsigma = -1.0", "nsigma = -1.0: must be >= 0"),
    ("phasecenter = 'J2000 25h00m00 +95d00m00'", "the longitude 25h00m00 is not within 0 to 24h"),
    ("phasecenter = 'J2000 19h59m28 +95d00m00'", "the latitude +95d00m00 is not within -90 to +90"),
    ("phasecenter = 'J2000 foo'", "phasecenter = 'J2000 foo': "),
    ("phasecenter = 'J2001 19h59m28 +40d00m00'", "'J2001' is not a direction frame"),
    ("phasecenter = 'NGC1234'",
     "phasecenter = 'NGC1234': the MS has no field NGC1234 (fields: 0 CTB80)"),
    ("phasecenter = 5", "phasecenter = 5: the MS has no field 5"),
    ("phasecenter = -1", "phasecenter = -1: the MS has no field -1"),
    ("phasecenter = '5'", "phasecenter = '5': the MS has no field 5"),
    ("psfphasecenter = 'J2000 foo'", "psfphasecenter = 'J2000 foo': "),
])
def test_quantity_that_casa_cannot_read_names_the_parameter_and_the_form(params_file, line, says):
    with pytest.raises(parameters.ParameterError) as refused:
        checks.check_ms(parameters.load(params_file(line)))
    assert says in str(refused.value)


@pytest.mark.casa
@pytest.mark.parametrize("line", [
    "cell = '6arcsec'", "cell = ['6arcsec', '5arcsec']", "cell = 6", "cell = [6.0, 6.0]",
    "cell = '0.1arcmin'", "threshold = '0.01Jy'", "threshold = '10mJy'", "threshold = 0.01",
    "threshold = '0.01Jy/beam'", "threshold = 0", "noise = '2mJy'", "reffreq = '3.0GHz'",
    "reffreq = '3000MHz'", "reffreq = ''", "uvtaper = ['10arcsec']",
    "uvtaper = ['5klambda', '3klambda', '10deg']", "uvtaper = ['']", "uvtaper = []",
    "restoringbeam = ''", "restoringbeam = 'common'", "restoringbeam = ['10arcsec']",
    "restoringbeam = ['10arcsec', '8arcsec', '30deg']", "nsigma = 4.5",
    "phasecenter = ''", "phasecenter = 0", "phasecenter = '0'", "phasecenter = 'CTB80'",
    "phasecenter = 'J2000 19h53m20s +32d55m00s'", "phasecenter = 'J2000 19:53:20 +32.55.00'",
    "phasecenter = '19h53m20s +32d55m00s'", "phasecenter = 'GALACTIC 68.5deg 2.7deg'",
    "phasecenter = 'J2000 -10deg -89.5deg'", "phasecenter = 'mars'", "spw = '0:0~3'",
    "spw = '0~1:1~2,3'",
])
def test_every_form_casa_reads_passes(params_file, line):
    p = parameters.load(params_file(line))
    checks.check_ms(p)
    name, value = line.split(" = ", 1)
    assert parameters.as_list(p[name]) == parameters.as_list(ast.literal_eval(value))  # (tclean makes
    # a list of a single cell)


@pytest.mark.casa
def test_a_field_name_with_a_space_is_a_phase_centre(params_file, tmp_path, sim_ms):
    """A field named 'CTB 80' (two words, as a direction without its frame would be)
    is the MS's field, not a direction; 'CTB 81' is neither."""
    import shutil
    from casatools import table
    ms = tmp_path / "spaced.ms"
    shutil.copytree(sim_ms, ms)
    tb = table()
    tb.open(str(ms / "FIELD"), nomodify=False)
    tb.putcol("NAME", ["CTB 80"])
    tb.close()
    p = parameters.load(params_file(f"vis = {str(ms)!r}\nphasecenter = 'CTB 80'"))
    checks.check_ms(p)
    with pytest.raises(parameters.ParameterError, match="phasecenter = 'CTB 81': 'CTB' is not an angle"):
        checks.check_ms({**p, "phasecenter": "CTB 81"})


@pytest.mark.fast
@pytest.mark.parametrize("value, mib", [("2048MB", 2048), ("8GB", 8192), (4096, 4096),
                                          ("1.5 G", 1536), ("ifThenElse(MemoryUsage > 1, 2, 3)", 0)])
def test_request_memory_in_condor_submits_units(value, mib):
    """condor_submit's request_memory: a bare number is MB, K/M/G/T (with or without B)
    are binary units; an expression is HTCondor's to evaluate (not checked: 0)."""
    assert checks.memory_mb(value) == mib


@pytest.mark.casa
def test_mask_is_read_as_casa_reads_regions(params_file, tmp_path):
    """usemask='user': a CRTF region as text or in a file passes, one CASA's region
    parser cannot read is refused with its reason (tclean would only log it)."""
    from imaging import synthesis
    p = parameters.load(params_file(""))
    csys = synthesis.image_coordinates(p, str(tmp_path / "image"))["coordsys"]
    good, bad = tmp_path / "good.crtf", tmp_path / "bad.crtf"
    good.write_text("#CRTFv0\ncircle[[19h53m20s, +32d55m00s], 60arcsec]\n")
    bad.write_text("#CRTFv0\ncircle[[32pix, 32pix], 5pi\n")
    for mask in ("", "box[[10pix, 10pix], [60pix, 60pix]]", str(good), [str(good)]):
        checks.check_mask({**p, "mask": mask}, csys)
    with pytest.raises(parameters.ParameterError,
                       match="line# 2: Illegal circle specification .*give a CRTF region"):
        checks.check_mask({**p, "mask": str(bad)}, csys)


@pytest.mark.casa
def test_unknown_name_suggests_the_tclean_name(params_file):
    with pytest.raises(parameters.ParameterError, match="did you mean 'niter'"):
        parameters.load(params_file("nitre = 5"))


@pytest.mark.casa
@pytest.mark.parametrize("line", ["niter = 10 * 2", "import os", "niter += 1",
                                  "niter = open('x').read()"])
def test_only_literal_assignments(params_file, line):
    with pytest.raises(parameters.ParameterError, match="line"):
        parameters.load(params_file(line))


@pytest.mark.casa
def test_syntax_error_names_the_line(params_file):
    with pytest.raises(parameters.ParameterError, match="line"):
        parameters.load(params_file("niter = ("))


@pytest.mark.fast
@pytest.mark.parametrize("text, size", [("500MB", 500_000_000), ("2GiB", 2 * 2**30),
                                        ("1.5 GB", 1_500_000_000), (1000, 1000)])
def test_sizes(text, size):
    assert parameters.parse_size(text) == size


@pytest.mark.fast
@pytest.mark.parametrize("value, says", [
    ("frequency", "partitionby = 'frequency' is not a partition mode: give 'time'"),
    (["spw"], "partitionby = ['spw'] must be a str"),
    ("SPW", "partitionby = 'SPW' is not a partition mode")])
def test_partitionby_is_one_of_the_modes(value, says):
    """The decomposition's own parameters are checked without CASA: partitionby must name
    one of the three modes, and each of them passes."""
    given = {name: default for name, (default, _, _) in parameters.DECOMPOSITION.items()}
    for mode in ("time", "spw", "both"):
        parameters.check_decomposition({**given, "partitionby": mode}, "imaging.py")
    with pytest.raises(parameters.ParameterError, match=f"imaging.py: {re.escape(says)}"):
        parameters.check_decomposition({**given, "partitionby": value}, "imaging.py")


@pytest.mark.casa
def test_dag_stops_before_any_job_on_a_bad_parameter(session_dir, shared):
    """The DAG's first PRE script refuses the run; no job runs, the message names it."""
    rundir = new_run(session_dir / "badparam", {**shared, "robust": 7.0})
    proc = run([PYTHON, "-m", "dagengine", "dag/condor_imaging.dag"], cwd=rundir, check=False)
    assert proc.returncode != 0
    assert "node 'prepareRun' PRE script failed" in proc.stderr
    assert "its output: logs/prepareRun.pre.log" in proc.stderr
    log = (rundir / "logs" / "prepareRun.pre.log").read_text()
    assert "prepareRun: " in log and "robust = 7.0" in log
    assert not list((rundir / "logs").glob("*.out"))  # no job ever ran


@pytest.mark.casa
def test_rerun_with_changed_parameters_is_refused(session_dir, shared, cf_run):
    """A re-run continues only where its products were made from the same inputs: an
    edit that changes no product is taken; one of a gridding parameter is taken while
    no gridded product exists; one of a partition parameter once sub-MSes exist is
    refused, naming it."""
    rundir = new_run(session_dir / "changed_rerun", shared)
    run(["scripts/runjob", "prepareRun.py"], cwd=rundir)
    run(["scripts/runjob", "prepareRun.py"], cwd=rundir)  # same parameters: fine
    run(["scripts/runjob", "MSpartition.py"], cwd=rundir)
    with open(rundir / "params" / "imaging.py", "a") as f:
        f.write("jobresources = {'allImagers': {'request_memory': '8GB'}}\npblimit = 0.3\n")
    proc = run(["scripts/runjob", "prepareRun.py"], cwd=rundir)  # nothing gridded yet: fine
    assert "pblimit (0.2 -> 0.3) changed" in proc.stdout and "jobresources" not in proc.stdout
    with open(rundir / "params" / "imaging.py", "a") as f:
        f.write("maxsubmssize = '5MB'\n")
    proc = run(["scripts/runjob", "prepareRun.py"], cwd=rundir, check=False)
    assert proc.returncode != 0
    assert "maxsubmssize ('10MB' -> '5MB') changed, which changes the partition stage" \
        in proc.stderr
    assert "make clean" in proc.stderr


@pytest.mark.casa
def test_jobs_read_the_parameters_prepare_run_validated(session_dir, shared):
    """Jobs take products/params.json (no casatasks task import); an edit made after it
    stops every job until prepareRun (make run, make submit) has checked it, so a job
    never runs on unchecked values or on products of other ones."""
    rundir = new_run(session_dir / "record", shared)
    run(["scripts/runjob", "prepareRun.py"], cwd=rundir)
    probe = ("import sys; sys.path.insert(0, 'scripts'); import dagutils, json; "
             "p = dagutils.load_params(); "
             "print(json.dumps([p['niter'], 'casatasks.tclean' in sys.modules]))")
    recorded = json.loads((rundir / "products" / "params.json").read_text())["niter"]
    assert json.loads(run([PYTHON, "-c", probe], cwd=rundir).stdout) == [recorded, False]
    path = rundir / "params" / "imaging.py"
    with open(path, "a") as f:
        f.write("niter = 7\n")
    later = (rundir / "products" / "params.json").stat().st_mtime + 1
    os.utime(path, (later, later))        # edited after prepareRun
    proc = run([PYTHON, "-c", probe], cwd=rundir, check=False)
    assert proc.returncode != 0
    assert "was edited since this run was checked (niter changed)" in proc.stderr
    run(["scripts/runjob", "prepareRun.py"], cwd=rundir)
    assert json.loads(run([PYTHON, "-c", probe], cwd=rundir).stdout) == [7, False]


@pytest.mark.casa
def test_job_imports_keep_every_casatasks_task_reachable(tmp_path):
    """synthesis imports casatasks' imager helpers without the package's tasks; code
    that asks for a task afterwards still gets casatasks' own task object."""
    (tmp_path / "logs").mkdir()
    probe = (f"import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r}); from imaging import synthesis; "
             "before = 'casatasks.tclean' in sys.modules; "
             "from casatasks import tclean, imstat; import casatasks; "
             "print(before, type(tclean).__name__, type(imstat).__name__, casatasks.version_string())")
    out = run([PYTHON, "-c", probe], cwd=tmp_path).stdout.split()
    import casatasks
    assert out == ["False", "_tclean", "_imstat", casatasks.version_string()]


@pytest.mark.casa
def test_a_mask_outside_the_run_needs_a_shared_filesystem(params_file, tmp_path):
    """Without a shared filesystem the jobs are sent the mask: it must be in the run."""
    mask = tmp_path / "elsewhere.crtf"
    mask.write_text("#CRTFv0\ncircle[[10pix, 10pix], 3pix]\n")
    with pytest.raises(parameters.ParameterError, match="mask = .*sharedfs = False"):
        parameters.load(params_file(f"mask = {str(mask)!r}\nsharedfs = False"))
    assert parameters.load(params_file("sharedfs = True"))["mask"] == str(mask)
