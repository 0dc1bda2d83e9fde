"""Where a run stands, read from what it leaves in the run directory.

The same for `make run` (dagrunner) and `make submit` (condor_dagman): both
hold dag/condor_imaging.dag.lock while the DAG runs, write rescue files when
it fails, and log every job to logs/imaging.log in HTCondor's user-log
format, read here with HTCondor's own reader.  Stage and major cycle come
from the products, which only exist once complete.  Nothing is written.
"""
import enum
import glob
import os
import re
import time

from dagengine.lock import holder_alive
from imaging import casalogs, jobkinds, products

TOP_DAG = os.path.join("dag", "condor_imaging.dag")
JOB_LOG = os.path.join("logs", "imaging.log")
LOGS = "logs"


class RunState(enum.StrEnum):
    """Where a run stands (run_state), as `make status` prints it."""
    FINISHED = "finished"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"
    NOT_STARTED = "not started"


class JobState(enum.StrEnum):
    """A node's last job (jobs), in the order `make status` counts them."""
    DONE = "done"
    RUNNING = "running"
    IDLE = "idle"
    HELD = "held"
    FAILED = "failed"
    REMOVED = "removed"


def run_state():
    """(RunState, detail)."""
    if os.path.isfile(summary_path()) and not model_column_due():
        return RunState.FINISHED, f"images in {os.path.dirname(summary_path())}"
    lock = f"{TOP_DAG}.lock"
    if os.path.exists(lock) and holder_alive(lock):   # (not one left by a killed run)
        holder = open(lock).read().strip()
        return RunState.RUNNING, holder if holder.startswith("dagrunner") else "condor_dagman"
    rescue = newest_rescue(TOP_DAG)
    if rescue and (not os.path.exists(JOB_LOG) or os.path.getmtime(rescue) >= os.path.getmtime(JOB_LOG)):
        return RunState.FAILED, f"submit again to continue from {rescue}"
    if os.path.exists(JOB_LOG):
        return RunState.STOPPED, "no DAG is running; submit again to continue"
    return RunState.NOT_STARTED, ""


def summary_path():
    return os.path.join(products.stage_dir("final"), "summary.json")


def model_column_due():
    """savemodel = 'modelcolumn' asked for and MODEL_DATA of the MS not written yet."""
    record = products.read_json(products.PARAMS_RECORD) or {}
    return (record.get("savemodel") == "modelcolumn"
            and not os.path.isdir(products.stage_dir("savemodel")))


def stage(nodes):
    """(what the run does or did last, major cycle or None), from finished products and
    the jobs read from the job log (`jobs()`)."""
    if os.path.isfile(summary_path()) and model_column_due():
        parts = [p["part"] for p in products.read_plan()["parts"]]
        done = sum(os.path.isdir(products.part_dir("model", p)) for p in parts)
        return (f"restored after major cycle {products.last_cycle()}; the model column "
                f"(savemodel): {done} of {len(parts)} sub-MSes predicted, then saveModel "
                "writes MODEL_DATA of the MS"), None
    if os.path.isfile(summary_path()):
        return f"restored after major cycle {products.last_cycle()}", None
    cf = cf_stage(nodes)
    if cf:
        return cf, None
    if not os.path.isfile(products.PLAN):
        return "checking parameters, making the CF cache (CFs), partitioning the MS (MSpartition)", None
    parts = [p["part"] for p in products.read_plan()["parts"]]
    cycle = 0
    while (record := products.read_record(cycle)) is not None:
        if record["stopcode"] != 0:
            return f"restoring (stopped: {record['stopreason']})", cycle
        cycle += 1
    params = products.read_json(products.PARAMS_RECORD) or {}
    done = sum(gridded(part, cycle, params) for part in parts)
    if cycle == 0 and done == 0 and os.path.isfile(products.SUBDAG) \
            and "weightsSum" in open(products.SUBDAG).read() and not os.path.isdir(products.WEIGHTS):
        return "weight density of the whole MS (weightDensity)", cycle
    if done < len(parts):
        return f"gridding (allImagers): {done} of {len(parts)} sub-MSes done", cycle
    groups = products.gather_groups(parts)
    summed = sum(os.path.isdir(products.part_dir("cycle", g, cycle)) for g in groups)
    if summed < len(groups) and not os.path.isdir(products.stage_dir("cycle", cycle)):
        return f"adding groups of sub-MSes (addParts): {summed} of {len(groups)} done", cycle
    if not os.path.isdir(products.stage_dir("cycle", cycle)):
        return "adding and normalizing (addImages)", cycle
    return "minor cycle (deconvolve)", cycle


def cf_stage(nodes):
    """What the CF cache's jobs of this run do (None: none ran, or they are done): the dry
    run, the fill jobs (k of n done: products/cfFill.dag names them), the merge.  The MS
    is partitioned meanwhile (MSpartition)."""
    cf = {n: j for n, j in nodes.items() if n in ("CFdry", "CFmerge") or n.startswith("CFfill_")}
    if not cf or cf.get("CFmerge", {}).get("state") == JobState.DONE:
        return None
    if "CFmerge" in cf:
        return "making the CF cache: merging the fill jobs' CFs (CFmerge)"
    if not os.path.isfile(products.CFFILL):
        return "making the CF cache: its dry run (CFdry), while MSpartition splits the MS"
    with open(products.CFFILL) as f:
        total = sum(line.startswith("JOB CFfill_") for line in f)
    done = sum(j["state"] == JobState.DONE for n, j in cf.items() if n.startswith("CFfill_"))
    return f"making the CF cache (CFfill): {done} of {total} fill jobs done"


def gridded(part, cycle, params):
    """Whether a sub-MS's gridding job of a cycle published all it writes (jobkinds.py;
    params: the run's, products/params.json)."""
    return all(os.path.isdir(d) for d in jobkinds.KINDS["allImagers"].writes(params, part, "", cycle))


def cycle_limit(params):
    """What bounds the major cycles: nmajor when set, else only tclean's rules."""
    if params is None or params.get("nmajor", -1) < 0:
        return "until tclean's rules stop it"
    return f"at most {params['nmajor']} after the first"


def cycles():
    """[{cycle, peakresidual, iterdone, stopreason}] of the minor cycles done so far."""
    out, cycle = [], 0
    while (record := products.read_record(cycle)) is not None:
        out.append({k: record[k] for k in ("cycle", "peakresidual", "iterdone", "stopreason")})
        cycle += 1
    return out


# ---------------------------------------------------------------- jobs, from the user log
def jobs(path=JOB_LOG):
    """Node name -> its last attempt: state (JobState), attempts, return value, times,
    memory (MB)."""
    import htcondor2
    T = htcondor2.JobEventType
    nodes, node_of = {}, {}
    if not os.path.exists(path):
        return nodes
    for e in htcondor2.JobEventLog(path).events(0):
        if e.type == T.SUBMIT:
            name = str(e.get("LogNotes", "")).removeprefix("DAG Node: ") or f"job {e.cluster}"
            node_of[e.cluster] = name
            old = nodes.get(name, {"attempts": 0})
            nodes[name] = {"state": JobState.IDLE, "attempts": old["attempts"] + 1,
                           "submitted": e.timestamp, "time": e.timestamp}
            continue
        job = nodes.get(node_of.get(e.cluster))
        if job is None:
            continue
        job["time"] = e.timestamp
        if e.type == T.EXECUTE:
            job.update(state=JobState.RUNNING, started=e.timestamp)
        elif e.type == T.JOB_TERMINATED:
            rc = e.get("ReturnValue", -e.get("TerminatedBySignal", 0) or -1)
            job.update(state=JobState.DONE if rc == 0 else JobState.FAILED, rc=rc,
                       memory=e.get("MemoryUsage"), cpu=e.get("RunRemoteUsage", ""))
        elif e.type == T.JOB_HELD:
            job.update(state=JobState.HELD, reason=e.get("HoldReason", ""))
        elif e.type in (T.JOB_RELEASED, T.JOB_EVICTED):
            job["state"] = JobState.IDLE
        elif e.type == T.JOB_ABORTED:
            job["state"] = JobState.REMOVED
    return nodes


def elapsed(nodes, running):
    """Seconds from the first job submitted to the last event (or now, while running)."""
    if not nodes:
        return None
    first = min(j["submitted"] for j in nodes.values())
    last = time.time() if running else max(j["time"] for j in nodes.values())
    return last - first


# ---------------------------------------------------------------- failures, from rescue files
def newest_rescue(dagfile):
    found = sorted(glob.glob(f"{dagfile}.rescue[0-9][0-9][0-9]"))
    return found[-1] if found else None


def failed_nodes():
    """(node, its log) of every node the newest rescue files name as failed."""
    out = []
    for dagfile in [TOP_DAG, *sorted(glob.glob(os.path.join(products.PRODUCTS, "*.dag")))]:
        rescue = newest_rescue(dagfile)
        if rescue:
            out += [(node, node_log(node)) for node in rescue_failures(rescue)]
    return out


def rescue_failures(rescue):
    """The nodes a rescue DAG lists as failed ('# Nodes that failed: ...')."""
    text = open(rescue).read()
    m = re.search(r"# Nodes that failed: \d+\n#\s+(.*?)<ENDLIST>", text, re.S)
    return [n for n in (m.group(1).replace("\n#", "").split(",") if m else []) if n.strip()]


def node_log(node):
    """Where a failed node's messages are: its job's stderr, else its PRE script's log;
    None for a sub-DAG node (its own failed nodes are listed)."""
    for path in (os.path.join(LOGS, f"{node}.err"), os.path.join(LOGS, f"{node}.pre.log")):
        if os.path.exists(path) and os.path.getsize(path):
            return path
    return None


def severe():
    """{message: [nodes]}: CASA's SEVERE messages not known to be harmless in the jobs'
    stderr (logs/<node>.err, where CASA writes them; casalogs.py)."""
    found = {}
    for path in sorted(glob.glob(os.path.join(LOGS, "*.err"))):
        node = os.path.basename(path)[:-len(".err")]
        with open(path, errors="replace") as f:
            for message in casalogs.unknown(f.read()):
                found.setdefault(message, []).append(node)
    return found
