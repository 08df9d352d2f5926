"""The eventsourcing library's settings, from a service's own ``PELUIT_DB_*``.

The library is configured by environment-style mappings; services pass this
one to their ``Application(env=...)`` instead of touching ``os.environ``.
"""

from __future__ import annotations

from .settings import db_password, env, migrate_at_start


def eventsourcing_env(create_tables: bool | None = None) -> dict[str, str]:
    """``create_tables``: whether the library creates its tables (default: when
    this process migrates at start, see ``settings.migrate_at_start``)."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": env("PELUIT_DB_NAME"),
        "POSTGRES_HOST": env("PELUIT_DB_HOST", "127.0.0.1"),
        "POSTGRES_PORT": env("PELUIT_DB_PORT", "5432"),
        "POSTGRES_USER": env("PELUIT_DB_USER"),
        "POSTGRES_PASSWORD": db_password() or "",
        "POSTGRES_SCHEMA": env("PELUIT_DB_SCHEMA", "peluit"),
        "POSTGRES_POOL_SIZE": env("PELUIT_DB_POOL_SIZE", "10"),
        "POSTGRES_MAX_OVERFLOW": env("PELUIT_DB_POOL_OVERFLOW", "10"),
        "CREATE_TABLE": "y" if (migrate_at_start() if create_tables is None else create_tables) else "n",
    }
