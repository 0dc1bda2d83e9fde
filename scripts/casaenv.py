"""Import this before casatools: selects the project's offline CASA site configuration."""
import os

os.environ.setdefault(
    "CASASITECONFIG",
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "casasiteconfig.py"),
)
