"""Benchmarks: `make bench` (bench/run_bench.py) prints issue 15's figures."""
