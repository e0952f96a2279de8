"""Repository-wide pytest configuration: real servers for every test that asks for one."""

pytest_plugins = [
    "fundledger_devstack.pytest_plugin",
    # A real in-process event store, for the event store and every read model.
    "tests.support.event_store",
    # The whole stack (every service), for the CLI, the demo and the load smoke test.
    "tests.support.full_stack",
    # TLS, tokens and policy of the local stack, for services started inside a test.
    "tests.support.secure",
]
