"""The vault's check of vault-call tokens (``peluit_common.vault_call``):
cases' public key only, each token's id taken once (``vault_call_used``),
and every refused call recorded (``vault_call_refused``: when, which RPC,
why, and the officer a well-signed token named), with a metric.

The vault never sees an officer's bearer token: cases checked the officer's
session before it signed, and a call token is good for one command for at
most 60 seconds, so a session that ends cannot be replayed here.
"""

from __future__ import annotations

import logging
from datetime import datetime

from nameko.extensions import DependencyProvider
from prometheus_client import Counter

from peluit_common.db import Database, apply_schema
from peluit_common.vault_call import CallClaims, VaultCallError, VaultCallVerifier, load_public_key

from . import chain

log = logging.getLogger(__name__)

REFUSED_CALLS = Counter("peluit_vault_calls_refused_total", "Vault calls refused by reason", ["code"])

SCHEMA = """
CREATE TABLE IF NOT EXISTS vault_call_used (
    jti text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS vault_call_used_expires_idx ON vault_call_used (expires_at);
CREATE TABLE IF NOT EXISTS vault_call_refused (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    action text NOT NULL,
    code text NOT NULL,
    officer_id text
);
"""


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)
    chain.migrate(conn)  # vault_call_refused is one of the vault's chained logs


def take(conn, jti: str, expires_at: datetime) -> bool:
    """Take a token id once; False when it was taken before (a replay). Ids
    kept past their token's expiry (and a margin for clock leeway) go."""
    with conn.transaction():
        conn.execute("DELETE FROM vault_call_used WHERE expires_at < now() - interval '5 minutes'")
        return conn.execute("INSERT INTO vault_call_used (jti, expires_at) VALUES (%s, %s) "
                            "ON CONFLICT (jti) DO NOTHING RETURNING 1", (jti, expires_at)).fetchone() is not None


def record_refused(conn, action: str, code: str, officer_id: str | None) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO vault_call_refused (action, code, officer_id) VALUES (%s, %s, %s)",
                     (action, code, officer_id))


class CallChecker:
    """``verify(action, command)``: the call's officer, or ``VaultCallError``
    after ``record(action, code, officer_id)`` kept the refusal; ``take(jti,
    expires_at) -> bool`` takes a token id once (the tables above in the
    service, memory in unit tests)."""

    def __init__(self, public_key: bytes, take, record):
        self.verifier = VaultCallVerifier(public_key, take)
        self.record = record

    def verify(self, action: str, command: dict) -> CallClaims:
        try:
            return self.verifier.verify(action, command)
        except VaultCallError as err:
            REFUSED_CALLS.labels(err.code).inc()
            log.warning("vault call %s refused: %s", action, err.code)
            self.record(action, err.code, err.officer_id)
            raise


class VaultCalls(DependencyProvider):
    """The service's ``CallChecker`` on its own Database provider's pool."""

    def setup(self):
        self.public_key = load_public_key()
        self.checker: CallChecker | None = None

    def get_dependency(self, worker_ctx):
        if self.checker is None:
            pool = next(d for d in self.container.dependencies if isinstance(d, Database)).pool

            def take_once(jti: str, expires_at: datetime) -> bool:
                with pool.connection() as conn:
                    return take(conn, jti, expires_at)

            def record(action: str, code: str, officer_id: str | None) -> None:
                with pool.connection() as conn:
                    record_refused(conn, action, code, officer_id)

            self.checker = CallChecker(self.public_key, take_once, record)
        return self.checker
