"""The job kinds of the imaging DAG, in one table: everything the DAG files, the
file staging, the resource requests and the tools know of a kind.

Each kind runs the stage script scripts/<name>.py through its submit file
htc/<name>.htc, whose `arguments` line is the kind's `arguments` below (checked by
tests/test_jobkinds.py); a node's VARS fill its $(variables).  From this table:
the JOB, VARS and RETRY lines of the sub-DAGs (dagutils.py), what a remote job is
sent and where a kind runs without a shared filesystem (transfer.py), the kinds
whose requests resources.py computes and `jobresources` accepts
(parameters.job_kinds), and the kind of a DAG node (kind_of: make bench, make
status).  Adding a job kind: a row here, its htc/<name>.htc, and its stage script.
"""
import re
from collections.abc import Callable
from dataclasses import dataclass

from imaging import jobfiles
from imaging.modes import DensityStep

VARIABLE = re.compile(r"\$\((\w+)(?::([^)]*))?\)")    # $(name) or $(name:default)


@dataclass(frozen=True)
class JobKind:
    name: str              # the stage script without .py, its htc/<name>.htc, a key of jobresources
    arguments: str         # as in the .htc file: the script, then the node's $(VARS)
    retries: int | dict    # RETRY count, or one per value of the node's `mode`
    local: bool            # on the access point (the local universe) without a shared filesystem
    prefixes: tuple        # a DAG node whose name starts with one of these runs this kind
    reads: Callable | None  # (params, *arguments) -> products staged in (None: local)
    writes: Callable       # (params, *arguments) -> products it publishes

    @property
    def script(self):
        return self.arguments.split()[0]

    @property
    def submit_file(self):
        return f"htc/{self.name}.htc"

    @property
    def variables(self):
        """The node VARS the arguments take, in their order."""
        return [name for name, _ in VARIABLE.findall(self.arguments)]

    def node_retries(self, values):
        return self.retries if isinstance(self.retries, int) else self.retries[values["mode"]]

    def command(self, values):
        """The job's command line (script and arguments) for a node's VARS, as
        HTCondor expands it; an unset variable is its default, else empty."""
        line = VARIABLE.sub(lambda m: str(values.get(m.group(1), m.group(2) or "")), self.arguments)
        return line.split()

    def named(self, args):
        """A job's arguments (the command without its script) by variable name."""
        return dict(zip(self.variables, args))


KINDS = {kind.name: kind for kind in (
    JobKind("makeCFs", "makeCFs.py $(mode) $(part:)", 1, True, ("CF",),
            None, jobfiles.cf_outputs),
    JobKind("MSpartition", "MSpartition.py", 1, True, ("MSpartition",),
            None, jobfiles.partition_outputs),
    JobKind("weightDensity", "weightDensity.py $(mode) $(part) $(subms)", {DensityStep.PART: 2, DensityStep.SUM: 1},
            False, ("weights",), jobfiles.density_inputs, jobfiles.density_outputs),
    JobKind("allImagers", "allImagers.py $(part) $(subms) $(cycle)", 2, False, ("allImagers",),
            jobfiles.gridding_inputs, jobfiles.gridding_outputs),
    JobKind("addParts", "addParts.py $(cycle) $(group)", 1, False, ("addParts",),
            jobfiles.group_inputs, jobfiles.group_outputs),
    JobKind("addImages", "addImages.py $(cycle)", 1, False, ("addImages",),
            jobfiles.adding_inputs, jobfiles.adding_outputs),
    JobKind("deconvolve", "deconvolve.py $(cycle)", 1, False, ("deconvolve",),
            jobfiles.minor_cycle_inputs, jobfiles.minor_cycle_outputs),
    JobKind("restore", "restore.py", 1, False, ("restore",),
            jobfiles.restore_inputs, jobfiles.restore_outputs),
    JobKind("predictModel", "predictModel.py $(part) $(subms)", 2, False, ("predictModel",),
            jobfiles.prediction_inputs, jobfiles.prediction_outputs),
    JobKind("saveModel", "saveModel.py", 1, True, ("saveModel",),
            None, jobfiles.model_column_outputs),
)}
NAMES = tuple(KINDS)


def of_script(script):
    """The kind running a stage script ('allImagers.py')."""
    return {kind.script: kind for kind in KINDS.values()}[script]


def kind_of(node):
    """The name of the job kind a DAG node runs, from the node's name (None: prepareRun,
    the major cycles' sub-DAGs; a sub-DAG named as its jobs, CFs, gives their kind)."""
    for kind in KINDS.values():
        if node.startswith(kind.prefixes):
            return kind.name
    return None
