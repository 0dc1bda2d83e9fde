"""Import this before casatools: selects the project's offline CASA site configuration.

`casatasks_helpers()` makes casatasks' private imager helpers (ImagerParameters)
importable without the package's `__init__`, which imports all of its ~60 tasks:
1.5 s of every job's 1.7 s start-up, measured by `make bench`.
"""
import importlib.util
import os
import sys
import types

os.environ.setdefault(
    "CASASITECONFIG",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "casasiteconfig.py"),
)


def casatasks_helpers():
    """Register a stand-in `casatasks` package holding what its helpers import from it
    (casalog, global, as casatasks' own `__init__` makes it).  Any other name asked of
    it (`from casatasks import tclean`) runs the real `__init__` first, so code that
    needs the tasks still gets them."""
    if "casatasks" in sys.modules:
        return
    from casaconfig import config
    from casatools import logsink
    spec = importlib.util.find_spec("casatasks")
    package = types.ModuleType("casatasks")
    package.__spec__, package.__file__ = spec, spec.origin
    package.__path__ = list(spec.submodule_search_locations)
    package.__package__ = "casatasks"
    package.casalog = logsink(config.logfile)
    package.casalog.setglobal(True)
    package.__getattr__ = lambda name: _full_casatasks(package, name)
    sys.modules["casatasks"] = package


def _full_casatasks(package, name):
    """Run casatasks' real `__init__` in the stand-in, then give the attribute asked."""
    if name.startswith("__"):
        raise AttributeError(name)
    del package.__getattr__
    with open(package.__file__) as f:
        exec(compile(f.read(), package.__file__, "exec"), package.__dict__)
    return getattr(package, name)


def casalog_file():
    """The CASA log this process writes (casatasks' casalog, or the stand-in's)."""
    casatasks_helpers()
    import casatasks
    return casatasks.casalog.logfile()
