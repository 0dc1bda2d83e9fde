"""should_transfer_files = YES: a job's scratch directory, its inputs and outputs
(docs/dagrunner.md)."""
from __future__ import annotations

import os
import shutil
import tempfile
import typing

if typing.TYPE_CHECKING:
    from dagengine.submitfile import JobSpec


def send_inputs(name: str, spec: JobSpec) -> str:
    """A fresh scratch directory holding the job's transfer_input_files (and executable)."""
    scratch = tempfile.mkdtemp(prefix=f"dagrunner-{name}.")
    sources = spec.transfer.inputs + ([spec.argv[0]] if spec.transfer.executable else [])
    for item in sources:
        source = os.path.join(spec.cwd, item)
        if item.endswith("/"):        # the folder's contents
            shutil.copytree(source, scratch, dirs_exist_ok=True, symlinks=True)
        elif os.path.isdir(source):
            shutil.copytree(source, os.path.join(scratch, os.path.basename(item)), symlinks=True)
        else:
            shutil.copy2(source, scratch)
    return scratch


def scratch_argv(spec: JobSpec, scratch: str) -> list[str]:
    """The job's argv in its scratch directory (the executable there if transferred)."""
    executable = spec.argv[0]
    if spec.transfer.executable:
        executable = os.path.join(scratch, os.path.basename(executable))
    return [executable, *spec.argv[1:]]


def fetch_outputs(spec: JobSpec, scratch: str) -> str:
    """Copy the job's outputs back (remapped); the first missing one's name, else ''."""
    try:
        for name in spec.transfer.outputs:
            source = os.path.join(scratch, name)
            if not os.path.lexists(source):
                return name
            target = os.path.join(spec.cwd, spec.transfer.remaps.get(name, name))
            os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            shutil.move(source, target)
        return ""
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
