"""Benchmarks of the event store with same-run baselines: `make bench` (`python -m tests.bench`).

Not part of `make test`. See docs/benchmarks.md for what it measures and how to read it.
"""
