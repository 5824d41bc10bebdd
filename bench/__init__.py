"""Benchmarks of aks-hublink against devcloud: `python -m bench` (see bench/run.py and README "Performance")."""
