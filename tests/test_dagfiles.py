"""The DAG and submit files, read by HTCondor's own submit-file parser (htcondor2).

The generated gridding sub-DAG is compared with a golden file; the static
.htc files are expanded by htcondor2.Submit with a node's VARS and the
resources written by the PRE script, and compared with the command lines and
requests derived by hand.
"""
from pathlib import Path

import htcondor2
import pytest

import dagutils
import prepareRun
from imaging import parameters, products

from helpers import ROOT

pytestmark = pytest.mark.fast

GOLDEN = Path(__file__).parent / "golden"
PLAN = {"vis": "/data/big.ms", "parts": [
    {"part": f"n{k}", "subms": products.subms_name("/data/big.ms", k)} for k in (1, 2, 3)]}
REQUESTS = {"request_cpus": 1, "request_memory": "2GB", "request_disk": "1GB"}
PARAMS_REQUESTS = {"allImagers": {"request_memory": "20GB", "request_cpus": 2}}  # `jobresources`


def submit(htc, vars_, tmp_path, monkeypatch, sharedfs=True):
    """htcondor2's view of one node's submit description, as DAGMan would submit it."""
    monkeypatch.chdir(tmp_path)
    for folder in ("htc", "products"):
        (tmp_path / folder).mkdir(exist_ok=True)
    for f in (ROOT / "htc").glob("*.htc"):
        (tmp_path / "htc" / f.name).write_text(f.read_text())
    (tmp_path / prepareRun.RESOURCES).mkdir(exist_ok=True)
    for kind in parameters.job_kinds():
        requests = {**REQUESTS, **PARAMS_REQUESTS.get(kind, {})}
        (tmp_path / prepareRun.resources_path(kind)).write_text(prepareRun.resources_htc(kind, requests, {"sharedfs": sharedfs}))
    sub = htcondor2.Submit((tmp_path / "htc" / htc).read_text())
    for key, value in vars_.items():
        sub[key] = value
    return sub


def test_gridding_subdag_matches_golden():
    assert dagutils.gridding_subdag(PLAN) == (GOLDEN / "allImagers.dag").read_text()


def test_weighted_gridding_subdag_matches_golden():
    """Uniform and Briggs weighting: the weight density of each sub-MS, their sum, then
    the gridding."""
    assert dagutils.gridding_subdag(PLAN, density=True) == \
        (GOLDEN / "allImagers_weighted.dag").read_text()


def test_start_model_gridding_subdag_matches_golden():
    """With a start model: each sub-MS's PSF, then addImages_psf (products/psf and the
    start model divided by the weight), then each sub-MS's first residual; with Briggs
    weighting the weight density comes before the PSFs."""
    assert dagutils.gridding_subdag(PLAN, density=True, startmodel=True) == \
        (GOLDEN / "allImagers_startmodel.dag").read_text()


def test_allimagers_job(tmp_path, monkeypatch):
    sub = submit("allImagers.htc", {"JOB": "allImagers_c0_n2", "part": "n2",
                                    "subms": "products/subms/big.n2.ms", "cycle": "0"},
                 tmp_path, monkeypatch)
    assert sub.expand("executable") == "scripts/runjob"
    assert sub.expand("arguments") == '"allImagers.py n2 products/subms/big.n2.ms 0"'
    assert sub.expand("request_memory") == "20GB"   # from params
    assert sub.expand("request_cpus") == "2"        # from params
    assert sub.expand("request_disk") == "1GB"      # not overridden
    assert sub.expand("output") == "logs/allImagers_c0_n2.out"
    assert sub.expand("error") == "logs/allImagers_c0_n2.err"
    assert sub.expand("should_transfer_files") == "NO"


def test_jobs_without_a_shared_filesystem(tmp_path, monkeypatch):
    """sharedfs = False: a gridding job is sent the folder its PRE script filled and
    sends out.tar back under its node's name; MSpartition runs on the access point."""
    node = "allImagers_c0_n2"
    sub = submit("allImagers.htc", {"JOB": node, "part": "n2", "subms": "products/subms/big.n2.ms",
                                    "cycle": "0"}, tmp_path, monkeypatch, sharedfs=False)
    assert sub.expand("arguments") == '"allImagers.py n2 products/subms/big.n2.ms 0"'
    assert sub.expand("should_transfer_files") == "YES"
    assert sub.expand("executable") == "scripts/remotejob"
    assert sub.expand("transfer_executable") == "true"
    assert sub.expand("transfer_input_files") == f"products/transfer/in/{node}/"
    assert sub.expand("transfer_output_files") == "out.tar"
    assert sub.expand("transfer_output_remaps") == f'"out.tar = products/transfer/out/{node}.tar"'
    assert sub.expand("request_memory") == "20GB"
    local = submit("MSpartition.htc", {"JOB": "MSpartition"}, tmp_path, monkeypatch, sharedfs=False)
    assert local.expand("universe") == "local" and local.expand("executable") == "scripts/runjob"


def test_staged_dags_match_golden():
    """sharedfs = False: each remote node has the PRE and POST scripts that stage its files."""
    assert dagutils.gridding_subdag(PLAN, density=True, transfer=True) == \
        (GOLDEN / "allImagers_staged.dag").read_text()
    assert dagutils.cycle_subdag(PLAN, 2, transfer=True) == (GOLDEN / "cycle2_staged.dag").read_text()
    assert dagutils.model_column_dag(PLAN, transfer=True) == \
        (GOLDEN / "modelColumn_staged.dag").read_text()


def test_model_column_dag_matches_golden():
    """savemodel = 'modelcolumn': a predictModel job per sub-MS, then the one saveModel
    job that writes the MS (local: no staging even without a shared filesystem)."""
    assert dagutils.model_column_dag(PLAN) == (GOLDEN / "modelColumn.dag").read_text()


@pytest.mark.parametrize("htc, vars_, args", [
    ("MSpartition.htc", {"JOB": "MSpartition"}, '"MSpartition.py"'),
    ("addImages.htc", {"JOB": "addImages", "cycle": "0"}, '"addImages.py 0"'),
    ("addParts.htc", {"JOB": "addParts_c3_g2", "cycle": "3", "group": "g2"}, '"addParts.py 3 g2"'),
    ("deconvolve.htc", {"JOB": "deconvolve_c3", "cycle": "3"}, '"deconvolve.py 3"'),
    ("restore.htc", {"JOB": "restore"}, '"restore.py"'),
    ("predictModel.htc", {"JOB": "predictModel_n2", "part": "n2",
                          "subms": "products/subms/big.n2.ms"},
     '"predictModel.py n2 products/subms/big.n2.ms"'),
    ("saveModel.htc", {"JOB": "saveModel"}, '"saveModel.py"'),
    ("makeCFs.htc", {"JOB": "CFfill_2", "mode": "fill", "part": "2"}, '"makeCFs.py fill 2"'),
    ("makeCFs.htc", {"JOB": "CFdry", "mode": "dry"}, '"makeCFs.py dry "'),
    ("weightDensity.htc", {"JOB": "weights_n2", "mode": "part", "part": "n2",
                           "subms": "products/subms/big.n2.ms"},
     '"weightDensity.py part n2 products/subms/big.n2.ms"'),
    ("weightDensity.htc", {"JOB": "weightsSum", "mode": "sum"}, '"weightDensity.py sum  "'),
])
def test_static_jobs(tmp_path, monkeypatch, htc, vars_, args):
    sub = submit(htc, vars_, tmp_path, monkeypatch)
    assert sub.expand("arguments") == args
    assert sub.expand("request_memory") == "2GB"


MANY = {"vis": "/data/big.ms", "parts": [
    {"part": f"n{k}", "subms": products.subms_name("/data/big.ms", k)} for k in range(1, 11)]}


def test_many_sub_mses_are_added_in_groups_before_addimages():
    """10 sub-MSes, more than one addImages job gathers itself (products.GATHER_FANIN = 8):
    two addParts jobs each add the residuals of 5 sub-MSes once their gridding is done,
    and addImages waits for (and gathers) only those; staged without a shared filesystem."""
    assert dagutils.cycle_subdag(MANY, 2, transfer=True) == \
        (GOLDEN / "cycle2_gathered_staged.dag").read_text()
    parents = {}
    for line in dagutils.cycle_subdag(MANY, 2).splitlines():
        if line.startswith("PARENT"):
            up, down = line.split(" CHILD ")
            for child in down.split():
                parents.setdefault(child, set()).update(up.split()[1:])
    assert parents["addParts_c2_g1"] == {f"allImagers_c2_n{k}" for k in range(1, 6)}
    assert parents["addParts_c2_g2"] == {f"allImagers_c2_n{k}" for k in range(6, 11)}
    assert parents["addImages_c2"] == {"addParts_c2_g1", "addParts_c2_g2"}
    first = dagutils.gridding_subdag(MANY)       # cycle 0: the groups inside allImagers.dag
    assert "JOB addParts_c0_g1 htc/addParts.htc" in first and "VARS addParts_c0_g2 " \
        'cycle="0" group="g2"' in first


def test_gather_groups_hold_every_sub_ms_once_and_shorten_the_serial_gather():
    """No groups up to GATHER_FANIN sub-MSes; beyond, consecutive groups of nearly equal
    size, every sub-MS in one, and the serial reads of a cycle's gather (the largest
    group, then the groups' sums) about 2 sqrt(P), never more than P."""
    for nparts in range(1, 1000):
        parts = [f"n{k}" for k in range(1, nparts + 1)]
        groups = products.gather_groups(parts)
        if nparts <= products.GATHER_FANIN:
            assert groups == {} and products.gathered(parts) == parts
            continue
        assert [p for g in groups.values() for p in g] == parts
        assert list(groups) == [f"g{k}" for k in range(1, len(groups) + 1)] == products.gathered(parts)
        sizes = [len(g) for g in groups.values()]
        assert max(sizes) - min(sizes) <= 1 and len(groups) >= 2, nparts
        serial = max(sizes) + len(groups)
        assert serial < nparts or nparts <= 2 * products.GATHER_FANIN, nparts
        assert serial <= max(2 * products.GATHER_FANIN, 2 * nparts ** 0.5 + 3), nparts


def test_cycle_dags_match_golden():
    assert dagutils.cycle_subdag(PLAN, 2) == (GOLDEN / "cycle2.dag").read_text()
    assert dagutils.batch_dag([1, 2, 3], more=True) == (GOLDEN / "majorCycles.dag").read_text()
    assert dagutils.batch_dag([4, 5], more=False) == (GOLDEN / "majorCycles4.dag").read_text()


@pytest.mark.parametrize("first, batch, nmajor, cycles", [
    (1, 10, -1, list(range(1, 11))),     # no cap: a batch of 10, then the next
    (11, 10, -1, list(range(11, 21))),
    (1, 10, 3, [1, 2, 3]),               # never past nmajor
    (21, 10, 25, [21, 22, 23, 24, 25]),
    (4, 10, 3, []),
])
def test_cycle_batches_hold_majorcyclebatch_cycles_and_never_pass_nmajor(first, batch, nmajor, cycles):
    assert dagutils.cycle_batch(first, {"majorcyclebatch": batch, "nmajor": nmajor}) == cycles


def test_cf_fill_dag_matches_golden():
    assert dagutils.cf_fill_dag(2) == (GOLDEN / "cfFill.dag").read_text()
    assert "NOOP" in dagutils.cf_fill_dag(0)


def test_no_retry_of_a_job_stopped_by_its_input():
    """Every RETRY the project writes (the static DAGs and every generated one) is
    `RETRY node n UNLESS-EXIT <INPUT_EXIT>`: a job that stopped on a parameter or input
    error exits with that code and is not tried again."""
    texts = [f.read_text() for f in (ROOT / "dag").glob("*.dag")] + [
        dagutils.gridding_subdag(PLAN, density=True, transfer=True, startmodel=True),
        dagutils.cycle_subdag(PLAN, 1), dagutils.cf_fill_dag(3),
        dagutils.model_column_dag(PLAN, transfer=True)]
    retries = [l.split() for t in texts for l in t.splitlines() if l.startswith("RETRY")]
    assert len(retries) >= 12
    assert all(r[0:1] + r[3:] == ["RETRY", "UNLESS-EXIT", str(parameters.INPUT_EXIT)]
               and int(r[2]) >= 1 for r in retries), retries


def test_top_level_dag_structure():
    """The static DAG: prepareRun -> (CFs, MSpartition) -> allImagers (cycle 0, written at
    run time) -> addImages -> deconvolve -> majorCycles (written at run time) -> restore,
    and beside it modelColumn (written at run time, skipped with savemodel = 'none')."""
    lines = [l.split() for l in (ROOT / "dag" / "condor_imaging.dag").read_text().splitlines()
             if l.strip() and not l.startswith("#")]
    assert ["JOB", "MSpartition", "htc/MSpartition.htc"] in lines
    assert ["SUBDAG", "EXTERNAL", "allImagers", products.SUBDAG] in lines
    assert ["JOB", "addImages", "htc/addImages.htc"] in lines
    assert ["PARENT", "prepareRun", "CHILD", "CFs", "MSpartition"] in lines
    assert ["SUBDAG", "EXTERNAL", "CFs", "dag/cfs.dag"] in lines
    assert ["PARENT", "CFs", "MSpartition", "CHILD", "allImagers"] in lines
    assert ["PARENT", "allImagers", "CHILD", "addImages"] in lines
    assert ["PARENT", "addImages", "CHILD", "deconvolve"] in lines
    assert ["PARENT", "deconvolve", "CHILD", "majorCycles"] in lines
    assert ["SUBDAG", "EXTERNAL", "majorCycles", products.MAJORCYCLES] in lines
    assert ["PARENT", "majorCycles", "CHILD", "restore", "modelColumn"] in lines
    assert ["SUBDAG", "EXTERNAL", "modelColumn", products.MODELCOLUMN] in lines
    assert ["SCRIPT", "DEBUG", "logs/modelColumn.pre.log", "ALL", "PRE", "modelColumn",
            "scripts/runjob", "saveModelDag.py"] in lines
    assert ["PRE_SKIP", "modelColumn", "99"] in lines
    assert ["SCRIPT", "DEBUG", "logs/prepareRun.pre.log", "ALL", "PRE", "prepareRun",
            "scripts/runjob", "prepareRun.py"] in lines
