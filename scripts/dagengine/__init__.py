"""The local DAG engine: runs an HTCondor DAGMan DAG on this machine (docs/dagrunner.md)."""
