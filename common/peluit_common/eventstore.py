"""The eventsourcing library's settings, from a service's own ``PELUIT_DB_*``.

The library is configured by environment-style mappings; services pass this
one to their ``Application(env=...)`` instead of touching ``os.environ``;
``stored`` reads one aggregate of a known kind.
"""

from __future__ import annotations

from eventsourcing.application import AggregateNotFoundError
from nameko.extensions import DependencyProvider

from .chain import checkpoint_once, register_key
from .settings import db_password, env, env_int, migrate_at_start


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

    def open(self, create_tables: bool):
        raise NotImplementedError

    def after_tables(self) -> None:
        """Called once the tables exist, before the first insert (the hash chain's trigger)."""

    def setup(self):
        # without migration at start, the migration job made the tables (and called after_tables)
        self.app = self._create() if migrate_at_start() else self.open(create_tables=False)

    def migrate_schema(self):
        self._create().close()

    def _create(self):
        from .chain import migration_lock
        from .settings import db_conninfo

        with migration_lock(db_conninfo()):  # one starting instance creates tables at a time
            app = self.open(create_tables=True)
        self.after_tables()
        return app

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


class Checkpoints(DependencyProvider):
    """A service's checkpoint signer for its logs (the key from a file, never the
    database; its public key is registered in ``chain_key`` so that bundles
    carry every key id). ``run(pool)`` signs each log's head that moved."""

    def __init__(self, load_signer, logs, schema):
        """``load_signer()``: the CheckpointSigner; ``schema(conn)``: where the logs are."""
        self.load_signer, self.logs, self.schema = load_signer, tuple(logs), schema

    def setup(self):
        self.signer = self.load_signer()
        self.registered = False

    def get_dependency(self, worker_ctx):
        return self

    def run(self, pool) -> list[dict]:
        with pool.connection() as conn:
            schema = self.schema(conn)
            if not self.registered:
                register_key(conn, schema, self.signer)
                self.registered = True
            return [made for log in self.logs if (made := checkpoint_once(conn, log, schema, self.signer))]
