"""The pieces of bench/run.py: database, processes, load generators, report."""
