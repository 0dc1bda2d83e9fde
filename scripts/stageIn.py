"""PRE script of a remote job's node: what the job needs, ready for HTCondor to send.

    stageIn.py NODE SCRIPT [ARGS...]      (SCRIPT ARGS: the job's own arguments)

Does nothing with a shared filesystem (sharedfs = True).  Without one it
fills products/transfer/in/NODE/ (see transfer.py).
"""
import sys

import dagutils
from imaging import transfer


def main(node, script, *args):
    params = dagutils.load_params()
    if transfer.enabled(params):
        try:
            transfer.stage_in(node, script, list(args), params)
        except FileNotFoundError as e:
            sys.exit(f"stageIn: {node}: {e}")
        print(f"stageIn: {node}: wrote {transfer.in_dir(node)}")


if __name__ == "__main__":
    dagutils.run_stage("stageIn", main, *sys.argv[1:])
