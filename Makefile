# One imaging run lives in this directory: copy it per test run, edit
# params/imaging.py, then `make cfs` and `make submit` (or `make run` to run
# the same DAG on this machine without HTCondor).  `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export CASASITECONFIG := $(CURDIR)/scripts/imaging/casasiteconfig.py
# The tools (scripts/tools) and the local DAG engine (scripts/dagengine) run as modules
# of scripts/, as the stage scripts import the imaging library (scripts/imaging).
export PYTHONPATH := $(CURDIR)/scripts
export CASA_LOGDIR := $(CURDIR)/logs
export IMAGING_PYTHON := $(abspath $(PY))
SIM_MS := data/sim_evla.ms

.PHONY: setup mpi-setup help data cfs run report status newrun test test-fast bench submit pool pool-down clean distclean

## setup: the Python environment (.venv) with pinned CASA, HTCondor bindings, pytest
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

## mpi-setup: what CASA's parallel imager needs (make bench BENCH_MPI=1): Debian's
## Open MPI (apt-get, when mpirun or mpicc is missing) and a separate environment
## .venv-mpi with requirements.txt and requirements-mpi.txt (mpi4py built against it)
VENV_MPI ?= .venv-mpi
mpi-setup: $(VENV_MPI)/.installed

$(VENV_MPI)/.installed: requirements.txt requirements-mpi.txt
	@command -v mpirun >/dev/null && command -v mpicc >/dev/null || { \
	    echo "make mpi-setup: installing Debian's Open MPI (openmpi-bin libopenmpi-dev)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openmpi-bin libopenmpi-dev; }
	@mpirun --version | grep -q "Open MPI" || { echo "make mpi-setup: mpirun is not Open MPI's: casampi needs it" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV_MPI)
	MPICC=mpicc $(VENV_MPI)/bin/pip install --quiet -r requirements.txt -r requirements-mpi.txt
	touch $@

## help: this list of targets, from the `## name: text` comments above each one
## (the default goal stays `make setup`)
help:
	@awk '/^## / { text = substr($$0, 4); \
	        if (!more) { n = index(text, ": "); printf "\n  make %-16s %s\n", substr(text, 1, n - 1), substr(text, n + 2) } \
	        else printf "  %-21s %s\n", "", text; more = 1; next } { more = 0 }' $(MAKEFILE_LIST)
	@echo

## data: the simulated wide-band EVLA MS used by the default parameters and the tests
data: setup
	$(PY) -m tools.simulate $(SIM_MS)

## cfs: the CF cache for the whole MS, filled by cfjobs jobs at once (does nothing
## when it is up to date); the imaging DAG runs the same dag/cfs.dag as its first stage
cfs: setup
	scripts/runjob prepareRun.py --before-dag
	$(PY) -m dagengine dag/cfs.dag

## run: the whole imaging DAG (CF cache included) on this machine, without HTCondor;
## simulates the default MS first only when vis is that MS and it does not exist yet;
## ends with the run's warnings (an empty model, divergence, ...: make status shows them too)
run: setup
	@if $(PY) -c 'import os, sys; from imaging import parameters as p; \
	    vis = p.read_assignments(p.DEFAULT_FILE).get("vis", ""); \
	    sys.exit(os.path.abspath(vis) != os.path.abspath("$(SIM_MS)") or os.path.exists(vis))'; \
	then $(MAKE) --no-print-directory data; fi
	scripts/runjob prepareRun.py --before-dag
	@$(PY) -m tools.console $(PY) -m dagengine dag/condor_imaging.dag
	@$(PY) -m tools.report > /dev/null
	@$(PY) -m tools.status --warnings

## report: products/final/report.html of a finished run (make run writes it; after
## make submit, run this): the quick-look sheet, cycles, warnings, parameters, jobs
report: setup
	@$(PY) -m tools.report

## status: where this run stands (locally or on the pool): stage, major cycle,
## jobs done/running/failed, peak residual per cycle, elapsed time
status:
	@$(PY) -m tools.status

## newrun: a new run directory NAME (e.g. ../run-robust05) with this one's scripts,
## submit files, DAG and parameters, the same MS and CF cache, no products or logs
newrun:
	@$(PY) -m tools.newrun "$(NAME)"

## submit: the same DAG on an HTCondor pool (with a shared filesystem, or without
## one: sharedfs = False); checks first that condor_submit_dag is there and that the
## parameters and the MS are usable (DAGMan passes only a fixed list of variables on
## to jobs: add IMAGING_PYTHON; without a shared filesystem, give the execute
## nodes' Python: make submit IMAGING_PYTHON=/path/to/python)
submit: setup
	@command -v condor_submit_dag >/dev/null || { echo "make submit: condor_submit_dag is not on PATH: run on an HTCondor access point (or see make pool)" >&2; exit 1; }
	scripts/runjob prepareRun.py --before-dag --pool
	condor_submit_dag -include_env IMAGING_PYTHON dag/condor_imaging.dag

## bench: the DAG (1, 2 and 4 sub-MSes along time; 2 and 4 SPW groups) against monolithic
## tclean on a BENCH_HOURS-hour simulated MS (about 130 MB per hour, 4 SPWs), alternately,
## BENCH_REPEATS times: products/bench/;
## BENCH_MPI=1 adds CASA's parallel imager (tclean(parallel=True), 2 MPI servers) to each
## round (in .venv-mpi, which make mpi-setup makes first); then, BENCH_REPEATS times, tclean
## and the DAG with the shipped parameters on two small MSes (a user's first try: make
## data's, and 2 wide SPWs over 90 min); then tclean and the DAG at each of BENCH_LARGE
## pixels (the shipped field) on the 1-hour bench MS
BENCH_HOURS ?= 3
BENCH_REPEATS ?= 2
BENCH_MPI ?= 0
BENCH_LARGE ?= 1024 2048
bench: setup $(if $(filter 1,$(BENCH_MPI)),mpi-setup)
	$(PY) -m tools.bench --hours $(BENCH_HOURS) --repeats $(BENCH_REPEATS) \
	    --small-repeats $(BENCH_REPEATS) --large $(BENCH_LARGE) \
	    $(if $(filter 1,$(BENCH_MPI)),--mpi-python $(abspath $(VENV_MPI))/bin/python)

## pool / pool-down: a personal HTCondor pool in a Debian 13 chroot (needs root;
## only its owner can use it; POOL_DIR and POOL_PORT make another one beside it);
## `scripts/tools/pool.sh run condor_submit_dag ...` submits to it
pool:
	scripts/tools/pool.sh up

pool-down:
	scripts/tools/pool.sh down

## test: the test suite (simulates its own data in a temporary folder)
test: setup
	$(PY) -m pytest -ra --durations=30 tests

## test-fast: the tests that need neither CASA nor an HTCondor pool (pytest -m fast;
## the markers are in pytest.ini): seconds, for a quick loop while editing
test-fast: setup
	$(PY) -m pytest -ra -m fast

## clean: remove this run's products and logs, and its half-built CF caches
## (keeps data/ and a finished CF cache)
clean:
	-$(PYTHON) -m imaging.cfcache clean
	rm -rf products logs dag/*.dag.*

## distclean: also the CF cache, the simulated data and the environment
distclean: clean
	rm -rf cfcache data/*.ms $(VENV) $(VENV_MPI)
