"""Cross-service end-to-end, fault and load tests (and the benchmarks, `python -m tests.bench`)."""
