"""Reliability and security runs: the fault matrix, the soak, concurrency, fuzzing, and their figures.

The checks themselves are pytest tests in tests/reliability/ (small in `make test`); this package
runs them at full size (`python -m reliability soak|fuzz|report`) and prints the figures they record.
"""
