"""How a DAG node runs: the exit codes DAGMan acts on, a stage script's main with
its input errors turned into a message and exit status, the job's parameters, and the
text of the sub-DAGs the stages write.  Product names: imaging/products.py."""
import os
import sys

from imaging import identity, parameters, partitioning, products

GRIDDING_RETRIES = 2
SKIP_EXIT = 99
INPUT_ERRORS = (parameters.ParameterError, partitioning.PartitionError)


def run_stage(stage, main, *args):
    """Run a stage script's main; a parameter or input error (INPUT_ERRORS) ends it with
    its message and INPUT_EXIT, so DAGMan does not retry it (RETRY ... UNLESS-EXIT)."""
    try:
        return main(*args)
    except INPUT_ERRORS as e:
        print(f"{stage}: {e}", file=sys.stderr)
        sys.exit(parameters.INPUT_EXIT)


def retry(node, times):
    """A node's RETRY line: retried on failure, unless it stopped on its input."""
    return f"RETRY {node} {times} UNLESS-EXIT {parameters.INPUT_EXIT}"


def gridding_subdag(plan, cycle=0, density=False, transfer=False):
    """Text of allImagers.dag: one gridding node per sub-MS, each with a RETRY; with
    density (uniform, Briggs), first the weight density of each sub-MS and their sum;
    with transfer (no shared filesystem), each job's files staged in and out."""
    lines = ["# Written by scripts/MSpartition.py: one gridding job per sub-MS.",
             f"# {len(plan['parts'])} sub-MSes of {plan['vis']}", ""]
    for p in plan["parts"]:
        node = f"allImagers_c{cycle}_{p['part']}"
        lines += [f"JOB {node} htc/allImagers.htc",
                  f'VARS {node} part="{p["part"]}" subms="{p["subms"]}" cycle="{cycle}"',
                  retry(node, GRIDDING_RETRIES),
                  *staging(transfer, node, "allImagers.py", p["part"], p["subms"], cycle), ""]
    return "\n".join(lines) + (density_nodes(plan, cycle, transfer) if density else "")


def density_nodes(plan, cycle, transfer=False):
    """weights_<part> per sub-MS, then weightsSum, before the gridding of the cycle."""
    weights = [f"weights_{p['part']}" for p in plan["parts"]]
    gridding = [f"allImagers_c{cycle}_{p['part']}" for p in plan["parts"]]
    lines = ["", "# The whole MS's weight density, as tclean(parallel=True) gathers it", ""]
    for node, p in zip(weights, plan["parts"]):
        lines += [f"JOB {node} htc/weightDensity.htc",
                  f'VARS {node} mode="part" part="{p["part"]}" subms="{p["subms"]}"',
                  retry(node, GRIDDING_RETRIES),
                  *staging(transfer, node, "weightDensity.py", "part", p["part"], p["subms"]), ""]
    lines += ["JOB weightsSum htc/weightDensity.htc", 'VARS weightsSum mode="sum"',
              retry("weightsSum", 1), *staging(transfer, "weightsSum", "weightDensity.py", "sum"), "",
              f"PARENT {' '.join(weights)} CHILD weightsSum",
              f"PARENT weightsSum CHILD {' '.join(gridding)}", ""]
    return "\n".join(lines)


def cycle_subdag(plan, cycle, transfer=False):
    """Text of products/cycle<c>.dag: grid every sub-MS, add, then deconvolve."""
    gridding = [f"allImagers_c{cycle}_{p['part']}" for p in plan["parts"]]
    add, deconvolve = f"addImages_c{cycle}", f"deconvolve_c{cycle}"
    lines = [gridding_subdag(plan, cycle, transfer=transfer),
             f"JOB {add} htc/addImages.htc",
             f'VARS {add} cycle="{cycle}"',
             retry(add, 1), *staging(transfer, add, "addImages.py", cycle), "",
             f"JOB {deconvolve} htc/deconvolve.htc",
             f'VARS {deconvolve} cycle="{cycle}"',
             retry(deconvolve, 1), *staging(transfer, deconvolve, "deconvolve.py", cycle), "",
             f"PARENT {' '.join(gridding)} CHILD {add}",
             f"PARENT {add} CHILD {deconvolve}", ""]
    return "\n".join(lines)


def staging(transfer, node, script, *args):
    """A remote job's PRE and POST scripts without a shared filesystem (transfer.py)."""
    if not transfer:
        return []
    words = " ".join(str(a) for a in args)
    return [f"SCRIPT DEBUG logs/{node}.pre.log ALL PRE {node} scripts/runjob stageIn.py {node} "
            f"{script} {words}".rstrip(),
            f"SCRIPT DEBUG logs/{node}.post.log ALL POST {node} scripts/runjob stageOut.py {node} "
            "$RETURN"]


def cycle_batch(first, params):
    """The major cycles of the batch starting at `first`: majorcyclebatch of them,
    none past nmajor (when set)."""
    last = first + params["majorcyclebatch"] - 1
    if params["nmajor"] >= 0:
        last = min(last, params["nmajor"])
    return list(range(first, last + 1))


def batch_path(first):
    """products/majorCycles.dag (the batch from cycle 1), products/majorCycles<first>.dag."""
    if first == 1:
        return products.MAJORCYCLES
    return os.path.join(products.PRODUCTS, f"majorCycles{first}.dag")


def batch_node(first):
    return "majorCycles" if first == 1 else f"majorCycles{first}"


def batch_dag(cycles, more):
    """Text of a batch of major cycles (nextCycles.py writes it when the batch is due):
    the cycles in a chain, each skipped once the run stopped, then, if `more`, the node
    of the next batch, whose PRE script writes its DAG in turn."""
    lines = ["# Written by scripts/nextCycles.py: a batch of major cycles.",
             "# A cycle's PRE script exits 99 (PRE_SKIP: the cycle counts as done) once",
             "# the deconvolve job of a cycle before it found tclean's stopping rules met.", ""]
    chain = [f"cycle{c}" for c in cycles]
    for c in cycles:
        lines += [f"SUBDAG EXTERNAL cycle{c} {products.PRODUCTS}/cycle{c}.dag",
                  f"SCRIPT DEBUG logs/cycle{c}.pre.log ALL PRE cycle{c} scripts/runjob skipCycle.py {c}",
                  f"PRE_SKIP cycle{c} {SKIP_EXIT}", ""]
    if more:
        first = cycles[-1] + 1
        chain.append(batch_node(first))
        lines += [f"# The next batch: its PRE script writes {batch_path(first)}, or skips it.",
                  f"SUBDAG EXTERNAL {chain[-1]} {batch_path(first)}",
                  f"SCRIPT DEBUG logs/{chain[-1]}.pre.log ALL PRE {chain[-1]} scripts/runjob "
                  f"nextCycles.py {first}", f"PRE_SKIP {chain[-1]} {SKIP_EXIT}", ""]
    lines += [f"PARENT {a} CHILD {b}" for a, b in zip(chain, chain[1:])]
    return "\n".join(lines) + "\n"


def cf_fill_dag(njobs):
    """Text of products/cfFill.dag: one job per share of the CFs (none: a NOOP node)."""
    lines = ["# Written by scripts/makeCFs.py dry: the CF fill jobs, each into a folder of its own.", ""]
    for k in range(1, njobs + 1):
        lines += [f"JOB CFfill_{k} htc/makeCFs.htc", f'VARS CFfill_{k} mode="fill" part="{k}"',
                  retry(f"CFfill_{k}", 1), ""]
    if njobs == 0:  # DAGMan wants at least one node
        lines.append("# The CF cache is up to date, or the gridder needs none.\n"
                     "JOB CFfill_none htc/makeCFs.htc NOOP")
    return "\n".join(lines) + "\n"


def load_params():
    """The run's parameters as prepareRun validated and recorded them, with the
    identity of each stage (identity.py).  Reading the record spares each job the
    validation's import of every casatasks task (1.5 s of a job's start-up).  If
    params/imaging.py was edited since in a way that changes a product, the job stops:
    prepareRun (`make run`, `make submit`) must first check what finished still fits.
    Without a record (a stage script run by hand) the parameters are validated now."""
    record = products.read_json(products.PARAMS_RECORD)
    if record is None:
        params = parameters.load()
        params["identity"] = identity.of_run(params, identity.ms_content(params["vis"]))
        return params
    if products.newer(parameters.DEFAULT_FILE, products.PARAMS_RECORD):
        edited = identity.edited(parameters.load(), record)
        if edited:
            raise identity.StaleProduct(
                f"{parameters.DEFAULT_FILE} was edited since this run was checked ({edited} "
                "changed): run `make run` or `make submit` again, which checks that what "
                "finished still fits the new values")
    return record           # (a remote job's scratch has the record only)
