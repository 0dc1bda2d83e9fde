"""The modes of the stage scripts that take one, spelled as on their command lines
(and in the DAG files that run them: dag/cfs.dag, dagutils)."""
import enum


class CFStep(enum.StrEnum):
    """makeCFs.py's steps."""
    DRY = "dry"        # the empty cache, its plan and the fill sub-DAG
    FILL = "fill"      # one fill job's share of the CFs
    MERGE = "merge"    # the shares merged, checked, put in place


class DensityStep(enum.StrEnum):
    """weightDensity.py's steps."""
    PART = "part"      # one sub-MS's weight density
    SUM = "sum"        # the sum of them all


# The CYCLE argument of allImagers.py and addImages.py for a start model's first step:
# each sub-MS's PSF and weight only, then their sum and the start model divided by
# the weight (imaging/startmodel.py), before the first residual is gridded.
PSF_ONLY = "psf"
