# CASA site configuration for offline use, selected by CASASITECONFIG.
# Measures and other data come from the pinned casadata wheel; nothing is
# downloaded.  CASA's log goes to the run's log folder (CASA_LOGDIR, default
# ./logs), one file per process, never into the current directory.
import os

import casadata

measurespath = casadata.datapath
datapath = [casadata.datapath]
measures_auto_update = False
data_auto_update = False

_logdir = os.path.abspath(os.environ.get("CASA_LOGDIR", "logs"))
os.makedirs(_logdir, exist_ok=True)
logfile = os.path.join(_logdir, "casa-%s-%d.log" % (os.uname().nodename, os.getpid()))
nologger = True
