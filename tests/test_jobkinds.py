"""The table of job kinds (scripts/imaging/jobkinds.py) against the submit files, the
DAG files and the staging lists; fast, no CASA.

The .htc files are read by HTCondor's own submit-file parser (htcondor2.Submit) in a
scratch copy of htc/; the staging lists are checked in a fake run directory (a plan of
two sub-MSes, two minor-cycle records and a few image folders) against lists derived
by hand.
"""
import hashlib
import json
import os
from pathlib import Path

import htcondor2
import pytest

from imaging import jobkinds, parameters, resources, transfer

from helpers import ROOT

pytestmark = pytest.mark.fast

HTC = sorted((ROOT / "htc").glob("*.htc"))
KIND_FILES = [f for f in HTC if f.name != "common.htc"]


@pytest.fixture
def htc_dir(tmp_path, monkeypatch):
    """A run directory with the submit files and an empty resources file per kind."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "htc").mkdir()
    (tmp_path / "products" / "resources").mkdir(parents=True)
    for f in HTC:
        (tmp_path / "htc" / f.name).write_text(f.read_text())
        (tmp_path / "products" / "resources" / f.name).write_text("")
    return tmp_path


def test_every_kind_has_a_submit_file_and_every_submit_file_a_kind():
    assert sorted(f"htc/{f.name}" for f in KIND_FILES) == \
        sorted(k.submit_file for k in jobkinds.KINDS.values())
    assert all((ROOT / "scripts" / k.script).is_file() for k in jobkinds.KINDS.values())


@pytest.mark.parametrize("kind", jobkinds.NAMES)
def test_submit_file_arguments_are_the_tables(htc_dir, kind):
    sub = htcondor2.Submit((htc_dir / jobkinds.KINDS[kind].submit_file).read_text())
    assert sub["arguments"] == f'"{jobkinds.KINDS[kind].arguments}"'


@pytest.mark.parametrize("kind, values", [
    ("makeCFs", {"mode": "dry"}), ("makeCFs", {"mode": "fill", "part": "3"}),
    ("weightDensity", {"mode": "sum"}),
    ("weightDensity", {"mode": "part", "part": "n2", "subms": "products/subms/x.n2.ms"}),
    ("allImagers", {"part": "n1", "subms": "products/subms/x.n1.ms", "cycle": "4"}),
    ("restore", {}),
    ("predictModel", {"part": "n2", "subms": "products/subms/x.n2.ms"}),
    ("saveModel", {}),
])
def test_a_nodes_command_is_what_htcondor_expands(htc_dir, kind, values):
    """The staging scripts' copy of a job's command (jobkinds.command) is HTCondor's."""
    sub = htcondor2.Submit((htc_dir / jobkinds.KINDS[kind].submit_file).read_text())
    for key, value in values.items():
        sub[key] = value
    assert sub.expand("arguments").strip('"').split() == jobkinds.KINDS[kind].command(values)


def test_every_job_node_runs_the_kind_its_name_says():
    """Each JOB line of the static DAGs and the golden sub-DAGs: kind_of(its name)'s
    submit file is the node's (NOOP nodes run no job)."""
    texts = [f.read_text() for f in [*(ROOT / "dag").glob("*.dag"),
                                     *(Path(__file__).parent / "golden").glob("*.dag")]]
    jobs = [line.split() for t in texts for line in t.splitlines() if line.startswith("JOB ")]
    assert len(jobs) > 20
    for _, node, htc, *noop in jobs:
        assert noop or jobkinds.KINDS[jobkinds.kind_of(node)].submit_file == htc, node
    assert jobkinds.kind_of("prepareRun") is None and jobkinds.kind_of("cycle3") is None


def test_local_kinds_and_sub_mses():
    assert [k for k in jobkinds.NAMES if jobkinds.KINDS[k].local] == \
        ["makeCFs", "MSpartition", "saveModel"]
    assert transfer.submit_lines("saveModel") == ["universe = local"]   # it writes the MS
    assert transfer.submit_lines("MSpartition") == ["universe = local"]
    assert "executable = scripts/remotejob" in transfer.submit_lines("deconvolve")
    assert transfer.job_subms("allImagers.py", ["n1", "s/x.n1.ms", "0"]) == "s/x.n1.ms"
    assert transfer.job_subms("weightDensity.py", ["part", "n2", "s/x.n2.ms"]) == "s/x.n2.ms"
    assert transfer.job_subms("weightDensity.py", ["sum"]) is None
    assert transfer.job_subms("addImages.py", ["0"]) is None
    assert transfer.job_subms("predictModel.py", ["n2", "s/x.n2.ms"]) == "s/x.n2.ms"


# ---------------------------------------------------------------- staging lists
PARAMS = {"imagename": "out/img", "weighting": "natural", "gridder": "standard", "mask": "",
          "vis": "data/x.ms", "cfcache": "cfcache/x.cf"}
WEIGHTED = {**PARAMS, "weighting": "briggs", "gridder": "awproject"}
STARTING = {**WEIGHTED, "startmodel": ["old.model.tt0", "old.model.tt1"]}   # (startmodel.py)


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    """Two sub-MSes; cycle 0 went on, cycle 1 stopped; the minor cycles' models and
    masks, the sub-MS n2's PSF weight (two Taylor terms) and a region file."""
    monkeypatch.chdir(tmp_path)
    products = tmp_path / "products"
    products.mkdir()
    (products / "partitions.json").write_text(json.dumps({"parts": [
        {"part": "n1", "subms": "products/subms/x.n1.ms"},
        {"part": "n2", "subms": "products/subms/x.n2.ms"}]}))
    for cycle, stopcode in ((0, 0), (1, 1)):
        (products / f"minor{cycle}").mkdir()
        (products / f"minor{cycle}" / "record.json").write_text(json.dumps({"stopcode": stopcode}))
        for image in ("img.model.tt0", "img.model.tt1", "img.mask"):
            (products / f"minor{cycle}" / image).mkdir()
    for term in ("tt0", "tt1"):
        (products / "parts" / "psf" / "n2" / f"img.weight.{term}").mkdir(parents=True)
        (products / "startmodel" / f"img.model.{term}").mkdir(parents=True)
    (tmp_path / "mask.crtf").write_text("#CRTFv0\n")
    return tmp_path


MINOR0 = ["products/minor0/record.json", "products/minor0/identity.json"]
MINOR1 = ["products/minor1/record.json", "products/minor1/identity.json"]
MODEL0 = ["products/minor0/img.model.tt0", "products/minor0/img.model.tt1", "products/minor0/img.mask"]
MODEL1 = ["products/minor1/img.model.tt0", "products/minor1/img.model.tt1", "products/minor1/img.mask"]


@pytest.mark.parametrize("script, args, params, paths", [
    ("allImagers.py", ["n1", "products/subms/x.n1.ms", "0"], PARAMS,
     ["products/coordsys.pickle", "products/partitions.json"]),
    ("allImagers.py", ["n2", "products/subms/x.n2.ms", "1"], WEIGHTED,
     ["products/coordsys.pickle", "products/partitions.json", "products/weights",
      "products/minor0/predict", "products/minor0/identity.json",
      "products/parts/psf/n2/img.weight.tt0", "products/parts/psf/n2/img.weight.tt1"]),
    ("weightDensity.py", ["part", "n1", "products/subms/x.n1.ms"], WEIGHTED,
     ["products/coordsys.pickle"]),
    ("weightDensity.py", ["sum"], WEIGHTED,
     ["products/partitions.json", "products/parts/weights/n1", "products/parts/weights/n2"]),
    ("addImages.py", ["0"], PARAMS,
     ["products/partitions.json", "products/parts/cycle0/n1", "products/parts/cycle0/n2",
      "products/parts/psf/n1", "products/parts/psf/n2"]),
    ("addImages.py", ["2"], PARAMS,
     ["products/partitions.json", "products/parts/cycle2/n1", "products/parts/cycle2/n2",
      "products/psf"]),
    ("deconvolve.py", ["0"], PARAMS, ["products/cycle0"]),
    ("deconvolve.py", ["2"], {**PARAMS, "mask": "mask.crtf"},
     ["products/cycle2", *MINOR0, *MINOR1, *MODEL1, "mask.crtf"]),
    ("deconvolve.py", ["1"], {**PARAMS, "mask": "/elsewhere/mask.crtf"},
     ["products/cycle1", *MINOR0, *MODEL0]),
    ("restore.py", [], PARAMS, ["products/cycle1", *MINOR1, *MINOR0, *MODEL0]),
    ("allImagers.py", ["n2", "products/subms/x.n2.ms", "psf"], STARTING,
     ["products/coordsys.pickle", "products/partitions.json", "products/weights"]),
    ("addImages.py", ["psf"], STARTING,
     ["products/partitions.json", "products/parts/psf/n1", "products/parts/psf/n2",
      "old.model.tt0", "old.model.tt1"]),
    ("allImagers.py", ["n2", "products/subms/x.n2.ms", "0"], STARTING,
     ["products/coordsys.pickle", "products/partitions.json", "products/weights",
      "products/startmodel/predict", "products/startmodel/identity.json",
      "products/parts/psf/n2/img.weight.tt0", "products/parts/psf/n2/img.weight.tt1"]),
    ("addImages.py", ["0"], STARTING,
     ["products/partitions.json", "products/parts/cycle0/n1", "products/parts/cycle0/n2",
      "products/psf"]),
    ("deconvolve.py", ["0"], STARTING,
     ["products/cycle0", "products/startmodel/img.model.tt0", "products/startmodel/img.model.tt1"]),
    # savemodel: the model that made the last residual (cycle 1's: minor0), and the records
    ("predictModel.py", ["n2", "products/subms/x.n2.ms"], WEIGHTED,
     ["products/coordsys.pickle", "products/partitions.json", "products/weights",
      "products/minor0/predict", "products/minor0/identity.json",
      "products/parts/psf/n2/img.weight.tt0", "products/parts/psf/n2/img.weight.tt1",
      "products/minor0/record.json", *MINOR1]),
])
def test_staging_lists(fake_run, script, args, params, paths):
    assert transfer.inputs(script, args, params) == paths


def test_staging_with_groups_of_sub_mses(fake_run):
    """10 sub-MSes (more than products.GATHER_FANIN): addParts g2 is sent the residuals of
    sub-MSes n6-n10 and writes its sum; addImages is sent the two sums, not 10 residuals."""
    (fake_run / "products" / "partitions.json").write_text(json.dumps({"parts": [
        {"part": f"n{k}", "subms": f"products/subms/x.n{k}.ms"} for k in range(1, 11)]}))
    assert transfer.inputs("addParts.py", ["2", "g2"], PARAMS) == \
        ["products/partitions.json"] + [f"products/parts/cycle2/n{k}" for k in range(6, 11)]
    assert transfer.inputs("addImages.py", ["2"], PARAMS) == \
        ["products/partitions.json", "products/parts/cycle2/g1", "products/parts/cycle2/g2",
         "products/psf"]
    kind = jobkinds.KINDS["addParts"]
    assert kind.writes(PARAMS, "2", "g2") == ["products/parts/cycle2/g2"]
    assert transfer.job_subms("addParts.py", ["2", "g2"]) is None     # (no CF cache sent)


def test_restore_before_the_run_stopped_is_sent_nothing(fake_run):
    (fake_run / "products" / "minor1" / "record.json").write_text(json.dumps({"stopcode": 0}))
    assert transfer.inputs("restore.py", [], PARAMS) == []
    assert transfer.inputs("predictModel.py", ["n1", "products/subms/x.n1.ms"], PARAMS) == []


@pytest.mark.parametrize("kind, values, paths", [
    ("makeCFs", {"mode": "dry"}, ["{build}/dry", "{build}/plan.json", "products/cfFill.dag"]),
    ("makeCFs", {"mode": "fill", "part": "2"}, ["{build}/fill2"]),
    ("makeCFs", {"mode": "merge"}, ["cfcache/x.cf", "cfcache/x.cf.json"]),
    ("MSpartition", {}, ["products/subms", "products/partitions.json", "products/coordsys.pickle",
                         "products/allImagers.dag"]),
    ("weightDensity", {"mode": "part", "part": "n2", "subms": "s"}, ["products/parts/weights/n2"]),
    ("weightDensity", {"mode": "sum"}, ["products/weights"]),
    ("allImagers", {"part": "n1", "subms": "s", "cycle": "0"},
     ["products/parts/psf/n1", "products/parts/cycle0/n1"]),
    ("allImagers", {"part": "n1", "subms": "s", "cycle": "3"}, ["products/parts/cycle3/n1"]),
    ("addImages", {"cycle": "0"}, ["products/psf", "products/cycle0"]),
    ("addImages", {"cycle": "3"}, ["products/cycle3"]),
    ("deconvolve", {"cycle": "3"}, ["products/minor3"]),
    ("restore", {}, ["products/final"]),
    ("predictModel", {"part": "n2", "subms": "s"}, ["products/parts/model/n2"]),
    ("saveModel", {}, ["products/savemodel"]),
])
def test_what_each_kind_writes(fake_run, kind, values, paths):
    """(The CF steps build in a folder beside the cache named by the run directory.)"""
    build = "cfcache/x.cf.build-" + hashlib.sha1(os.getcwd().encode()).hexdigest()[:8]
    kind = jobkinds.KINDS[kind]
    assert kind.writes(PARAMS, *kind.command(values)[1:]) == [p.format(build=build) for p in paths]


@pytest.mark.parametrize("kind, values, paths", [
    ("allImagers", {"part": "n1", "subms": "s", "cycle": "psf"}, ["products/parts/psf/n1"]),
    ("addImages", {"cycle": "psf"}, ["products/psf", "products/startmodel"]),
    ("allImagers", {"part": "n1", "subms": "s", "cycle": "0"}, ["products/parts/cycle0/n1"]),
    ("addImages", {"cycle": "0"}, ["products/cycle0"]),
])
def test_what_each_kind_writes_with_a_start_model(fake_run, kind, values, paths):
    """The PSFs come first, in their own nodes (dagutils.start_model_nodes)."""
    kind = jobkinds.KINDS[kind]
    assert kind.writes(STARTING, *kind.command(values)[1:]) == paths


# ---------------------------------------------------------------- the kinds elsewhere
def test_the_kinds_of_jobresources_and_resources_are_the_tables():
    assert parameters.job_kinds() == jobkinds.NAMES
    params = {name: default for name, (default, _, _) in parameters.DECOMPOSITION.items()}
    parameters.check_decomposition({**params, "jobresources": {"deconvolve": {}}}, "p.py")
    with pytest.raises(parameters.ParameterError, match="job kinds are makeCFs, MSpartition"):
        parameters.check_decomposition({**params, "jobresources": {"prepareRun": {}}}, "p.py")


def test_a_kind_without_resource_figures_asks_for_a_casa_process():
    params = {"nterms": 2, "deconvolver": "mtmfs", "scales": [0], "cfcache": "", "exportfits": True}
    size = {"pixels": 100 ** 2, "rows": 10, "cf": 0, "subms": 2 ** 20, "ms": 2 ** 21, "nparts": 2}
    assert resources.memory_mb("newKind", params, size) == resources.CASA_MB * resources.MARGIN
    assert resources.disk_bytes("newKind", params, size) == \
        resources.disk_bytes("deconvolve", params, size)
