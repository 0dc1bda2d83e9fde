"""python -m dagengine DAGFILE [--cores N]: run an HTCondor DAG on this machine
(what `make run` and `make cfs` do; see docs/dagrunner.md)."""
import sys

from dagengine.dagrunner import main

sys.exit(main())
