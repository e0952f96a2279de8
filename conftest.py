"""Repository-wide pytest configuration: real servers for every test that asks for one."""

pytest_plugins = ["fundledger_devstack.pytest_plugin"]
