"""How long a job spends in CASA's work, for the benchmark (make bench).

Every timed block prints one line to the job's stdout (logs/<node>.out):

    timing: <label> wall=<seconds> cpu=<seconds>

tools/bench.py adds them up per job; the rest of the job's time, from the
user log, is its overhead: process start, imports, copies, publishing.
"""
import contextlib
import functools
import time


@contextlib.contextmanager
def timed(label):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        print(f"timing: {label} wall={time.perf_counter() - wall:.3f} "
              f"cpu={time.process_time() - cpu:.3f}", flush=True)


def casa_work(function):
    """Time every call of a function that does CASA work."""
    @functools.wraps(function)
    def timed_call(*args, **kwargs):
        with timed(function.__name__):
            return function(*args, **kwargs)
    return timed_call
