"""Contract tests of the whole API, against the session's whole stack (tests/support)."""
