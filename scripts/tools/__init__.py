"""Tools around a run: status, new run directories, benchmark, simulated and real data."""
