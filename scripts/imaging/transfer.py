"""Runs without a shared filesystem (sharedfs = False): what a job is sent, what comes back.

The stage scripts, the submit files and the DAG's nodes are those of a shared
filesystem; only where a job runs differs, and its node's PRE and POST scripts.  A
remote job (a kind not `local` in jobkinds.py) runs in its execute node's scratch
directory, and HTCondor's file transfer moves

  in:  products/transfer/in/<node>/, which the node's PRE script (stageIn.py)
       fills with hard links to tars, each made once: the code (prepareRun),
       each sub-MS (MSpartition), the CF cache (the CF merge), and each
       product the stage script reads (its kind's `reads`, jobkinds.py; made by
       the first PRE script that needs it, with whatever its symbolic links
       point at); and
       params.tar, the parameters as the job sees them;
  out: out.tar, the products the stage script published and the job's CASA
       logs (scripts/remotejob), put back by transfer_output_remaps as
       products/transfer/out/<node>.tar and moved into place by the node's
       POST script (stageOut.py), folder by folder, keeping any that exists.

MSpartition and the CF steps read the whole MS and write the CF cache: they
run in the local universe, on the access point, in the run directory.
"""
import io
import json
import os
import shutil
import tarfile

from imaging import cfcache, jobkinds, products

ROOT = os.path.join(products.PRODUCTS, "transfer")
CODE_TAR = os.path.join(ROOT, "code.tar")
CFCACHE_TAR = os.path.join(ROOT, "cfcache.tar")
SCRATCH_CFCACHE = "cfcache"      # where a remote job finds the CF cache, in its scratch


def enabled(params):
    return not params["sharedfs"]


def submit_lines(kind):
    """The submit commands that make a job kind run without a shared filesystem."""
    if jobkinds.KINDS[kind].local:
        return ["universe = local"]
    return ["should_transfer_files = YES",
            "when_to_transfer_output = ON_EXIT",
            "executable = scripts/remotejob",
            "transfer_executable = true",
            "transfer_input_files = products/transfer/in/$(JOB)/",
            "transfer_output_files = out.tar",
            'transfer_output_remaps = "out.tar = products/transfer/out/$(JOB).tar"']


# ---------------------------------------------------------------- tars made once
def subms_tar(subms):
    return os.path.join(ROOT, "subms", os.path.basename(subms) + ".tar")


def pack_code():
    """The stage scripts, as every remote job runs them."""
    pack_tree("scripts", CODE_TAR, "scripts", ("__pycache__", "logs"))


def pack_subms(subms):
    pack_tree(subms, subms_tar(subms), subms)


def pack_cfcache(params):
    """The CF cache and its record, as SCRATCH_CFCACHE/<name> in a job's scratch."""
    cache = os.path.normpath(params["cfcache"])
    if not params["cfcache"] or not newer_than_tar(cache + ".json", CFCACHE_TAR):
        return
    name = os.path.join(SCRATCH_CFCACHE, os.path.basename(cache))
    with atomic_tar(CFCACHE_TAR) as tar:
        tar.add(cache, name)
        tar.add(cache + ".json", name + ".json")


def cfcache_tar(params, part):
    """The CF cache a job on the sub-MS of `part` is sent: the whole cache, or with SPW
    groups (partitionby) the CFs the part's gridder uses only (cfcache.subset), one tar per
    group, made by the first PRE script that needs it, as SCRATCH_CFCACHE/<name>."""
    if params["partitionby"] == "time":
        return CFCACHE_TAR
    entry = products.plan_part(products.read_plan(), part)
    spws = entry["spws"]
    reffreq = cfcache.reference_frequency(products.read_coordsys(params))
    folder = cfcache.subset(params, entry, reffreq)
    tarpath = os.path.join(ROOT, "cfcache", cfcache.group_name(spws) + ".tar")
    if newer_than_tar(cfcache.recorded_path(params), tarpath):
        name = os.path.join(SCRATCH_CFCACHE, os.path.basename(folder))
        with atomic_tar(tarpath, dereference=True) as tar:
            tar.add(folder, name)
            tar.add(folder + ".json", name + ".json")
    return tarpath


def newer_than_tar(path, tarpath):
    return not os.path.exists(tarpath) or os.path.getmtime(path) > os.path.getmtime(tarpath)


def pack_tree(path, tarpath, arcname, skip=()):
    with atomic_tar(tarpath) as tar:
        tar.add(path, arcname, filter=lambda t: None if os.path.basename(t.name) in skip else t)


class atomic_tar:
    """A tar written beside its final path and renamed there when complete."""
    def __init__(self, path, dereference=False):
        self.path, self.tmp = path, f"{path}.tmp{os.getpid()}"
        self.dereference = dereference      # (True: what symbolic links point at)

    def __enter__(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.tar = tarfile.open(self.tmp, "w", dereference=self.dereference)
        return self.tar

    def __exit__(self, kind, *_):
        self.tar.close()
        if kind is None:
            os.replace(self.tmp, self.path)
        else:
            os.remove(self.tmp)


# ---------------------------------------------------------------- what each stage reads
def inputs(script, args, params):
    """The products (run-directory paths) the stage script `script args` reads,
    besides the parameters, the sub-MS and the CF cache (jobkinds.py: its kind's reads)."""
    return jobkinds.of_script(script).reads(params, *args)


# ---------------------------------------------------------------- the node's PRE and POST
def in_dir(node):
    return os.path.join(ROOT, "in", node)


def out_tar(node):
    return os.path.join(ROOT, "out", f"{node}.tar")


def stage_in(node, script, args, params):
    """products/transfer/in/<node>/: everything the job needs, for HTCondor to send."""
    folder = products.fresh_dir(in_dir(node))
    subms = job_subms(script, args)
    tars = [CODE_TAR] + ([subms_tar(subms)] if subms else [])
    if subms and params["cfcache"]:          # (every imager on a sub-MS sets up its gridder)
        tars.append(cfcache_tar(params, jobkinds.of_script(script).named(args)["part"]))
    tars += [product_tar(path) for path in inputs(script, args, params)]
    for tar in tars:
        hard_link(tar, os.path.join(folder, os.path.basename(tar)))
    with atomic_tar(os.path.join(folder, "params.tar")) as tar:
        add_bytes(tar, products.PARAMS_RECORD, json.dumps(scratch_params(params)).encode())


def product_tar(path):
    """A product (published whole, never changed after) as a tar, made by the first
    job that reads it; every later job reading it is sent the same file."""
    tarpath = os.path.join(ROOT, "products", os.path.normpath(path).replace(os.sep, "+") + ".tar")
    if not os.path.exists(tarpath):
        with atomic_tar(tarpath) as tar:
            add_with_links(tar, [path])
    return tarpath


def job_subms(script, args):
    """The sub-MS a job reads (its `subms` variable: gridding, a sub-MS's weight density),
    else None."""
    return jobkinds.of_script(script).named(args).get("subms") or None


def scratch_params(params):
    """The run's parameters as a job sees them in its scratch directory: the CF cache
    where it is unpacked."""
    if not params["cfcache"]:
        return params
    name = os.path.basename(os.path.normpath(params["cfcache"]))
    return {**params, "cfcache": os.path.join(SCRATCH_CFCACHE, name)}


def hard_link(source, link):
    if not os.path.isfile(source):
        raise FileNotFoundError(f"{source} is missing (made once for every job); submit the "
                                "DAG again: the step that makes it runs again")
    try:
        os.link(source, link)
    except OSError:            # another filesystem: a copy
        shutil.copy2(source, link)


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def add_with_links(tar, paths):
    """Each path (whole folders), and what any symbolic link among them points at
    (kept a link: the image sets link their PSF, weight and pb to earlier stages)."""
    todo, done = [os.path.normpath(p) for p in paths], set()
    while todo:
        path = todo.pop()
        if path in done:
            continue
        if not os.path.lexists(path):
            raise FileNotFoundError(f"{path} is missing: the job reads it")
        done.add(path)
        tar.add(path, recursive=False)
        if os.path.islink(path):
            todo.append(os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path))))
        elif os.path.isdir(path):
            todo += [os.path.join(path, name) for name in sorted(os.listdir(path))]


def stage_out(node, returned):
    """Move the job's products and logs into place; the node's result is the job's."""
    tar = out_tar(node)
    if not os.path.exists(tar):
        print(f"stageOut: {node}: no {tar} came back from the job")
        return returned or 1
    work = products.fresh_dir(f"{tar}.d")
    with tarfile.open(tar) as t:
        t.extractall(work, filter="tar")
    for top in ("logs", products.PRODUCTS):
        merge_into(os.path.join(work, top), top)
    shutil.rmtree(work)
    os.remove(tar)
    shutil.rmtree(in_dir(node), ignore_errors=True)
    return returned


def merge_into(source, dest):
    """Move what source holds into dest where dest has nothing of that name yet
    (a product folder is moved whole, so it appears complete or not at all)."""
    if not os.path.isdir(source):
        return
    os.makedirs(dest, exist_ok=True)
    for name in sorted(os.listdir(source)):
        src, dst = os.path.join(source, name), os.path.join(dest, name)
        if not os.path.lexists(dst):
            try:
                os.rename(src, dst)
                continue
            except OSError:    # another POST script put a folder of that name there meanwhile
                pass
        if os.path.isdir(dst) and not os.path.islink(dst) and os.path.isdir(src):
            merge_into(src, dst)
