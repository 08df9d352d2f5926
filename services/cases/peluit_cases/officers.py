"""Officer accounts: password (Argon2id) and TOTP second factor.

Plain tables in the cases database, like the tenant catalogue: accounts are
configuration, not case history. The TOTP secret is stored encrypted
(AES-256-GCM under a key outside the database, the officer id as associated
data, so a ciphertext copied onto another row does not open). Every function
takes a psycopg 3 connection (autocommit off) and runs its own transaction.
Argon2id is CPU-bound (tens of ms): it runs off the eventlet hub when eventlet
is patched in, so a login does not stall the other workers.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventlet import patcher, tpool

from peluit_common.auth import ROLES, TENANT_RE
from peluit_common.settings import ConfigError, secret_bytes

from .errors import CasesError

SCHEMA = """
CREATE TABLE IF NOT EXISTS officer (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    username text NOT NULL UNIQUE,
    display_name text NOT NULL,
    password_hash text NOT NULL,
    totp_secret_enc bytea NOT NULL,
    totp_last_step bigint NOT NULL DEFAULT 0,
    roles text[] NOT NULL CHECK (cardinality(roles) > 0),
    active boolean NOT NULL DEFAULT true,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid
);
CREATE INDEX IF NOT EXISTS officer_tenant_idx ON officer (tenant);
"""

USERNAME_RE = re.compile(r"[a-z0-9._-]{3,64}")
MIN_PASSWORD_CHARS = 12
# Argon2 copes with long inputs, but a megabyte "password" is only a DoS
MAX_PASSWORD_CHARS = 1024
MAX_DISPLAY_NAME_CHARS = 200
MAX_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)
TOTP_INTERVAL, TOTP_DIGITS, TOTP_WINDOW = 30, 6, 1
_NONCE_BYTES = 12

_hasher = PasswordHasher()  # Argon2id, argon2-cffi's default (RFC 9106) parameters

# the placeholders of the catalogue's texts (peluit_contracts.i18n.cases)
_PARAMS = {"weak_password": {"min": MIN_PASSWORD_CHARS}, "invalid_role": {"roles": ", ".join(ROLES)}}


class LoginFailed(CasesError):
    """``code``: invalid_credentials (unknown user, wrong password and wrong
    or reused TOTP alike, so nothing is revealed), locked, inactive."""


class OfficerError(CasesError, ValueError):
    """An officer account that cannot be created as asked, by ``code``."""

    def __init__(self, code: str):
        super().__init__(code, **_PARAMS.get(code, {}))


@dataclass(frozen=True)
class Officer:
    """What the rest of the service may know of an account: no hash, no secret."""

    id: str
    tenant: str
    username: str
    display_name: str
    roles: tuple[str, ...]
    active: bool


def load_totp_key() -> bytes:
    """The AES-256 key for TOTP secrets (hex file, 32 bytes)."""
    try:
        key = bytes.fromhex(secret_bytes("PELUIT_OFFICER_TOTP_KEY_FILE", "officer-totp.key").decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        key = b""
    if len(key) != 32:
        raise ConfigError("PELUIT_OFFICER_TOTP_KEY_FILE: the key file must hold 32 bytes as hex")
    return key


def migrate(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute(SCHEMA)


# -- helpers ---------------------------------------------------------------

def _off_hub(fn, *args):
    # a real thread only when eventlet owns threading; the CLI calls directly
    if patcher.is_monkey_patched("thread"):
        return tpool.execute(fn, *args)
    return fn(*args)


def _verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    # same parameters as real hashes, so an unknown username costs one full verify too
    return _hasher.hash(secrets.token_urlsafe(32))


def _encrypt_secret(totp_key: bytes, officer_id: str, secret: str) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(totp_key).encrypt(nonce, secret.encode("ascii"), officer_id.encode("ascii"))


def _decrypt_secret(totp_key: bytes, officer_id: str, blob: bytes) -> str:
    blob = bytes(blob)
    return AESGCM(totp_key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:],
                                    officer_id.encode("ascii")).decode("ascii")


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _matching_step(secret: str, code: str, now: datetime, last_step: int) -> int | None:
    """The newest time step within the window whose code equals ``code`` and
    that is later than ``last_step`` (a used code never works twice)."""
    code = code.replace(" ", "") if isinstance(code, str) else ""
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_INTERVAL)
    current = totp.timecode(now)
    found = None
    # compare every candidate, so timing does not tell which one matched
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code) and step > last_step:
            found = step
    return found


def _row_officer(row) -> Officer:
    officer_id, tenant, username, display_name, roles, active = row
    return Officer(id=str(officer_id), tenant=tenant, username=username, display_name=display_name,
                   roles=tuple(roles), active=bool(active))


_ACCOUNT_COLUMNS = ("id, tenant, username, display_name, roles, active, password_hash, totp_secret_enc, "
                    "totp_last_step, failed_logins, locked_until")


def _record_failure(conn, officer_id, failed_logins: int, now: datetime) -> None:
    """Count a failure; the fifth in a row locks the account and restarts the count."""
    if failed_logins + 1 >= MAX_FAILURES:
        conn.execute("UPDATE officer SET failed_logins = 0, locked_until = %s WHERE id = %s",
                     (now + LOCK_DURATION, officer_id))
    else:
        conn.execute("UPDATE officer SET failed_logins = failed_logins + 1 WHERE id = %s", (officer_id,))


def _consume_step(conn, officer_id, step: int) -> bool:
    # the conditional update is the replay guard, even without the row lock
    cur = conn.execute("UPDATE officer SET totp_last_step = %s WHERE id = %s AND totp_last_step < %s",
                       (step, officer_id, step))
    return cur.rowcount == 1


# -- API ---------------------------------------------------------------------

def create_officer(conn: psycopg.Connection, totp_key: bytes, *, tenant: str, username: str,
                   display_name: str, password: str, roles, created_by: str | None = None
                   ) -> tuple[str, str]:
    """A new account; returns ``(officer_id, totp_secret)``. The base32 secret
    is shown to the officer once for the authenticator app and never again."""
    if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
        raise OfficerError("invalid_tenant")
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise OfficerError("invalid_username")
    display_name = display_name.strip() if isinstance(display_name, str) else ""
    if not display_name or len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise OfficerError("invalid_display_name")
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise OfficerError("weak_password")
    if isinstance(roles, str):
        raise OfficerError("invalid_role")
    roles = tuple(dict.fromkeys(roles or ()))
    if not roles or any(role not in ROLES for role in roles):
        raise OfficerError("invalid_role")
    creator = uuid.UUID(str(created_by)) if created_by is not None else None
    if len(totp_key) != 32:
        raise ValueError("the TOTP key is 32 bytes")

    officer_id = str(uuid.uuid4())
    secret = pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's recommendation
    password_hash = _off_hub(_hasher.hash, password)
    try:
        with conn.transaction():
            conn.execute(
                "INSERT INTO officer (id, tenant, username, display_name, password_hash, totp_secret_enc, "
                "roles, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (officer_id, tenant, username, display_name, password_hash,
                 _encrypt_secret(totp_key, officer_id, secret), list(roles), creator),
            )
    except psycopg.errors.UniqueViolation:
        raise OfficerError("username_taken") from None
    return officer_id, secret


def authenticate(conn: psycopg.Connection, totp_key: bytes, username: str, password: str,
                 totp_code: str, now: datetime | None = None) -> Officer:
    """The officer when password and TOTP code are right; else ``LoginFailed``.

    The account row is locked while it is checked, so parallel guesses are
    counted one after another and cannot outrun the lockout.
    """
    now = _now(now)
    # ASCII only before lower(): Unicode case folding maps some symbols onto letters
    username = username.lower() if isinstance(username, str) and username.isascii() else ""
    password = password if isinstance(password, str) else ""
    if not USERNAME_RE.fullmatch(username) or len(password) > MAX_PASSWORD_CHARS:
        _off_hub(_verify_password, _dummy_hash(), password[:MAX_PASSWORD_CHARS])
        raise LoginFailed("invalid_credentials")

    outcome, officer = "invalid_credentials", None
    with conn.transaction():
        row = conn.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM officer WHERE username = %s FOR UPDATE",
                           (username,)).fetchone()
        if row is None:
            _off_hub(_verify_password, _dummy_hash(), password)
        else:
            (officer_id, tenant, uname, display_name, roles, active, password_hash, secret_enc,
             last_step, failed_logins, locked_until) = row
            if locked_until is not None and locked_until > now:
                outcome = "locked"
            else:
                password_ok = _off_hub(_verify_password, password_hash, password)
                step = None
                if password_ok:
                    try:
                        secret = _decrypt_secret(totp_key, str(officer_id), secret_enc)
                    except InvalidTag:
                        # wrong key or a moved ciphertext: nobody can log in with it
                        secret = None
                    if secret is not None:
                        step = _matching_step(secret, totp_code, now, last_step)
                if step is None or not _consume_step(conn, officer_id, step):
                    _record_failure(conn, officer_id, failed_logins, now)
                elif not active:
                    # only someone holding both factors learns that the account is off
                    outcome = "inactive"
                else:
                    new_hash = (_off_hub(_hasher.hash, password)
                                if _hasher.check_needs_rehash(password_hash) else password_hash)
                    conn.execute("UPDATE officer SET failed_logins = 0, locked_until = NULL, "
                                 "password_hash = %s WHERE id = %s", (new_hash, officer_id))
                    outcome = None
                    officer = _row_officer((officer_id, tenant, uname, display_name, roles, active))
    # raised after the commit: the failure count must survive the refusal
    if outcome is not None:
        raise LoginFailed(outcome)
    return officer


def verify_totp(conn: psycopg.Connection, totp_key: bytes, officer_id: str, code: str,
                now: datetime | None = None) -> bool:
    """A fresh second-factor confirmation (e.g. before a sensitive decision).

    Same replay rule as at login, and a wrong code counts towards the lockout,
    so a stolen session cannot try all million codes.
    """
    now = _now(now)
    try:
        officer_uuid = uuid.UUID(str(officer_id))
    except ValueError:
        return False
    ok = False
    with conn.transaction():
        row = conn.execute(
            "SELECT active, totp_secret_enc, totp_last_step, failed_logins, locked_until "
            "FROM officer WHERE id = %s FOR UPDATE", (officer_uuid,)).fetchone()
        if row is None:
            return False
        active, secret_enc, last_step, failed_logins, locked_until = row
        if not active or (locked_until is not None and locked_until > now):
            return False
        try:
            secret = _decrypt_secret(totp_key, str(officer_uuid), secret_enc)
        except InvalidTag:
            secret = None
        step = _matching_step(secret, code, now, last_step) if secret is not None else None
        if step is not None and _consume_step(conn, officer_uuid, step):
            ok = True
        else:
            _record_failure(conn, officer_uuid, failed_logins, now)
    return ok


def get_officer(conn: psycopg.Connection, officer_id: str) -> Officer | None:
    try:
        officer_uuid = uuid.UUID(str(officer_id))
    except ValueError:
        return None
    with conn.transaction():
        row = conn.execute("SELECT id, tenant, username, display_name, roles, active FROM officer WHERE id = %s",
                           (officer_uuid,)).fetchone()
    return _row_officer(row) if row else None
