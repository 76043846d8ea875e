"""Benchmarks: model accuracy on data sets, runner and node latency, precision comparisons."""
