"""File records in PostgreSQL (schema `storage`).

Tenancy is enforced here, in SQL: every read and the delete go through
`fundledger_platform.tenant_sql.narrowed`, which adds the caller's tenant to the WHERE clause,
so a file of another tenant is simply not found, in single look-ups and in listings alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeAlias
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from fundledger_platform.tenant_sql import narrowed

from storage.domain.model import FileRecord, ListScope

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

_COLUMNS = (
    "file_id, object_key, size, content_type, sha256, owner_user_id, entity_type, "
    "entity_id, file_name, created_at, tenant, created_by"
)


def _record(row: asyncpg.Record) -> FileRecord:
    return FileRecord(
        file_id=row["file_id"],
        object_key=row["object_key"],
        size=row["size"],
        content_type=row["content_type"],
        sha256=row["sha256"],
        owner_user_id=row["owner_user_id"],
        entity_type=row["entity_type"],
        entity_id=row["entity_id"],
        file_name=row["file_name"],
        created_at=row["created_at"],
        tenant=row["tenant"],
        created_by=row["created_by"],
    )


class PostgresFileTransaction:
    def __init__(self, conn: Conn) -> None:
        self._conn = conn

    async def insert(self, record: FileRecord) -> FileRecord:
        row = await self._conn.fetchrow(
            f"""
            INSERT INTO storage.files (file_id, object_key, size, content_type, sha256,
                owner_user_id, entity_type, entity_id, file_name, tenant, created_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            RETURNING {_COLUMNS}
            """,
            record.file_id,
            record.object_key,
            record.size,
            record.content_type,
            record.sha256,
            record.owner_user_id,
            record.entity_type,
            record.entity_id,
            record.file_name,
            record.tenant,
            record.created_by,
        )
        assert row is not None
        return _record(row)

    async def mark_deleted(self, file_id: UUID, owner_user_id: str | None) -> FileRecord | None:
        # The UPDATE locks the row until commit: a concurrent delete of the same
        # file waits here, then matches nothing (deleted_at is set) — one
        # FILE_DETACHED only.
        params: list[object] = [file_id]
        where = "file_id = $1 AND deleted_at IS NULL"
        if owner_user_id is not None:
            params.append(owner_user_id)
            where += f" AND owner_user_id = ${len(params)}"
        where = narrowed(where, params)
        row = await self._conn.fetchrow(
            f"UPDATE storage.files SET deleted_at = now() WHERE {where} RETURNING {_COLUMNS}",
            *params,
        )
        return None if row is None else _record(row)


class PostgresFiles:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresFileTransaction]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield PostgresFileTransaction(conn)

    async def get(self, file_id: UUID) -> FileRecord | None:
        params: list[object] = [file_id]
        where = narrowed("file_id = $1 AND deleted_at IS NULL", params)
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM storage.files WHERE {where}", *params
        )
        return None if row is None else _record(row)

    async def page(
        self, scope: ListScope, before: tuple[datetime, UUID] | None, limit: int
    ) -> list[FileRecord]:
        # Keyset paging on (created_at, file_id) descending, served by the
        # partial indexes files_by_owner / files_by_entity.
        params: list[object] = []
        clauses: list[str] = []
        if scope.owner_user_id is not None:
            params.append(scope.owner_user_id)
            clauses.append(f"owner_user_id = ${len(params)}")
        if scope.entity_type is not None:
            params += [scope.entity_type, scope.entity_id]
            clauses.append(f"entity_type = ${len(params) - 1} AND entity_id = ${len(params)}")
        where = narrowed(" AND ".join(clauses), params)
        if before is not None:
            params += [before[0], before[1]]
            n = len(params)
            where += f" AND (created_at, file_id) < (${n - 1}, ${n})"
        params.append(limit)
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM storage.files WHERE {where} AND deleted_at IS NULL "
            f"ORDER BY created_at DESC, file_id DESC LIMIT ${len(params)}",
            *params,
        )
        return [_record(row) for row in rows]

    async def count(self, owner_user_id: str | None, created_by: datetime) -> int:
        where, params = _verify_scope(owner_user_id, created_by)
        value = await self._pool.fetchval(
            f"SELECT count(*) FROM storage.files WHERE {where}", *params
        )
        return int(value)

    async def batch(
        self, owner_user_id: str | None, created_by: datetime, after: UUID | None, limit: int
    ) -> list[FileRecord]:
        # Keyset on file_id: the primary key, or files_by_owner_id for one owner.
        where, params = _verify_scope(owner_user_id, created_by)
        if after is not None:
            params.append(after)
            where += f" AND file_id > ${len(params)}"
        params.append(limit)
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM storage.files WHERE {where} "
            f"ORDER BY file_id LIMIT ${len(params)}",
            *params,
        )
        return [_record(row) for row in rows]

    async def live_keys(self, keys: list[str]) -> set[str]:
        # Not narrowed to the caller's tenant: a key of another tenant's live file is not an
        # orphan, and this only tells which keys are taken, never what they hold.
        rows = await self._pool.fetch(
            "SELECT object_key FROM storage.files "
            "WHERE object_key = ANY($1::text[]) AND deleted_at IS NULL",
            keys,
        )
        return {row["object_key"] for row in rows}


def _verify_scope(owner_user_id: str | None, created_by: datetime) -> tuple[str, list[object]]:
    where = "deleted_at IS NULL AND created_at <= $1"
    params: list[object] = [created_by]
    if owner_user_id is not None:
        params.append(owner_user_id)
        where += f" AND owner_user_id = ${len(params)}"
    return narrowed(where, params), params
