"""One name for 'a connection', whether it came from a pool or not."""

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection taken from a pool (and given back to it with pool.release).
PooledConn: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
