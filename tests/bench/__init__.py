"""Benchmarks with same-run baselines: `make bench` (`python -m tests.bench`) — the event
store, and the projector, snapshotter and allocation each as its own process.

Not part of `make test`. See docs/benchmarks.md for what it measures and how to read it.
"""
