"""Configuration from the environment (12-factor).

Development gets safe local defaults (keys under ``.keys/``); with
``PELUIT_ENV=production`` a missing secret, or a setting whose default points at
this machine (a loopback host: fine beside ``make run``, wrong in a container),
is a start-up error that names it. ``peluit_local.required_settings`` derives
from these calls what each service needs in production, and the manifest test
holds compose and Kubernetes to it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_LOOPBACK = re.compile(r"(?:^|//|@)(?:127\.0\.0\.1|localhost)(?::|/|$)")


class ConfigError(RuntimeError):
    pass


def production() -> bool:
    return os.environ.get("PELUIT_ENV", "development") == "production"


def loopback(default: str) -> bool:
    """A default that names this machine: a development default only."""
    return bool(_LOOPBACK.search(default))


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value not in (None, ""):
        return value
    if default is None:
        raise ConfigError(f"environment variable {name} is required")
    if production() and loopback(default):
        raise ConfigError(f"environment variable {name} is required in production (the default {default} "
                          "is this machine)")
    return default


def env_int(name: str, default: int) -> int:
    return int(env(name, str(default)))


def env_float(name: str, default: float) -> float:
    return float(env(name, str(default)))


def migrate_at_start() -> bool:
    """``make run`` migrates as each process starts; a deployment sets
    ``PELUIT_MIGRATE_AT_START=0`` and runs ``python -m peluit_common.migrate``
    once per release, before the rollout."""
    return env("PELUIT_MIGRATE_AT_START", "1") != "0"


def keys_dir() -> Path:
    return Path(env("PELUIT_KEYS_DIR", ".keys")).resolve()


def secret_bytes(name: str, dev_filename: str) -> bytes:
    """Read a secret from the file named by ``{name}`` (``..._FILE`` style).

    In development the file defaults to ``$PELUIT_KEYS_DIR/{dev_filename}``;
    in production the variable must be set.
    """
    path = os.environ.get(name)
    if not path:
        if production():
            raise ConfigError(f"{name} must name a key file in production")
        path = str(keys_dir() / dev_filename)
    try:
        return Path(path).read_bytes().strip()
    except FileNotFoundError as exc:
        raise ConfigError(f"{name}: key file {path} not found (run `make keys`)") from exc


def db_conninfo(prefix: str = "PELUIT_DB") -> str:
    """libpq connection string for this service's own database and role."""
    parts = {
        "host": env(f"{prefix}_HOST", "127.0.0.1"),
        "port": env(f"{prefix}_PORT", "5432"),
        "dbname": env(f"{prefix}_NAME"),
        "user": env(f"{prefix}_USER"),
        "application_name": application_name(),
    }
    password = db_password(prefix)
    if password:
        parts["password"] = password
    return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())


def application_name() -> str:
    """``<service>/<instance>`` (``cases/1``) with ``PELUIT_INSTANCE`` set, else ``<service>``: so
    ``pg_stat_activity`` and ``pg_locks`` say which instance holds a leader's row (docs/operations.md#scaling)."""
    service, instance = env("PELUIT_SERVICE", "peluit"), os.environ.get("PELUIT_INSTANCE", "")
    return f"{service}/{instance}" if instance else service


def db_password(prefix: str = "PELUIT_DB") -> str | None:
    """``{prefix}_PASSWORD``, or the content of the file ``{prefix}_PASSWORD_FILE``."""
    path = os.environ.get(f"{prefix}_PASSWORD_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(f"{prefix}_PASSWORD") or None


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
