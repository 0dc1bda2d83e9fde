"""params/imaging.py: read without executing it, validated in one place.

Bad values are those tclean itself rejects (its own schema and validator) or
that the decomposition cannot honour; each error names the parameter.
"""
import json
import os

import pytest

import parameters
from conftest import PYTHON, ROOT, new_run, run


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


def test_defaults_image_the_simulated_data_with_wideband_awproject(params_file):
    p = parameters.load(params_file(""))
    assert (p["gridder"], p["wbawp"], p["conjbeams"], p["nterms"], p["deconvolver"],
            p["specmode"]) == ("awproject", True, True, 2, "mtmfs", "mfs")


def test_later_assignment_wins(params_file):
    assert parameters.load(params_file("niter = 10\nniter = 20"))["niter"] == 20


def test_parameters_not_set_take_tclean_defaults(params_file):
    p = parameters.load(params_file(""))
    assert p["psfcutoff"] == 0.35 and p["projection"] == "SIN"  # tclean's documented defaults


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
    ("cfjobs = True", "cfjobs"),
])
def test_bad_value_names_the_parameter(params_file, line, name):
    with pytest.raises(parameters.ParameterError, match=name):
        parameters.load(params_file(line))


def test_unknown_name_suggests_the_tclean_name(params_file):
    with pytest.raises(parameters.ParameterError, match="did you mean 'niter'"):
        parameters.load(params_file("nitre = 5"))


@pytest.mark.parametrize("line", ["niter = 10 * 2", "import os", "niter += 1",
                                  "niter = open('x').read()"])
def test_only_literal_assignments(params_file, line):
    with pytest.raises(parameters.ParameterError, match="line"):
        parameters.load(params_file(line))


def test_syntax_error_names_the_line(params_file):
    with pytest.raises(parameters.ParameterError, match="line"):
        parameters.load(params_file("niter = ("))


@pytest.mark.parametrize("text, size", [("500MB", 500_000_000), ("2GiB", 2 * 2**30),
                                        ("1.5 GB", 1_500_000_000), (1000, 1000)])
def test_sizes(text, size):
    assert parameters.parse_size(text) == size


def test_dag_stops_before_any_job_on_a_bad_parameter(session_dir, shared):
    """The DAG's first PRE script refuses the run; no job runs, the message names it."""
    rundir = new_run(session_dir / "badparam", {**shared, "robust": 7.0})
    proc = run([PYTHON, "scripts/dagrunner.py", "dag/condor_imaging.dag"], cwd=rundir, check=False)
    assert proc.returncode != 0
    assert "node 'prepareRun' PRE script failed" in proc.stderr
    assert "its output: logs/prepareRun.pre.log" in proc.stderr
    log = (rundir / "logs" / "prepareRun.pre.log").read_text()
    assert "prepareRun: " in log and "robust = 7.0" in log
    assert not list((rundir / "logs").glob("*.out"))  # no job ever ran


def test_rerun_with_changed_parameters_is_refused(session_dir, shared, cf_run):
    """A re-run continues only where its products were made from the same inputs: an
    edit of a gridding parameter is refused once gridding-stage products exist (here
    the image coordinates MSpartition wrote); one that shapes no product is not."""
    rundir = new_run(session_dir / "changed_rerun", shared)
    run(["scripts/runjob", "prepareRun.py"], cwd=rundir)
    run(["scripts/runjob", "prepareRun.py"], cwd=rundir)  # same parameters: fine
    run(["scripts/runjob", "MSpartition.py"], cwd=rundir)
    with open(rundir / "params" / "imaging.py", "a") as f:
        f.write("jobresources = {'allImagers': {'request_memory': '8GB'}}\n")
    run(["scripts/runjob", "prepareRun.py"], cwd=rundir)  # shapes no product: fine
    with open(rundir / "params" / "imaging.py", "a") as f:
        f.write("pblimit = 0.3\n")
    proc = run(["scripts/runjob", "prepareRun.py"], cwd=rundir, check=False)
    assert proc.returncode != 0
    assert "pblimit (0.2 -> 0.3) changed, which changes the gridding stage" in proc.stderr
    assert "make clean" in proc.stderr


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


def test_job_imports_keep_every_casatasks_task_reachable(tmp_path):
    """synthesis imports casatasks' imager helpers without the package's tasks; code
    that asks for a task afterwards still gets casatasks' own task object."""
    (tmp_path / "logs").mkdir()
    probe = (f"import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r}); import synthesis; "
             "before = 'casatasks.tclean' in sys.modules; "
             "from casatasks import tclean, imstat; import casatasks; "
             "print(before, type(tclean).__name__, type(imstat).__name__, casatasks.version_string())")
    out = run([PYTHON, "-c", probe], cwd=tmp_path).stdout.split()
    import casatasks
    assert out == ["False", "_tclean", "_imstat", casatasks.version_string()]


def test_a_mask_outside_the_run_needs_a_shared_filesystem(params_file, tmp_path):
    """Without a shared filesystem the jobs are sent the mask: it must be in the run."""
    mask = tmp_path / "elsewhere.crtf"
    mask.write_text("#CRTFv0\ncircle[[10pix, 10pix], 3pix]\n")
    with pytest.raises(parameters.ParameterError, match="mask = .*sharedfs = False"):
        parameters.load(params_file(f"mask = {str(mask)!r}\nsharedfs = False"))
    assert parameters.load(params_file("sharedfs = True"))["mask"] == str(mask)
