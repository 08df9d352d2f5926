"""The eventsourcing library's settings, from a service's own ``PELUIT_DB_*``.

The library is configured by environment-style mappings; services pass this
one to their ``Application(env=...)`` instead of touching ``os.environ``;
``stored`` reads one aggregate of a known kind.
"""

from __future__ import annotations

from eventsourcing.application import AggregateNotFoundError
from nameko.extensions import DependencyProvider

from .settings import db_conninfo, db_password, env, env_int, migrate_at_start


def eventstore_pool_size() -> int:
    """Most connections the event store's pool opens (``PELUIT_EVENTSTORE_POOL_SIZE``,
    by default as many as the service's own pool, see ``db.pool_size``)."""
    from .db import pool_size

    return env_int("PELUIT_EVENTSTORE_POOL_SIZE", pool_size())


def eventsourcing_env(create_tables: bool | None = None) -> dict[str, str]:
    """``create_tables``: whether the library creates its tables (default: when
    this process migrates at start, see ``settings.migrate_at_start``)."""
    idle = min(env_int("PELUIT_EVENTSTORE_POOL_IDLE", 2), eventstore_pool_size())
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": env("PELUIT_DB_NAME"),
        "POSTGRES_HOST": env("PELUIT_DB_HOST", "127.0.0.1"),
        "POSTGRES_PORT": env("PELUIT_DB_PORT", "5432"),
        "POSTGRES_USER": env("PELUIT_DB_USER"),
        "POSTGRES_PASSWORD": db_password() or "",
        "POSTGRES_SCHEMA": env("PELUIT_DB_SCHEMA", "peluit"),
        # the library keeps POOL_SIZE open and opens up to MAX_OVERFLOW more
        "POSTGRES_POOL_SIZE": str(idle),
        "POSTGRES_MAX_OVERFLOW": str(eventstore_pool_size() - idle),
        "CREATE_TABLE": "y" if (migrate_at_start() if create_tables is None else create_tables) else "n",
    }


class EventStoreApp(DependencyProvider):
    """Gives each worker the service's one eventsourcing application (``open``).
    Its tables are made as the process starts, or by the migration job
    (``migrate_schema``) where ``PELUIT_MIGRATE_AT_START=0``; its pool counts
    in the connection budget (``max_connections``)."""

    # instances starting together on a new database raced on the library's CREATE TABLE IF NOT
    # EXISTS ("pg_type_typname_nsp_index"): one creates at a time
    creation_lock = 0x7065_6C75_6974_6573  # "peluites"

    def open(self, create_tables: bool):
        raise NotImplementedError

    def create(self):
        """The application, its tables created (idempotent), one instance at a time."""
        from .db import advisory_lock

        with advisory_lock(db_conninfo(), self.creation_lock):
            return self.open(create_tables=True)

    def setup(self):
        # without migration at start, the migration job made the tables
        self.app = self.create() if migrate_at_start() else self.open(create_tables=False)

    def migrate_schema(self):
        self.create().close()

    def max_connections(self) -> int:
        return eventstore_pool_size()

    def stop(self):
        self.app.close()

    def get_dependency(self, worker_ctx):
        return self.app


def stored(repository, aggregate_id, kind):
    """The aggregate ``aggregate_id`` from ``repository`` if it exists and is a ``kind``, else None
    (an id of another kind's aggregate is as unknown as a missing one)."""
    try:
        aggregate = repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return aggregate if isinstance(aggregate, kind) else None
