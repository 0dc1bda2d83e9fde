"""PRE script of the first node: check that the run can start, write resources.

Stops the DAG before any job with a clear message if params/imaging.py is
invalid or the CF cache is missing or made for other parameters, and writes
products/jobresources.htc, the request_* macros every .htc file includes.
"""
import sys

import cfcache
import dagutils
import parameters

RESOURCES = "products/jobresources.htc"


def main():
    try:
        params = dagutils.load_params()
        check_cfcache(params)
    except (parameters.ParameterError, RuntimeError) as e:
        sys.exit(f"prepareRun: {e}")
    dagutils.write_text_atomic(RESOURCES, resources_htc(params))
    print(f"prepareRun: parameters valid; wrote {RESOURCES}")


def check_cfcache(params):
    state = cfcache.status(params)
    if state == "missing":
        raise RuntimeError(f"cfcache = {params['cfcache']!r} does not exist: run `make cfs` first")
    if state == "stale":
        raise RuntimeError(f"cfcache = {params['cfcache']!r} was made for other parameters "
                           f"{cfcache.differences(params)}: run `make cfs` to remake it")


def resources_htc(params):
    lines = ["# Written by scripts/prepareRun.py from params/imaging.py: do not edit."]
    for kind in parameters.JOBRESOURCES:
        for key, value in parameters.job_resources(params, kind).items():
            lines.append(f"{kind}_{key} = {value}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
