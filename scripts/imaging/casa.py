"""CASA tools in with blocks: opened and closed, or released, whatever the block does.

No casatools import here: the caller makes the tool (casatools stays a lazy import
of the modules that must import fast).
"""
import contextlib


@contextlib.contextmanager
def using(tool):
    """A CASA tool, released (done()) when the block ends."""
    try:
        yield tool
    finally:
        tool.done()


@contextlib.contextmanager
def opened(tool, *args, **kwargs):
    """A CASA tool (table, ms, msmetadata, image, simulator ...) opened with
    tool.open(*args, **kwargs), closed when the block ends."""
    tool.open(*args, **kwargs)
    try:
        yield tool
    finally:
        tool.close()
