"""How a DAG node runs: the exit codes DAGMan acts on, a stage script's main with
its input errors turned into a message and exit status, the job's parameters, and the
text of the sub-DAGs the stages write (each job node's lines from the table of job
kinds, imaging/jobkinds.py).  Product names: imaging/products.py."""
import os
import sys

from imaging import casalogs, identity, jobkinds, parameters, partitioning, products
from imaging.modes import PSF_ONLY, CFStep, DensityStep

SKIP_EXIT = 99
INPUT_ERRORS = (parameters.ParameterError, partitioning.PartitionError)


def run_stage(stage, main, *args):
    """Run a stage script's main; a parameter or input error (INPUT_ERRORS) ends it with
    its message and INPUT_EXIT, so DAGMan does not retry it (RETRY ... UNLESS-EXIT).
    Either way the SEVERE messages of its CASA log end its stderr (casalogs.py)."""
    try:
        return main(*args)
    except INPUT_ERRORS as e:
        print(f"{stage}: {e}", file=sys.stderr)
        sys.exit(parameters.INPUT_EXIT)
    finally:
        casalogs.report()


def retry(node, times):
    """A node's RETRY line: retried on failure, unless it stopped on its input."""
    return f"RETRY {node} {times} UNLESS-EXIT {parameters.INPUT_EXIT}"


def job_node(kind, node, transfer=False, **values):
    """A job node's lines, from its kind's row in jobkinds.py: JOB, VARS (the values of
    the kind's variables, in its arguments' order), RETRY and, for a remote job without
    a shared filesystem (transfer), the PRE and POST scripts that stage its files."""
    kind = jobkinds.KINDS[kind]
    given = " ".join(f'{name}="{values[name]}"' for name in kind.variables if name in values)
    lines = [f"JOB {node} {kind.submit_file}", *([f"VARS {node} {given}"] if given else []),
             retry(node, kind.node_retries(values))]
    if transfer and not kind.local:
        lines += staging(node, kind.command(values))
    return lines + [""]


def staging(node, command):
    """A remote job's PRE and POST scripts without a shared filesystem (transfer.py)."""
    return [f"SCRIPT DEBUG logs/{node}.pre.log ALL PRE {node} scripts/runjob stageIn.py {node} "
            + " ".join(command),
            f"SCRIPT DEBUG logs/{node}.post.log ALL POST {node} scripts/runjob stageOut.py {node} "
            "$RETURN"]


def gridding_node(cycle, part):
    """allImagers_c<cycle>_<part>; allImagers_psf_<part>: a start model's PSF gridding."""
    return f"allImagers_psf_{part}" if cycle == PSF_ONLY else f"allImagers_c{cycle}_{part}"


def gridding_subdag(plan, cycle=0, density=False, transfer=False, startmodel=False):
    """Text of allImagers.dag: one gridding node per sub-MS, then, with many sub-MSes,
    the sums of groups of them (gather_nodes); with density (uniform,
    Briggs), first the weight density of each sub-MS and their sum; with a start
    model, first each sub-MS's PSF and their sum with the start model
    (imaging/startmodel.py); with transfer (no shared filesystem), each job's files
    staged in and out."""
    lines = ["# Written by scripts/MSpartition.py: one gridding job per sub-MS.",
             f"# {len(plan['parts'])} sub-MSes of {plan['vis']}", ""]
    if startmodel:
        lines += start_model_nodes(plan, transfer)
    lines += gridding_nodes(plan, cycle, transfer) + gather_nodes(plan, cycle, transfer)
    if startmodel:
        lines += [f"PARENT addImages_psf CHILD {' '.join(node_names(plan, cycle))}", ""]
    first = PSF_ONLY if startmodel else cycle
    return "\n".join(lines) + (density_nodes(plan, first, transfer) if density else "")


def gridding_nodes(plan, cycle, transfer):
    lines = []
    for p in plan["parts"]:
        lines += job_node("allImagers", gridding_node(cycle, p["part"]), transfer,
                          part=p["part"], subms=p["subms"], cycle=cycle)
    return lines


def gather_nodes(plan, cycle, transfer):
    """addParts_c<cycle>_<group> per group of sub-MSes (products.gather_groups: none for
    up to GATHER_FANIN sub-MSes), each the child of its sub-MSes' gridding nodes."""
    groups = products.gather_groups(part_ids(plan))
    lines = [f"# The residuals of {len(groups)} groups of sub-MSes added (addParts.py), so that",
             "# addImages gathers the groups' sums, not every sub-MS", ""] if groups else []
    for group, members in groups.items():
        node = f"addParts_c{cycle}_{group}"
        lines += job_node("addParts", node, transfer, cycle=cycle, group=group)
        lines += [f"PARENT {' '.join(gridding_node(cycle, p) for p in members)} CHILD {node}", ""]
    return lines


def gathered_nodes(plan, cycle):
    """The nodes a cycle's addImages waits for: the groups' sums, or every gridding."""
    groups = products.gather_groups(part_ids(plan))
    return [f"addParts_c{cycle}_{g}" for g in groups] or node_names(plan, cycle)


def part_ids(plan):
    return [p["part"] for p in plan["parts"]]


def node_names(plan, cycle):
    return [gridding_node(cycle, p["part"]) for p in plan["parts"]]


def start_model_nodes(plan, transfer):
    """A start model's PSF gridding per sub-MS, then addImages_psf: products/psf and the
    start model divided by its weight, which the first residual's gridding predicts."""
    return ["# With a start model: the PSFs first, then the start model divided by the weight", "",
            *gridding_nodes(plan, PSF_ONLY, transfer),
            *job_node("addImages", "addImages_psf", transfer, cycle=PSF_ONLY),
            f"PARENT {' '.join(node_names(plan, PSF_ONLY))} CHILD addImages_psf", "",
            "# The first residual of each sub-MS: the data minus the start model", ""]


def density_nodes(plan, cycle, transfer=False):
    """weights_<part> per sub-MS, then weightsSum, before the gridding of the cycle."""
    weights = [f"weights_{p['part']}" for p in plan["parts"]]
    lines = ["", "# The whole MS's weight density, as tclean(parallel=True) gathers it", ""]
    for node, p in zip(weights, plan["parts"]):
        lines += job_node("weightDensity", node, transfer, mode=DensityStep.PART, part=p["part"],
                          subms=p["subms"])
    lines += [*job_node("weightDensity", "weightsSum", transfer, mode=DensityStep.SUM),
              f"PARENT {' '.join(weights)} CHILD weightsSum",
              f"PARENT weightsSum CHILD {' '.join(node_names(plan, cycle))}", ""]
    return "\n".join(lines)


def cycle_subdag(plan, cycle, transfer=False):
    """Text of products/cycle<c>.dag: grid every sub-MS, add (groups of sub-MSes first,
    when there are many: gather_nodes), then deconvolve."""
    gathered = gathered_nodes(plan, cycle)
    add, deconvolve = f"addImages_c{cycle}", f"deconvolve_c{cycle}"
    lines = [gridding_subdag(plan, cycle, transfer=transfer),
             *job_node("addImages", add, transfer, cycle=cycle),
             *job_node("deconvolve", deconvolve, transfer, cycle=cycle),
             f"PARENT {' '.join(gathered)} CHILD {add}",
             f"PARENT {add} CHILD {deconvolve}", ""]
    return "\n".join(lines)


def model_column_dag(plan, transfer=False):
    """Text of products/modelColumn.dag (savemodel = 'modelcolumn'): the final model
    predicted per sub-MS, then written into the MS by one job."""
    lines = ["# Written by scripts/saveModelDag.py: savemodel = 'modelcolumn'.",
             f"# The final model predicted per sub-MS, then written into MODEL_DATA of {plan['vis']}.",
             ""]
    predict = [f"predictModel_{p['part']}" for p in plan["parts"]]
    for node, p in zip(predict, plan["parts"]):
        lines += job_node("predictModel", node, transfer, part=p["part"], subms=p["subms"])
    lines += [*job_node("saveModel", "saveModel", transfer),
              f"PARENT {' '.join(predict)} CHILD saveModel", ""]
    return "\n".join(lines)


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
        lines += job_node("makeCFs", f"CFfill_{k}", mode=CFStep.FILL, part=k)
    if njobs == 0:  # DAGMan wants at least one node
        lines.append("# The CF cache is up to date, or the gridder needs none.\n"
                     f"JOB CFfill_none {jobkinds.KINDS['makeCFs'].submit_file} NOOP")
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
