"""Benchmarks against the devstack: `python -m bench.<name>`, results in bench/results/."""
