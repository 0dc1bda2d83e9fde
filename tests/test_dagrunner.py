"""scripts/dagrunner.py: the local DAGMan, on small DAGs built in tmp_path.

Each test writes a DAG and its submit files, runs it with run_dag (or the
CLI) and compares what really ran with what the DAGMan manual
(htcondor/htcondor docs/automated-workflows) says must run.  Jobs are small
Python or sh scripts that record when they ran and what they were given.
"""
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import htcondor2
import pytest

from dagengine import dagfile, submitsyntax
from dagengine.dagrunner import run_dag

pytestmark = pytest.mark.fast

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

# rec.py NAME SECONDS EXIT: sleep, append {start, end, argv, env} to runs/NAME.json, exit.
REC = """\
import json, os, sys, time
name, seconds, code = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
start = time.time()
time.sleep(seconds)
os.makedirs("runs", exist_ok=True)
with open(f"runs/{name}.json", "a") as f:
    f.write(json.dumps({"start": start, "end": time.time(), "argv": sys.argv[4:],
                        "env": dict(os.environ)}) + "\\n")
sys.exit(code)
"""

# One submit file for every recording node; VARS choose the sleep, exit code and cores.
REC_HTC = f"""\
executable = {sys.executable}
arguments = "rec.py $(JOB) $(secs:0) $(code:0) $(extra:)"
request_cpus = $(cpus:1)
output = logs/$(JOB).out
error = logs/$(JOB).err
log = logs/dag.log
queue
"""


def write(folder, files):
    for name, text in files.items():
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        if name.endswith(".sh"):
            path.chmod(0o755)


def run(tmp_path, monkeypatch, dag, files=None, cores=2, name="x.dag"):
    """Write the DAG (and files) in tmp_path and run it there."""
    monkeypatch.chdir(tmp_path)
    write(tmp_path, {"rec.py": REC, "rec.htc": REC_HTC, name: dag, **(files or {})})
    return run_dag(name, cores=cores)


def runs(tmp_path, name):
    """The recorded runs of a node (empty if it never ran)."""
    path = tmp_path / "runs" / f"{name}.json"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def overlap(a, b):
    return max(a["start"], b["start"]) < min(a["end"], b["end"])


# ----------------------------------------------------------------------- cores

@pytest.mark.parametrize("cores, cpus_a, concurrent", [
    (2, 1, True),     # two 1-core jobs fit in 2 cores: they run together
    (1, 1, False),    # one core: one after the other
    (2, 2, False),    # a 2-core job leaves no room on 2 cores
])
def test_jobs_share_the_cores(tmp_path, monkeypatch, cores, cpus_a, concurrent):
    dag = f"""\
        JOB A rec.htc
        JOB B rec.htc
        VARS A secs="0.6" cpus="{cpus_a}"
        VARS B secs="0.6"
        """
    assert run(tmp_path, monkeypatch, dag, cores=cores) == 0
    [a], [b] = runs(tmp_path, "A"), runs(tmp_path, "B")
    assert overlap(a, b) == concurrent


def test_job_asking_more_than_all_cores_runs_alone(tmp_path, monkeypatch):
    dag = """\
        JOB A rec.htc
        JOB B rec.htc
        VARS A secs="0.4" cpus="8"
        VARS B secs="0.4"
        """
    assert run(tmp_path, monkeypatch, dag, cores=2) == 0
    [a], [b] = runs(tmp_path, "A"), runs(tmp_path, "B")
    assert not overlap(a, b)
    assert a["env"]["OMP_NUM_THREADS"] == "8" and b["env"]["OMP_NUM_THREADS"] == "1"


def test_maxjobs_limits_a_category(tmp_path, monkeypatch):
    dag = """\
        JOB A rec.htc
        JOB B rec.htc
        JOB C rec.htc
        VARS ALL_NODES secs="0.4"
        CATEGORY A light
        CATEGORY B light
        MAXJOBS light 1
        """
    assert run(tmp_path, monkeypatch, dag, cores=3) == 0
    [a], [b], [c] = (runs(tmp_path, n) for n in "ABC")
    assert not overlap(a, b)                     # same category, MAXJOBS 1
    assert overlap(a, c) or overlap(b, c)        # C is not in it


# ----------------------------------------------------------------------- failure

def test_failed_node_stops_its_children_only(tmp_path, monkeypatch, capsys):
    dag = """\
        JOB A fail.htc
        JOB B rec.htc
        JOB C rec.htc
        VARS C secs="0.3"
        PARENT A CHILD B
        """
    fail = """\
        executable = fail.sh
        error = logs/$(JOB).err
        queue
        """
    files = {"fail.htc": fail, "fail.sh": "#!/bin/sh\necho 'cannot open the MS' >&2\nexit 3\n"}
    assert run(tmp_path, monkeypatch, dag, files) == 1
    assert runs(tmp_path, "B") == []             # child of the failed node: never run
    assert len(runs(tmp_path, "C")) == 1         # independent node: still run
    err = capsys.readouterr().err
    assert "node 'A' failed with exit code 3 after 1 attempt (stderr: logs/A.err)" in err
    assert (tmp_path / "logs" / "A.err").read_text() == "cannot open the MS\n"
    rescue = (tmp_path / "x.dag.rescue001").read_text()
    assert "DONE C" in rescue.splitlines() and "DONE A" not in rescue


# ----------------------------------------------------------------------- RETRY

def test_retry_reruns_pre_and_job_with_retry_number(tmp_path, monkeypatch, capsys):
    dag = """\
        JOB A flaky.htc
        SCRIPT PRE A pre.sh $JOB $RETRY $MAX_RETRIES
        RETRY A 2
        """
    files = {
        "flaky.htc": """\
            executable = flaky.sh
            arguments = "$(RETRY)"
            error = logs/$(JOB).err
            queue
            """,
        # fails the first time only (a marker file remembers the first attempt)
        "flaky.sh": "#!/bin/sh\necho \"$1\" >> job_retry.txt\n"
                    "[ -e marker ] && exit 0\ntouch marker\nexit 1\n",
        "pre.sh": "#!/bin/sh\necho \"$1 $2 $3\" >> pre_retry.txt\n",
    }
    assert run(tmp_path, monkeypatch, dag, files) == 0
    assert (tmp_path / "pre_retry.txt").read_text() == "A 0 2\nA 1 2\n"
    assert (tmp_path / "job_retry.txt").read_text() == "0\n1\n"
    assert not list(tmp_path.glob("x.dag.rescue*"))


def test_unless_exit_stops_retries(tmp_path, monkeypatch, capsys):
    dag = """\
        JOB A rec.htc
        JOB B rec.htc
        VARS A code="7"
        VARS B code="5"
        RETRY A 3 UNLESS-EXIT 7
        RETRY B 2 UNLESS-EXIT 7
        """
    assert run(tmp_path, monkeypatch, dag) == 1
    assert len(runs(tmp_path, "A")) == 1         # exit 7: no retry
    assert len(runs(tmp_path, "B")) == 3         # exit 5: first try + 2 retries
    assert "node 'B' failed with exit code 5 after 3 attempts" in capsys.readouterr().err


# ----------------------------------------------------------------------- PRE / POST

SCRIPTED = """\
    JOB A rec.htc
    JOB CHILD_A rec.htc
    SCRIPT PRE A script.sh pre $JOB {pre}
    SCRIPT POST A script.sh post $JOB {post} $RETURN $PRE_SCRIPT_RETURN
    VARS A code="{job}"
    PARENT A CHILD CHILD_A
    """
SCRIPT_SH = "#!/bin/sh\necho \"$@\" >> scripts.txt\nexit $3\n"


def scripts_run(tmp_path):
    path = tmp_path / "scripts.txt"
    return path.read_text().splitlines() if path.exists() else []


def test_pre_failure_skips_job_and_post(tmp_path, monkeypatch, capsys):
    dag = SCRIPTED.format(pre=4, post=0, job=0)
    assert run(tmp_path, monkeypatch, dag, {"script.sh": SCRIPT_SH}) == 1
    assert scripts_run(tmp_path) == ["pre A 4"]  # no POST script
    assert runs(tmp_path, "A") == [] and runs(tmp_path, "CHILD_A") == []
    assert "node 'A' PRE script failed with exit code 4" in capsys.readouterr().err


@pytest.mark.parametrize("job, post, succeeds", [(1, 0, True), (0, 2, False), (0, 0, True)])
def test_post_exit_decides(tmp_path, monkeypatch, job, post, succeeds):
    dag = SCRIPTED.format(pre=0, post=post, job=job)
    assert run(tmp_path, monkeypatch, dag, {"script.sh": SCRIPT_SH}) == (0 if succeeds else 1)
    # the POST script sees the job's exit code ($RETURN) and the PRE script's ($PRE_SCRIPT_RETURN)
    assert scripts_run(tmp_path) == ["pre A 0", f"post A {post} {job} 0"]
    assert len(runs(tmp_path, "CHILD_A")) == (1 if succeeds else 0)


def test_pre_skip_skips_the_node_as_success(tmp_path, monkeypatch):
    dag = SCRIPTED.format(pre=9, post=0, job=0) + "PRE_SKIP A 9\n"
    assert run(tmp_path, monkeypatch, dag, {"script.sh": SCRIPT_SH}) == 0
    assert scripts_run(tmp_path) == ["pre A 9"]  # neither job nor POST script
    assert runs(tmp_path, "A") == []
    assert len(runs(tmp_path, "CHILD_A")) == 1   # the node counted as a success


# ----------------------------------------------------------------------- VARS

# The example of the DAGMan manual (dagman-vars.rst, "Special characters within
# VARS string definitions"), with the values the manual says the job receives.
VARS_DAG = r"""
JOB NodeA argv.htc
VARS NodeA first="Alberto Contador"
VARS NodeA second="\"\"Andy Schleck\"\""
VARS NodeA third="Lance\\ Armstrong"
VARS NodeA fourth="Vincenzo ''The Shark'' Nibali"
VARS NodeA misc="!@#$%^&*()_-=+=[]{}?/"
"""
VARS_ARGUMENTS = """"rec.py $(JOB) 0 0 '$(first)' '$(second)' '$(third)' '$(fourth)' '$(misc)'\""""
VARS_EXPECTED = ["Alberto Contador", '"Andy Schleck"', "Lance\\ Armstrong",
                 "Vincenzo 'The Shark' Nibali", "!@#$%^&*()_-=+=[]{}?/"]


def test_vars_reach_the_job_as_condor_submit_expands_them(tmp_path, monkeypatch):
    htc = REC_HTC.replace('"rec.py $(JOB) $(secs:0) $(code:0) $(extra:)"', VARS_ARGUMENTS)
    htc = htc.replace("logs/$(JOB).out", "out/$(JOB).stdout").replace("logs/$(JOB).err", "out/$(JOB).stderr")
    assert run(tmp_path, monkeypatch, VARS_DAG, {"argv.htc": htc}) == 0
    [job] = runs(tmp_path, "NodeA")
    assert job["argv"] == VARS_EXPECTED
    # htcondor2 (condor_submit's own parser), given the VARS values, expands the same line
    sub = htcondor2.Submit(htc)
    for key, value in {"JOB": "NodeA", "first": VARS_EXPECTED[0], "second": '""Andy Schleck""',
                       "third": VARS_EXPECTED[2], "fourth": "Vincenzo ''The Shark'' Nibali",
                       "misc": VARS_EXPECTED[4]}.items():
        sub[key] = value
    expanded = sub.expand("arguments")
    assert expanded == ('"rec.py NodeA 0 0 \'Alberto Contador\' \'""Andy Schleck""\' '
                        '\'Lance\\ Armstrong\' \'Vincenzo \'\'The Shark\'\' Nibali\' '
                        '\'!@#$%^&*()_-=+=[]{}?/\'"')
    assert submitsyntax.split_arguments(expanded)[4:] == VARS_EXPECTED
    # output and error follow $(JOB)
    assert (tmp_path / "out" / "NodeA.stdout").exists() and (tmp_path / "out" / "NodeA.stderr").exists()


def test_vars_prepend_and_append(tmp_path, monkeypatch):
    """The manual's PREPEND/APPEND example (dagman-vars.rst); no keyword means PREPEND."""
    htc = """\
        executable = /bin/sh
        if defined var1
            arguments = "-c 'echo $(var1) was prepended'"
        else
            arguments = "-c 'echo No variables prepended'"
        endif
        var2 = C
        output = results-$(JOB)-$(var2).out
        queue
        """
    dag = """\
        JOB A cond.htc
        JOB B cond.htc
        JOB C cond.htc
        VARS A PREPEND var1="A"
        VARS A APPEND  var2="B"
        VARS B APPEND  var1="A"
        VARS B PREPEND var2="B"
        VARS C var1="A" var2="B"
        """
    assert run(tmp_path, monkeypatch, dag, {"cond.htc": htc}) == 0
    assert (tmp_path / "results-A-B.out").read_text() == "A was prepended\n"
    assert (tmp_path / "results-B-C.out").read_text() == "No variables prepended\n"
    assert (tmp_path / "results-C-C.out").read_text() == "A was prepended\n"


def test_job_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNNER_ONLY", "secret")
    monkeypatch.setenv("CASA_LOGDIR", "/tmp/casalogs")
    htc = REC_HTC.replace("queue", "environment = \"FOO=bar BAZ='a b' QUOTE=''''\"\n"
                                   "getenv = $(want_env:false)\nqueue")
    dag = """\
        JOB A env.htc
        JOB B env.htc
        VARS B want_env="true"
        """
    assert run(tmp_path, monkeypatch, dag, {"env.htc": htc}) == 0
    [a], [b] = runs(tmp_path, "A"), runs(tmp_path, "B")
    assert (a["env"]["FOO"], a["env"]["BAZ"], a["env"]["QUOTE"]) == ("bar", "a b", "'")
    assert a["env"]["PATH"] == os.environ["PATH"] and a["env"]["CASA_LOGDIR"] == "/tmp/casalogs"
    assert "RUNNER_ONLY" not in a["env"]         # HTCondor does not pass the submitter's env
    assert b["env"]["RUNNER_ONLY"] == "secret"   # ... unless getenv is true


# ----------------------------------------------------------------------- SUBDAG

def test_subdag_written_by_a_parent_node(tmp_path, monkeypatch):
    sub_dag = "JOB S1 rec.htc\nJOB S2 rec.htc\nPARENT S1 CHILD S2\n"
    dag = """\
        JOB W write.htc
        SUBDAG EXTERNAL S products/sub.dag
        JOB Z rec.htc
        PARENT W CHILD S
        PARENT S CHILD Z
        """
    files = {"write.htc": "executable = write.sh\nqueue\n",
             "write.sh": f"#!/bin/sh\nmkdir -p products\nprintf '{sub_dag}' > products/sub.dag\n"}
    assert run(tmp_path, monkeypatch, dag, files) == 0
    [s1], [s2], [z] = (runs(tmp_path, n) for n in ("S1", "S2", "Z"))
    assert s1["end"] <= s2["start"] and s2["end"] <= z["start"]


@pytest.mark.parametrize("cores", [2, 3])
def test_subdag_jobs_share_the_cores(tmp_path, monkeypatch, cores):
    """The sub-DAG node holds no core; its jobs and the parent DAG's share the budget."""
    dag = 'JOB P rec.htc\nVARS P secs="0.5"\nSUBDAG EXTERNAL S sub.dag\n'
    files = {"sub.dag": 'JOB S1 rec.htc\nJOB S2 rec.htc\nVARS ALL_NODES secs="0.5"\n'}
    assert run(tmp_path, monkeypatch, dag, files, cores=cores) == 0
    jobs = [runs(tmp_path, n)[0] for n in ("P", "S1", "S2")]
    most = max(sum(j["start"] <= k["start"] < j["end"] for j in jobs) for k in jobs)
    assert most == cores


def test_deferred_pre_script_runs_again(tmp_path, monkeypatch):
    dag = "JOB A rec.htc\nSCRIPT DEFER 3 1 PRE A defer.sh\n"
    files = {"defer.sh": "#!/bin/sh\ndate +%s.%N >> pre_times.txt\n[ -e m ] && exit 0\ntouch m\nexit 3\n"}
    assert run(tmp_path, monkeypatch, dag, files) == 0
    first, second = map(float, (tmp_path / "pre_times.txt").read_text().split())
    assert second - first >= 1                   # DEFER 3 1: exit 3 means "again in 1 s"
    assert len(runs(tmp_path, "A")) == 1


def test_failing_subdag_fails_its_node(tmp_path, monkeypatch, capsys):
    dag = "SUBDAG EXTERNAL S sub.dag\nJOB Z rec.htc\nPARENT S CHILD Z\n"
    files = {"sub.dag": "JOB S1 rec.htc\nVARS S1 code=\"2\"\n"}
    assert run(tmp_path, monkeypatch, dag, files) == 1
    assert runs(tmp_path, "Z") == []
    assert (tmp_path / "sub.dag.rescue001").exists() and (tmp_path / "x.dag.rescue001").exists()
    assert "node 'S' failed with exit code 1 after 1 attempt (sub-DAG: sub.dag)" in capsys.readouterr().err


# ----------------------------------------------------------------------- ABORT-DAG-ON, FINAL

def test_abort_dag_on_returns_and_kills(tmp_path, monkeypatch):
    dag = """\
        JOB A rec.htc
        JOB LONG long.htc
        JOB CHILD_A rec.htc
        VARS A secs="0.5" code="5"
        RETRY A 3
        ABORT-DAG-ON A 5 RETURN 7
        PARENT A CHILD CHILD_A
        """
    files = {"long.htc": "executable = long.sh\nlog = logs/long.log\nqueue\n",
             "long.sh": "#!/bin/sh\necho $$ > long.pid\nsleep 30\ntouch long.done\n"}
    start = time.time()
    assert run(tmp_path, monkeypatch, dag, files) == 7
    assert time.time() - start < 10              # LONG was killed, not waited for
    with pytest.raises(ProcessLookupError):
        os.kill(int((tmp_path / "long.pid").read_text()), 0)
    events = list(htcondor2.JobEventLog(str(tmp_path / "logs" / "long.log")).events(0))
    assert events[-1].type == htcondor2.JobEventType.JOB_ABORTED
    assert len(runs(tmp_path, "A")) == 1         # the abort overrides RETRY
    assert runs(tmp_path, "CHILD_A") == [] and not (tmp_path / "long.done").exists()
    assert "\nDONE " not in (tmp_path / "x.dag.rescue001").read_text()


@pytest.mark.parametrize("abort, final_code, dag_exit", [
    (False, 0, 0),    # FINAL success makes the failed DAG succeed
    (False, 1, 1),
    (True, 0, 0),     # ... even after ABORT-DAG-ON
    (True, 1, 1),
])
def test_final_runs_after_failure(tmp_path, monkeypatch, abort, final_code, dag_exit):
    dag = f"""\
        JOB A rec.htc
        JOB B rec.htc
        FINAL F rec.htc
        VARS A code="4"
        VARS F code="{final_code}" extra="$(DAG_STATUS) $(FAILED_COUNT)"
        PARENT A CHILD B
        SCRIPT PRE F script.sh $DAG_STATUS $FAILED_COUNT
        """ + ("ABORT-DAG-ON A 4 RETURN 9\n" if abort else "")
    files = {"script.sh": "#!/bin/sh\necho \"$@\" > final_pre.txt\n"}
    assert run(tmp_path, monkeypatch, dag, files) == dag_exit
    [f] = runs(tmp_path, "F")
    status = "3" if abort else "2"               # $DAG_STATUS: 2 node failed, 3 aborted
    assert f["argv"] == [status, "1"]
    assert (tmp_path / "final_pre.txt").read_text() == f"{status} 1\n"
    assert runs(tmp_path, "B") == []
    assert (tmp_path / "x.dag.rescue001").exists()   # written before the FINAL node runs


def test_cli_exit_status(tmp_path):
    write(tmp_path, {"x.dag": "JOB A a.htc\nABORT-DAG-ON A 3 RETURN 6\n",
                     "a.htc": "executable = /bin/sh\narguments = \"-c 'exit 3'\"\nqueue\n"})
    proc = subprocess.run([sys.executable, "-m", "dagengine", "x.dag", "--cores", "1"], cwd=tmp_path,
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SCRIPTS)})
    assert proc.returncode == 6
    assert "A: job exited (exit code 3)" in proc.stdout


# ----------------------------------------------------------------------- rescue

def test_rescue_file_skips_done_nodes(tmp_path, monkeypatch):
    dag = """\
        JOB A count.htc
        JOB B flaky.htc
        PARENT A CHILD B
        """
    files = {"count.htc": "executable = count.sh\nqueue\n",
             "count.sh": "#!/bin/sh\necho run >> A_runs.txt\n",
             "flaky.htc": "executable = flaky.sh\nqueue\n",
             "flaky.sh": "#!/bin/sh\necho run >> B_runs.txt\n[ -e marker ] && exit 0\ntouch marker\nexit 1\n"}
    assert run(tmp_path, monkeypatch, dag, files) == 1
    rescue = (tmp_path / "x.dag.rescue001").read_text().splitlines()
    assert rescue[0] == "# Rescue DAG file, created after running"
    assert [line for line in rescue if line and not line.startswith("#")] == ["DONE A"]
    assert run_dag("x.dag", cores=2) == 0        # again: the rescue file is applied
    assert (tmp_path / "A_runs.txt").read_text() == "run\n"
    assert (tmp_path / "B_runs.txt").read_text() == "run\nrun\n"
    assert not (tmp_path / "x.dag.rescue002").exists()


# ----------------------------------------------------------------------- parse errors

@pytest.mark.parametrize("line, message", [
    ("JOB B", "missing submit file"),
    ("FROB B rec.htc", "'FROB' is not a valid DAG command"),
    ("PARENT A CHILD", "nodes on both sides"),
    ("RETRY A many", "invalid retry count 'many'"),
    ('VARS A x="unterminated', "no ending quote"),
    ("RETRY NOPE 1", "unknown node 'NOPE'"),
])
def test_malformed_line_is_named(tmp_path, monkeypatch, line, message):
    dag = f"# a comment\nJOB A rec.htc\n{line}\n"
    with pytest.raises(dagfile.DagError, match=f"x.dag, line 3: .*{message}"):
        run(tmp_path, monkeypatch, dag)
    assert runs(tmp_path, "A") == []


# ----------------------------------------------------------------------- user log and lock

def test_user_log_is_read_by_htcondor(tmp_path, monkeypatch):
    """The job log is in HTCondor's format: its own reader gets node, exit code and usage."""
    burn = "import sys, time\nt = time.process_time()\nb = bytearray(60 << 20)\n" \
           "while time.process_time() - t < 0.3: pass\nsys.exit(int(sys.argv[1]))\n"
    files = {"burn.py": burn,
             "burn.htc": f"executable = {sys.executable}\narguments = \"burn.py $(code)\"\n"
                         "request_memory = 1 GB\nlog = logs/dag.log\nqueue\n"}
    dag = """\
        JOB A burn.htc
        VARS A code="3"
        RETRY A 1
        """
    assert run(tmp_path, monkeypatch, dag, files) == 1
    events = list(htcondor2.JobEventLog(str(tmp_path / "logs" / "dag.log")).events(0))
    kinds = [e.type for e in events]
    T = htcondor2.JobEventType
    assert kinds == [T.SUBMIT, T.EXECUTE, T.JOB_TERMINATED] * 2
    assert {e["LogNotes"] for e in events if e.type == T.SUBMIT} == {"DAG Node: A"}
    ends = [e for e in events if e.type == T.JOB_TERMINATED]
    assert [e["ReturnValue"] for e in ends] == [3, 3]
    assert all(e["MemoryUsage"] >= 60 for e in ends)            # the 60 MB it touched
    assert all(e["RequestMemory"] == 1024 for e in ends)
    usr = [int(e["RunRemoteUsage"].split(",")[0].split(":")[-1]) for e in ends]
    assert all(0 <= u <= 2 for u in usr)                          # ~0.3 s of CPU, rounded


def test_lock_file_refuses_a_second_run(tmp_path, monkeypatch):
    (tmp_path / "x.dag.lock").write_text(f"dagrunner pid {os.getpid()}\n")   # alive: us
    with pytest.raises(dagfile.DagError, match="being run already"):
        run(tmp_path, monkeypatch, "JOB A rec.htc\n")
    assert runs(tmp_path, "A") == []
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "x.dag.lock").write_text(f"dagrunner pid {dead.pid}\n")     # left by a dead run
    assert run(tmp_path, monkeypatch, "JOB A rec.htc\n") == 0
    assert len(runs(tmp_path, "A")) == 1 and not (tmp_path / "x.dag.lock").exists()


TRANSFER_HTC = """\
executable = job.sh
should_transfer_files = YES
when_to_transfer_output = ON_EXIT
transfer_input_files = inbox/, data.txt
transfer_output_files = $(outputs)
transfer_output_remaps = "result.txt = back/$(JOB).txt"
output = logs/$(JOB).out
log = logs/dag.log
queue
"""
# The job: where it runs and what it was sent, into result.txt.
TRANSFER_JOB = """\
#!/bin/sh
{ pwd; echo "$_CONDOR_SCRATCH_DIR"; ls | sort; cat data.txt; } > result.txt
"""


def test_file_transfer_runs_the_job_in_a_scratch_directory(tmp_path, monkeypatch):
    """As HTCondor with should_transfer_files = YES: the job runs elsewhere, with the
    executable, the folder's contents (inbox/) and the file; its output comes back
    remapped; the scratch directory is gone afterwards; a missing output fails it."""
    dag = 'JOB a t.htc\nVARS a outputs="result.txt"\nJOB b t.htc\nVARS b outputs="result.txt, none.txt"\n'
    files = {"t.htc": TRANSFER_HTC, "job.sh": TRANSFER_JOB, "inbox/one.tar": "1",
             "inbox/two.tar": "2", "data.txt": "payload"}
    assert run(tmp_path, monkeypatch, dag, files) == 1         # b: none.txt never written
    where, scratch, *listing, data = (tmp_path / "back" / "a.txt").read_text().splitlines()
    assert where == scratch and not where.startswith(str(tmp_path)) and not os.path.exists(where)
    assert sorted(listing) == ["data.txt", "job.sh", "one.tar", "result.txt", "two.tar"]
    assert data == "payload"
    assert not (tmp_path / "result.txt").exists()
    assert "DONE a" in (tmp_path / "x.dag.rescue001").read_text()
    assert "DONE b" not in (tmp_path / "x.dag.rescue001").read_text()
