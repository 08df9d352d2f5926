"""A psycopg connection pool as a nameko dependency.

Queries wait through the eventlet hub (``peluit_common.green``), so a slow
query in one worker does not stall the others.
"""

from __future__ import annotations

import psycopg
from nameko.extensions import DependencyProvider
from psycopg_pool import ConnectionPool

from .settings import db_conninfo, env_int, migrate_at_start


def pool_size(default: int | None = None) -> int:
    """Most connections one pool of this process opens: ``PELUIT_DB_POOL_SIZE``,
    by default ``default`` or one per nameko worker (``PELUIT_MAX_WORKERS``, 10), as a worker
    holds at most one connection of a pool at a time. The connection budget
    (docs/operations.md#connection-budget) adds these up per deployment."""
    return env_int("PELUIT_DB_POOL_SIZE", default if default is not None else env_int("PELUIT_MAX_WORKERS", 10))


def make_pool(conninfo: str | None = None, *, min_size: int = 1, max_size: int | None = None) -> ConnectionPool:
    pool = ConnectionPool(
        conninfo or db_conninfo(),
        min_size=min_size,
        max_size=max_size or pool_size(),
        open=False,
        kwargs={"autocommit": False},
    )
    pool.open(wait=True, timeout=30)
    return pool


class Database(DependencyProvider):
    """Gives each worker the service's connection pool.

    ``migrate`` is called with a connection, once at start-up unless
    ``PELUIT_MIGRATE_AT_START=0``, else by the migration job
    (``migrate_schema``); it must be idempotent (``CREATE ... IF NOT EXISTS``).
    """

    def __init__(self, migrate=None, default_size: int | None = None):
        self.migrate, self.default_size = migrate, default_size  # default_size: a service whose few users wait
        self.pool: ConnectionPool | None = None

    def setup(self):
        self.pool = make_pool(max_size=self.max_connections())
        if self.migrate is not None and migrate_at_start():
            with self.pool.connection() as conn:
                self.migrate(conn)

    def max_connections(self) -> int:
        return pool_size(self.default_size)

    def migrate_schema(self):
        """For ``peluit_common.migrate``: over one connection, no pool."""
        if self.migrate is not None:
            with psycopg.connect(db_conninfo()) as conn:
                self.migrate(conn)

    def stop(self):
        if self.pool is not None:
            self.pool.close()

    def get_dependency(self, worker_ctx):
        return self.pool


def apply_schema(conn: psycopg.Connection, statements: str) -> None:
    """A module's idempotent schema statements, in one transaction (its ``migrate``)."""
    with conn.transaction():
        conn.execute(statements)
