"""What `make run` prints while the DAG runs (scripts/tools/console.py): the engine's
node-by-node lines go to logs/dagrunner.log, its warnings and failures to the console
too, one line per stage from the run's products, and its exit status is kept.  (A
whole `make run` through it: tests/test_guards_casa.py.)"""
import pytest

from helpers import PYTHON, run

# A stand-in for the DAG engine: node lines on stdout, a failure on stderr; halfway it
# writes the partition plan, so the run's stage moves on to gridding.
ENGINE = """
import json, os, sys, time
for i in range(40):
    print(f"2026-12-01 00:00:{i:02d} allImagers_c0_n{i}: node succeeded", flush=True)
time.sleep(0.6)
os.makedirs("products", exist_ok=True)
json.dump({"parts": [{"part": "n1"}, {"part": "n2"}]}, open("products/partitions.json", "w"))
time.sleep(0.6)
print("dagrunner: node 'deconvolve' failed with exit code 1 after 2 attempts", file=sys.stderr)
sys.exit(3)
"""


@pytest.mark.fast
def test_node_lines_go_to_the_log_failures_and_stages_to_the_console(tmp_path, monkeypatch):
    (tmp_path / "engine.py").write_text(ENGINE)
    monkeypatch.setenv("CONSOLE_POLL", "0.2")
    proc = run([PYTHON, "-m", "tools.console", PYTHON, "engine.py"], cwd=tmp_path, check=False)
    assert proc.returncode == 3
    log = (tmp_path / "logs" / "dagrunner.log").read_text()
    assert log.count("node succeeded") == 40 and "node 'deconvolve' failed" in log
    assert "node succeeded" not in proc.stdout
    assert proc.stderr == "dagrunner: node 'deconvolve' failed with exit code 1 after 2 attempts\n"
    stages = [line.split("  ", 1)[1] for line in proc.stdout.splitlines()[:-2]]
    assert stages == [
        "checking parameters, making the CF cache (CFs), partitioning the MS (MSpartition) "
        "(jobs: 0 done, 0 running)",
        "major cycle 0: gridding (allImagers): 0 of 2 sub-MSes done (jobs: 0 done, 0 running)"]
    assert proc.stdout.splitlines()[-2:] == ["not started", "every node: logs/dagrunner.log"]


@pytest.mark.fast
def test_the_cf_cache_stage_counts_its_fill_jobs(tmp_path, monkeypatch):
    """Long stages show progress: the CF cache's fill jobs done of those cfFill.dag lists."""
    from dagutils import cf_fill_dag
    from tools import progress
    from tools.progress import JobState
    monkeypatch.chdir(tmp_path)
    nodes = {"prepareRun": {"state": JobState.DONE}, "CFdry": {"state": JobState.RUNNING}}
    assert "dry run (CFdry)" in progress.cf_stage(nodes)
    (tmp_path / "products").mkdir()
    (tmp_path / "products" / "cfFill.dag").write_text(cf_fill_dag(3))
    nodes.update(CFdry={"state": JobState.DONE}, CFfill_1={"state": JobState.DONE},
                 CFfill_2={"state": JobState.RUNNING})
    assert progress.cf_stage(nodes) == "making the CF cache (CFfill): 1 of 3 fill jobs done"
    nodes.update(CFmerge={"state": JobState.RUNNING})
    assert "(CFmerge)" in progress.cf_stage(nodes)
    nodes.update(CFmerge={"state": JobState.DONE})
    assert progress.cf_stage(nodes) is None
    assert progress.cf_stage({"prepareRun": {"state": JobState.DONE}}) is None   # (make cfs made it)
