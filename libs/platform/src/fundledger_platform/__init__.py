"""FundLedger's shared service runtime: settings, errors, server, telemetry, bus, db.

Import the submodule you need (``from fundledger_platform.server import
build_server``); this package imports nothing itself, so ``import
fundledger_platform.errors`` in a client does not pay for OpenTelemetry,
Prometheus, asyncpg and NATS.
"""
