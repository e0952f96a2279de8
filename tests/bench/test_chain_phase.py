"""Phase `chain`'s pure parts: the pre-chain statement it runs, its keys and their server."""

from __future__ import annotations

from tests.bench.chain_figures import CHAIN, NOCHAIN, chain_server_of
from tests.bench.phase_chain import MIGRATION_0008, database_dsn, pre_chain_commit_group
from tests.bench.server_cpu import server_group
from tests.bench.targets import baseline_of


def test_the_pre_chain_statement_is_0008s_create_function_only() -> None:
    sql = MIGRATION_0008.read_text()
    statement = pre_chain_commit_group(sql)
    assert statement.startswith("CREATE OR REPLACE FUNCTION eventstore.commit_group(\n")
    assert statement.endswith("\n$$;")
    assert statement.removeprefix("CREATE OR REPLACE ") in sql
    assert "chain_encoding" not in statement  # 0009 hashes with it


def test_keys_servers_and_baseline() -> None:
    assert (CHAIN, NOCHAIN) == ("append.chain.c32", "append.nochain.c32")
    assert server_group(CHAIN) == chain_server_of(CHAIN) == "event-store-chain"
    assert server_group(NOCHAIN) == "event-store-nochain"
    assert server_group("append.own.c32") == "event-store"
    assert baseline_of(CHAIN) == NOCHAIN


def test_database_dsn() -> None:
    assert database_dsn("postgresql://postgres@127.0.0.1:5/fundledger", "x") == (
        "postgresql://postgres@127.0.0.1:5/x"
    )
