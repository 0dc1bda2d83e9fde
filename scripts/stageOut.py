"""POST script of a remote job's node: the job's products and logs moved into place.

    stageOut.py NODE RETURN       (RETURN: the job's exit code, DAGMan's $RETURN)

Exits with the job's exit code, so the node fails (and is retried) when the
job did.  With a shared filesystem (sharedfs = True) it does nothing else;
without one it unpacks products/transfer/out/NODE.tar (see transfer.py).
"""
import sys

import dagutils
from imaging import transfer


def main(node, returned):
    returned = int(returned)
    if transfer.enabled(dagutils.load_params()):
        returned = transfer.stage_out(node, returned)
    sys.exit(returned)


if __name__ == "__main__":
    main(*sys.argv[1:])
