"""Load tests: a locust gRPC user driving the whole stack, and the gates checked after a run.

`make loadtest` (`python -m tests.load`) seeds data, runs locust headless and checks the
thresholds in gates.toml; see docs/loadtest.md. The smoke version (test_smoke.py) runs in
the test command so the load path itself cannot rot.
"""
