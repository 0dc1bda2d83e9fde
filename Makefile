# One imaging run lives in this directory: copy it per test run, edit
# params/imaging.py, then `make cfs` and `make submit` (or `make run` to run
# the same DAG on this machine without HTCondor).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export CASASITECONFIG := $(CURDIR)/scripts/casasiteconfig.py
export CASA_LOGDIR := $(CURDIR)/logs
export IMAGING_PYTHON := $(abspath $(PY))
SIM_MS := data/sim_evla.ms

.PHONY: setup data cfs run test submit clean distclean

## setup: the Python environment (.venv) with pinned CASA, HTCondor bindings, pytest
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

## data: the simulated wide-band EVLA MS used by the default parameters and the tests
data: setup
	$(PY) scripts/simulate.py $(SIM_MS)

## cfs: the CF cache for the whole MS (does nothing when it is up to date)
cfs: setup
	scripts/runjob makeCFs.py

## run: the whole imaging DAG on this machine, without HTCondor
run: data cfs
	$(PY) scripts/dagrunner.py dag/condor_imaging.dag

## submit: the same DAG on an HTCondor pool with a shared filesystem
submit: setup
	condor_submit_dag dag/condor_imaging.dag

## test: the test suite (simulates its own data in a temporary folder)
test: setup
	$(PY) -m pytest -ra tests

## clean: remove this run's products and logs (keeps data/ and the CF cache)
clean:
	rm -rf products logs dag/*.dag.*

## distclean: also the CF cache, the simulated data and the environment
distclean: clean
	rm -rf cfcache data/*.ms $(VENV)
