"""Partner systems that file reports over intake's partner API (``peluit_contracts.partner``).

One credential per system, ``<name>.<secret>``: the secret is 32 random
bytes shown once and stored only as its SHA-256 (a random 256-bit secret
needs no slow hash), scoped to tenants, revocable. intake asks
``cases.partner_check`` with the hash it computed, so the secret itself never
crosses the broker either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from peluit_common.db import apply_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS partner_system (
    name text PRIMARY KEY,
    tenants text[] NOT NULL,
    secret_sha256 bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
)
"""
NAME = re.compile(r"[a-z0-9][a-z0-9\-]{1,40}")


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


def create(conn, name: str, tenants: list[str]) -> str:
    """A new credential for ``name`` (replacing an earlier one); returns it, once."""
    if not NAME.fullmatch(name) or not tenants:
        raise ValueError("a partner has a lowercase name and at least one tenant")
    with conn.transaction():
        known = {r[0] for r in conn.execute("SELECT code FROM tenant WHERE code = ANY(%s)", (tenants,))}
        if known != set(tenants):
            raise ValueError(f"unknown tenants: {sorted(set(tenants) - known)}")
        secret = secrets.token_urlsafe(32)
        conn.execute("INSERT INTO partner_system (name, tenants, secret_sha256) VALUES (%s, %s, %s)"
                     " ON CONFLICT (name) DO UPDATE SET tenants = EXCLUDED.tenants,"
                     " secret_sha256 = EXCLUDED.secret_sha256, created_at = now(), revoked_at = NULL",
                     (name, tenants, hashlib.sha256(secret.encode()).digest()))
    return f"{name}.{secret}"


def revoke(conn, name: str) -> bool:
    with conn.transaction():
        return conn.execute("UPDATE partner_system SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL",
                            (name,)).rowcount == 1


def check(conn, name, secret_sha256_hex) -> dict | None:
    """{"name", "tenants"} for a live credential, else None (unknown, revoked or wrong alike)."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or not isinstance(secret_sha256_hex, str):
        return None
    try:
        presented = bytes.fromhex(secret_sha256_hex)
    except ValueError:
        return None
    with conn.transaction():
        row = conn.execute("SELECT tenants, secret_sha256 FROM partner_system WHERE name = %s AND revoked_at IS NULL",
                           (name,)).fetchone()
    if row is None or not hmac.compare_digest(bytes(row[1]), presented):
        return None
    return {"name": name, "tenants": list(row[0])}
