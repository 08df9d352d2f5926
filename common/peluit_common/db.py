"""A psycopg connection pool as a nameko dependency.

Queries wait through the eventlet hub (``peluit_common.green``), so a slow
query in one worker does not stall the others.
"""

from __future__ import annotations

from contextlib import contextmanager

import psycopg
from nameko.extensions import DependencyProvider
from psycopg_pool import ConnectionPool

from .settings import db_conninfo, env_float, env_int, migrate_at_start


def pool_size(default: int | None = None) -> int:
    """Most connections one pool of this process opens: ``PELUIT_DB_POOL_SIZE``,
    by default ``default`` or one per nameko worker (``PELUIT_MAX_WORKERS``, 10), as a worker
    holds at most one connection of a pool at a time. The connection budget
    (docs/operations.md#connection-budget) adds these up per deployment."""
    return env_int("PELUIT_DB_POOL_SIZE", default if default is not None else env_int("PELUIT_MAX_WORKERS", 10))


# seconds: first probe after 5 s of silence, then every 2 s, dead after 3 unanswered: ~11 s
KEEPALIVE = (5, 2, 3)


def release_dead_sessions(conn: psycopg.Connection) -> None:
    """The server ends a session whose client is gone or stuck, which frees the rows it locked: a
    leader's position row (relay, case index, envelope log, reporting follower) is taken over at the
    other instance's next tick. A killed process closes its socket at once; a host that vanished
    does not, and without keepalives the server would wait for it for hours (the kernel's default);
    a frozen process (stopped, swapping) answers keepalives, so a transaction left idle ends too."""
    conn.execute(f"SET tcp_keepalives_idle = {KEEPALIVE[0]}; SET tcp_keepalives_interval = {KEEPALIVE[1]};"
                 f" SET tcp_keepalives_count = {KEEPALIVE[2]}; SET idle_in_transaction_session_timeout = "
                 f"{int(env_float('PELUIT_DB_IDLE_IN_TRANSACTION_SECONDS', 300) * 1000)}")
    conn.commit()


def make_pool(conninfo: str | None = None, *, min_size: int = 1, max_size: int | None = None) -> ConnectionPool:
    pool = ConnectionPool(
        conninfo or db_conninfo(),
        min_size=min_size,
        max_size=max_size or pool_size(),
        open=False,
        kwargs={"autocommit": False},
        configure=release_dead_sessions,
    )
    pool.open(wait=True, timeout=30)
    return pool


# one instance migrates a database at a time: instances starting together on a new database (or on a
# release that adds tables) raced on CREATE TABLE IF NOT EXISTS ("pg_type_typname_nsp_index")
MIGRATION_LOCK = 0x7065_6C75_6974_6462  # "peluitdb"; an event store's creation has its own (peluit_common.chain)


@contextmanager
def advisory_lock(conninfo: str, key: int):
    """A session advisory lock on a connection of its own, held for the block (and released
    with the session if the process dies)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


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
            with advisory_lock(db_conninfo(), MIGRATION_LOCK), self.pool.connection() as conn:
                self.migrate(conn)

    def max_connections(self) -> int:
        return pool_size(self.default_size)

    def migrate_schema(self):
        """For ``peluit_common.migrate``: over one connection, no pool."""
        if self.migrate is not None:
            with advisory_lock(db_conninfo(), MIGRATION_LOCK), psycopg.connect(db_conninfo()) as conn:
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
