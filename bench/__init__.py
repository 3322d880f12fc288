"""`make bench`: vmlir's benchmark suite (workloads.py: what is timed; run.py: how; plot.py:
the figure). Run `python -m bench.run --help` for the options."""
