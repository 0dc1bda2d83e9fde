"""make cfs: compute the convolution-function cache for the whole MS, once.

Run before partitioning, with the parameters of params/imaging.py.  Does
nothing if a cache made with the same CF-shaping parameters exists; remakes it
if one of them changed; skips gridders that need no CF cache.
"""
import os
import shutil

import cfcache
import dagutils
import synthesis


def main():
    params = dagutils.load_params()
    state = cfcache.status(params)
    if state in ("unused", "ok"):
        reason = "needs none" if state == "unused" else f"{params['cfcache']} is up to date"
        print(f"makeCFs: gridder={params['gridder']!r} {reason}; nothing to do")
        return
    if state == "stale":
        print(f"makeCFs: remaking {params['cfcache']}: changed {cfcache.differences(params)}")
    build(params)


def build(params):
    final = os.path.normpath(params["cfcache"])
    work, scratch = final + ".tmp", final + ".scratch"
    for path in (work, scratch):
        shutil.rmtree(path, ignore_errors=True)
    cfs = synthesis.make_cfcache({**params, "cfcache": work}, os.path.join(scratch, "cf"))
    shutil.rmtree(scratch)
    recorded = cfcache.recorded_path(params)
    if os.path.exists(recorded):
        os.remove(recorded)
    dagutils.publish_dir(work, final)
    dagutils.write_json(recorded, cfcache.shaping(params))
    print(f"makeCFs: wrote {len(cfs)} CFs to {final}")


if __name__ == "__main__":
    main()
