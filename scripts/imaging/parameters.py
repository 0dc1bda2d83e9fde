"""The run's parameters: read `params/imaging.py` and validate it, in one place.

`params/imaging.py` holds plain Python assignments with tclean's own parameter
names plus the decomposition's own (DECOMPOSITION below).  It is parsed with
`ast`, never executed: every statement must be `name = <literal>`, and a later
assignment of the same name wins, so a test run can append overrides.

`load()` is the one function every piece calls.  It stops with a
`ParameterError` naming the parameter for an unknown name, a wrong type, a
value tclean itself would reject (tclean's own schema and validator, taken from
the installed casatasks), a combination the decomposition does not support, or
a missing measurement set.
"""
import ast
import difflib
import inspect
import os
import re
import sys

from imaging import casa

DEFAULT_FILE = os.path.join("params", "imaging.py")

# The decomposition's own parameters: name -> (default, type, description).
DECOMPOSITION = {
    "maxsubmssize": ("2GB", (str, int), "largest size of one sub-MS, e.g. '500MB', '100GB'"),
    "partitionby": ("time", str, "how the MS is split into sub-MSes: 'time' (ranges of whole "
                    "integrations), 'spw' (groups of whole spectral windows) or 'both' "
                    "(spectral-window groups, each split along time)"),
    "jobresources": ({}, dict, "HTCondor requests per job kind, overriding resources.py's"),
    "majorcyclebatch": (10, int, "major cycles per unrolled batch of the DAG (nextCycles.py)"),
    "cfjobs": (0, int, "jobs filling the CF cache at once; 0: one per core of the machine"),
    "gridjobs": (0, int, "gridding jobs that run at once: the number of sub-MSes is rounded "
                 "up to a multiple of it; 0: one per core of the machine that prepares the run"),
    "sharedfs": (True, bool, "False: jobs get their files by HTCondor file transfer (transfer.py)"),
    "exportfits": (True, bool, "False: no FITS copies of the final images (fitsfiles.py)"),
}

# Parameters of earlier versions, and why they went.
RETIRED = {"maxmajorcycles": "major cycles run until tclean's own rules stop them, "
                             "as many as that takes (nmajor limits them when set): remove the line"}

# What the DAG decomposition supports (a subset of tclean's allowed values).
SUPPORTED = {
    "specmode": ("mfs", "cont"),
    "gridder": ("standard", "wproject", "widefield", "mosaic", "awproject"),
    "weighting": ("natural", "uniform", "briggs"),
    "deconvolver": ("hogbom", "clark", "multiscale", "mtmfs"),
    "savemodel": ("none", "modelcolumn"),
    "usemask": ("user", "pb", "auto-multithresh"),
    "interactive": (False,),
    "parallel": (False,),
    "outlierfile": ("",),
}
CF_GRIDDERS = ("awproject",)
PARTITION_MODES = ("time", "spw", "both")     # partitionby (partitioning.py)
DENSITY_WEIGHTINGS = ("uniform", "briggs")   # need the whole MS's weight density
SIZE_UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
              "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


class ParameterError(ValueError):
    """A parameter is wrong; the message names it."""


# A job that stops on a parameter or input error exits with this (sysexits' EX_DATAERR);
# every RETRY line says UNLESS-EXIT it: trying again cannot help.
INPUT_EXIT = 65


def load(path=DEFAULT_FILE, rundir="."):
    """Read, merge with defaults and validate the parameters; return a dict."""
    from imaging import checks      # (imports this module)
    given = read_assignments(path)
    check_names(given, path)
    params = {**defaults(), **given}
    check_files(params, rundir)
    check_tclean_schema(params, path)
    check_supported(params, path)
    check_decomposition(params, path)
    checks.check_values(params)
    params["cfcache"] = cfcache_name(params)
    params["gridjobs"] = params["gridjobs"] or os.cpu_count() or 1
    return params


def read_assignments(path):
    """The `name = literal` statements of a parameter file, later ones winning."""
    try:
        with open(path) as f:
            tree = ast.parse(f.read(), filename=path)
    except FileNotFoundError:
        raise ParameterError(f"parameter file {path} does not exist") from None
    except SyntaxError as e:
        raise ParameterError(f"{path} line {e.lineno}: syntax error: {e.msg}") from None
    values = {}
    for node in tree.body:
        name = assigned_name(node, path)
        try:
            values[name] = ast.literal_eval(node.value)
        except ValueError:
            raise ParameterError(
                f"{path} line {node.lineno}: {name} must be a literal value "
                "(number, string, list, dict, True/False/None), not an expression") from None
    return values


def assigned_name(node, path):
    if (isinstance(node, ast.Assign) and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)):
        return node.targets[0].id
    raise ParameterError(f"{path} line {node.lineno}: only `name = value` assignments "
                         "are allowed in a parameter file")


def tclean_signature():
    """tclean's parameters and their defaults, from the installed casatasks."""
    from imaging import casaenv  # noqa: F401
    from casatasks import tclean
    sig = inspect.signature(type(tclean).__call__)
    return {k: p.default for k, p in sig.parameters.items() if k != "self"}


def defaults():
    values = tclean_signature()
    values.update({k: v[0] for k, v in DECOMPOSITION.items()})
    return values


def check_names(given, path):
    known = set(tclean_signature()) | set(DECOMPOSITION)
    for name in given:
        if name in RETIRED:
            raise ParameterError(f"{path}: {name} is no longer used: {RETIRED[name]}")
        if name not in known:
            hint = difflib.get_close_matches(name, known, n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ParameterError(f"{path}: unknown parameter {name!r}{extra}; "
                                 "use tclean's parameter names")


def tclean_schema():
    """tclean's own validation schema, as the installed casatasks defines it."""
    from casatasks import tclean  # noqa: F401  (the task; its module is then in sys.modules)
    from casatools.coercetype import coerce
    mod = sys.modules["casatasks.tclean"]
    tree = ast.parse(inspect.getsource(mod._tclean.__call__).strip())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "schema":
            code = compile(ast.Expression(node.value), mod.__file__, "eval")
            return eval(code, {"_coerce": coerce})  # casatasks' own code, not user input
    raise RuntimeError("tclean's schema not found in casatasks")


def check_tclean_schema(params, path):
    """Validate tclean's parameters with tclean's own validator and coercion."""
    from casatools.typecheck import CasaValidator
    schema = tclean_schema()
    doc = {k: params[k] for k in schema}
    validator = CasaValidator()
    if not validator.validate(doc, schema):
        name, why = next((k, v) for k, v in validator.errors.items() if k in schema)
        why = "; ".join(map(str, why)) if isinstance(why, list) else why
        raise ParameterError(f"{path}: {name} = {params[name]!r} is rejected by tclean: {why}")
    params.update(validator.document)


def check_supported(params, path):
    if params["savemodel"] == "virtual":
        raise ParameterError(
            f"{path}: savemodel = 'virtual' is not supported by the DAG decomposition: CASA "
            "keeps a virtual model as its gridder's record, with the model image, in the "
            "MS's SOURCE table or keywords, written by one imager set up on the whole MS, "
            "which the per-sub-MS jobs cannot make; savemodel = 'modelcolumn' writes the "
            "model's visibilities into MODEL_DATA instead (README: The model column)")
    for name, allowed in SUPPORTED.items():
        if params[name] not in allowed:
            raise ParameterError(
                f"{path}: {name} = {params[name]!r} is not supported by the DAG "
                f"decomposition (supported: {', '.join(map(repr, allowed))})")
    rules = [
        (params["deconvolver"] == "mtmfs" and params["nterms"] < 1, "nterms", "must be >= 1"),
        (params["deconvolver"] != "mtmfs" and params["nterms"] > 1, "nterms",
         "> 1 needs deconvolver='mtmfs'"),
        (params["facets"] != 1, "facets", "must be 1 (facets are not distributed)"),
        (not params["imagename"], "imagename", "must be set"),
        (min(as_list(params["imsize"])) < 1, "imsize", "must be positive"),
        (params["pblimit"] <= 0 and params["gridder"] in ("awproject", "mosaic"), "pblimit",
         "must be > 0 for gridder='awproject' or 'mosaic'"),
        (params["nmajor"] < -1, "nmajor", "must be -1 or >= 0"),
        (params["usemask"] == "auto-multithresh" and params["nsigma"] > 0
         and params["minpercentchange"] >= 0, "minpercentchange",
         "must be < 0 with nsigma > 0 and usemask='auto-multithresh' (once tclean stops "
         "masking a channel its n-sigma statistics are zeros, which a deconvolve job "
         "cannot reproduce: docs/automask.md)"),
    ]
    for bad, name, why in rules:
        if bad:
            raise ParameterError(f"{path}: {name} = {params[name]!r} {why}")


def check_decomposition(params, path):
    parse_size(params["maxsubmssize"], "maxsubmssize")
    for name, (_, kind, what) in DECOMPOSITION.items():
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(params[name], kinds) or (isinstance(params[name], bool) and bool not in kinds):
            names = " or ".join(k.__name__ for k in kinds)
            raise ParameterError(f"{path}: {name} = {params[name]!r} must be a {names} ({what})")
    if params["partitionby"] not in PARTITION_MODES:
        raise ParameterError(
            f"{path}: partitionby = {params['partitionby']!r} is not a partition mode: give "
            "'time' (sub-MSes of whole integrations), 'spw' (of whole spectral windows) or "
            "'both' (spectral-window groups, each split along time)")
    for name, least in (("majorcyclebatch", 1), ("cfjobs", 0), ("gridjobs", 0)):
        if params[name] < least:
            raise ParameterError(f"{path}: {name} = {params[name]} must be >= {least}")
    for kind, res in params["jobresources"].items():
        if kind not in job_kinds() or not isinstance(res, dict):
            raise ParameterError(f"{path}: jobresources[{kind!r}]: job kinds are "
                                 f"{', '.join(job_kinds())}, each a dict of request_* values")


def job_kinds():
    """The job kinds, the keys of `jobresources` (their requests: resources.py): the
    names in the table of imaging/jobkinds.py, imported when first needed, as that
    module (through what its jobs read and write) imports this one."""
    from imaging import jobkinds
    return jobkinds.NAMES


def parse_size(text, name="size"):
    """Bytes in a size such as '500MB', '1.5GiB' or 2000000."""
    m = re.fullmatch(r"\s*([0-9.]+(?:[eE][0-9]+)?)\s*([KMGT]i?B|B)?\s*", str(text), re.I)
    if not m:
        raise ParameterError(f"{name} = {text!r} is not a size such as '500MB' or '2GiB'")
    size = float(m.group(1)) * SIZE_UNITS[(m.group(2) or "").upper()]
    if size <= 0:
        raise ParameterError(f"{name} = {text!r} must be larger than zero")
    return int(size)


def cfcache_name(params):
    """The CF cache folder: `cfcache`, or tclean's default <imagename>.cf; '' if unused."""
    if params["gridder"] not in CF_GRIDDERS:
        return ""
    return params["cfcache"] or params["imagename"] + ".cf"


def check_files(params, rundir):
    """The MS must exist; its path becomes absolute (relative ones are to rundir)."""
    if not isinstance(params["vis"], str) or not params["vis"]:
        raise ParameterError(f"vis = {params['vis']!r}: give the path of one measurement set")
    full = os.path.abspath(os.path.join(rundir, params["vis"]))
    if not os.path.isfile(os.path.join(full, "table.dat")):
        raise ParameterError(f"vis = {params['vis']!r}: no measurement set at {full}"
                             " (make it with `make data` or point vis at your MS)")
    params["vis"] = full
    check_sent_mask(params, rundir)
    from imaging import startmodel     # (imports this module)
    startmodel.check_given(params, rundir)


def check_sent_mask(params, rundir):
    """Without a shared filesystem the minor-cycle jobs are sent a mask file: it must
    be inside the run directory (jobfiles.user_mask)."""
    mask = params["mask"]
    if params["sharedfs"] or not isinstance(mask, str) or not mask:
        return
    if not os.path.exists(os.path.join(rundir, mask)):
        return                                   # a region given as text, not a file
    if not inside_run(mask):
        raise ParameterError(f"mask = {mask!r}: with sharedfs = False the jobs are sent "
                             "the mask, so it must be a path inside the run directory")


def inside_run(path):
    """Whether a path names something inside the run directory (relative, not ../)."""
    return not os.path.isabs(path) and not os.path.normpath(path).startswith(os.pardir)


# tclean's data selection parameters -> the ms tool's msselect keys.
SELECTION = {"field": "field", "spw": "spw", "timerange": "time", "uvrange": "uvdist",
             "antenna": "baseline", "scan": "scan", "observation": "observation",
             "intent": "scanintent"}


def selection(params):
    """tclean's data selection parameters that are set: name -> value."""
    return {k: params[k] for k in SELECTION if params[k] not in ("", [])}


def check_selection(params):
    """The data selection must exist in the MS and select some rows (once, before the
    first job: on a large MS a time or uv-range selection reads whole columns)."""
    from imaging import casaenv  # noqa: F401
    from casatools import ms, msmetadata
    vis, given = params["vis"], selection(params)
    tool = ms()
    for name in ("field", "spw", "antenna"):
        if name in given:
            try:
                tool.msseltoindex(vis=vis, **{{"antenna": "baseline"}.get(name, name): given[name]})
            except RuntimeError as e:
                reason = " ".join(str(e).split()).rstrip(",")
                raise ParameterError(f"{name} = {given[name]!r}: {reason} in "
                                     f"{vis} ({ms_contents(msmetadata(), vis)})") from None
    if not given:
        return
    with casa.opened(tool, vis):
        selected = tool.msselect({SELECTION[k]: v for k, v in given.items()}) and tool.nrow(True)
    if not selected:
        chosen = ", ".join(f"{k} = {v!r}" for k, v in given.items())
        raise ParameterError(f"{chosen}: this selection matches no rows of {vis}")


def ms_contents(md, vis):
    """'fields ...; spw 0-3' of an MS, for messages."""
    with casa.opened(md, vis):
        return f"fields {', '.join(md.fieldnames())}; spw 0-{md.nspw() - 1}"


def as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]
