"""Officer accounts: password (Argon2id), TOTP second factor, sessions.

Plain tables in the cases database, like the tenant catalogue: accounts are
configuration, not case history. The TOTP secret is stored encrypted
(AES-256-GCM under a key outside the database, the officer id as associated
data, so a ciphertext copied onto another row does not open). An account has
neither password nor secret until its officer enrols (``enrolment``); its
``session_version`` ends every token issued before it moved. Every function
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

from peluit_common.auth import ROLES, TENANT_RE, SessionState
from peluit_common.settings import ConfigError, secret_bytes
from peluit_contracts.reports import EMAIL_PATTERN

from . import admin_log
from .errors import CasesError

SCHEMA = """
SELECT pg_advisory_xact_lock(hashtext('peluit_cases.officers.migrate'));
CREATE TABLE IF NOT EXISTS officer (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    username text NOT NULL UNIQUE,
    display_name text NOT NULL,
    password_hash text,
    totp_secret_enc bytea,
    totp_last_step bigint NOT NULL DEFAULT 0,
    roles text[] NOT NULL CHECK (cardinality(roles) > 0),
    active boolean NOT NULL DEFAULT true,
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid
);
CREATE INDEX IF NOT EXISTS officer_tenant_idx ON officer (tenant);
-- accounts before enrolment: no password or secret until the officer chooses them
ALTER TABLE officer ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE officer ALTER COLUMN totp_secret_enc DROP NOT NULL;
ALTER TABLE officer ADD COLUMN IF NOT EXISTS email text;
ALTER TABLE officer ADD COLUMN IF NOT EXISTS enrolment_code_hash text;
ALTER TABLE officer ADD COLUMN IF NOT EXISTS enrolment_expires_at timestamptz;
ALTER TABLE officer ADD COLUMN IF NOT EXISTS session_version integer NOT NULL DEFAULT 1;
ALTER TABLE officer ADD COLUMN IF NOT EXISTS deactivated_at timestamptz;
DO $$ BEGIN
    -- once, when the column arrives: every account made before enrolment existed counts as enrolled
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()
                   AND table_name = 'officer' AND column_name = 'enrolled_at') THEN
        ALTER TABLE officer ADD COLUMN enrolled_at timestamptz;
        UPDATE officer SET enrolled_at = created_at;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'officer_enrolled_has_factors') THEN
        ALTER TABLE officer ADD CONSTRAINT officer_enrolled_has_factors
            CHECK (enrolled_at IS NULL OR (password_hash IS NOT NULL AND totp_secret_enc IS NOT NULL));
    END IF;
END $$;
"""

USERNAME_RE = re.compile(r"[a-z0-9._-]{3,64}")
EMAIL_RE = re.compile(EMAIL_PATTERN, re.ASCII)
MAX_EMAIL_CHARS = 320
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
    """``code``: invalid_credentials (unknown user, not enrolled, wrong password
    and wrong or reused TOTP alike, so nothing is revealed), locked, inactive."""


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
    session_version: int = 1


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
    """Idempotent; one starting instance at a time (the advisory lock)."""
    with conn.transaction():
        conn.execute(SCHEMA)
    admin_log.migrate(conn)


# -- helpers ---------------------------------------------------------------

def off_hub(fn, *args):
    # a real thread only when eventlet owns threading; the CLI calls directly
    if patcher.is_monkey_patched("thread"):
        return tpool.execute(fn, *args)
    return fn(*args)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def hash_password(password: str) -> str:
    return off_hub(_hasher.hash, password)


@functools.cache
def dummy_hash() -> str:
    # same parameters as real hashes, so an unknown username costs one full verify too
    return _hasher.hash(secrets.token_urlsafe(32))


def encrypt_secret(totp_key: bytes, officer_id: str, secret: str) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(totp_key).encrypt(nonce, secret.encode("ascii"), officer_id.encode("ascii"))


def decrypt_secret(totp_key: bytes, officer_id: str, blob: bytes) -> str:
    blob = bytes(blob)
    return AESGCM(totp_key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:],
                                    officer_id.encode("ascii")).decode("ascii")


def now_or(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def matching_step(secret: str, code: str, now: datetime, last_step: int) -> int | None:
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


def row_officer(row) -> Officer:
    officer_id, tenant, username, display_name, roles, active, version = row
    return Officer(id=str(officer_id), tenant=tenant, username=username, display_name=display_name,
                   roles=tuple(roles), active=bool(active), session_version=version)


OFFICER_COLUMNS = "id, tenant, username, display_name, roles, active, session_version"
_ACCOUNT_COLUMNS = (f"{OFFICER_COLUMNS}, password_hash, totp_secret_enc, totp_last_step, failed_logins, "
                    "locked_until, enrolled_at")


def record_failure(conn, officer_id, failed_logins: int, now: datetime) -> None:
    """Count a failure; the fifth in a row locks the account and restarts the count."""
    if failed_logins + 1 >= MAX_FAILURES:
        conn.execute("UPDATE officer SET failed_logins = 0, locked_until = %s WHERE id = %s",
                     (now + LOCK_DURATION, officer_id))
    else:
        conn.execute("UPDATE officer SET failed_logins = failed_logins + 1 WHERE id = %s", (officer_id,))


def consume_step(conn, officer_id, step: int) -> bool:
    # the conditional update is the replay guard, even without the row lock
    cur = conn.execute("UPDATE officer SET totp_last_step = %s WHERE id = %s AND totp_last_step < %s",
                       (step, officer_id, step))
    return cur.rowcount == 1


# -- account rules (shared with enrolment and administration) ------------------

def check_account(tenant, username, display_name, roles, email=None) -> tuple[str, str, str, tuple, str | None]:
    """A new account's fields, normalised, or ``OfficerError``."""
    if not isinstance(tenant, str) or not TENANT_RE.fullmatch(tenant):
        raise OfficerError("invalid_tenant")
    if not isinstance(username, str) or not USERNAME_RE.fullmatch(username):
        raise OfficerError("invalid_username")
    display_name = display_name.strip() if isinstance(display_name, str) else ""
    if not display_name or len(display_name) > MAX_DISPLAY_NAME_CHARS:
        raise OfficerError("invalid_display_name")
    if email is not None and (not isinstance(email, str) or len(email) > MAX_EMAIL_CHARS
                              or not EMAIL_RE.fullmatch(email)):
        raise OfficerError("invalid_email")
    return tenant, username, display_name, check_roles(roles), email


def check_roles(roles) -> tuple[str, ...]:
    if isinstance(roles, str):
        raise OfficerError("invalid_role")
    roles = tuple(dict.fromkeys(roles or ()))
    if not roles or any(role not in ROLES for role in roles):
        raise OfficerError("invalid_role")
    return roles


def check_password(password, username: str) -> str:
    """12 to 1024 characters, and not the username."""
    if not isinstance(password, str) or not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise OfficerError("weak_password")
    if password.strip().lower() == username.lower():
        raise OfficerError("password_is_username")
    return password


def insert_account(conn, officer_id: str, tenant: str, username: str, display_name: str, roles, email,
                   created_by, **columns) -> None:
    """The row of a new account, inside the caller's transaction."""
    names = ["id", "tenant", "username", "display_name", "roles", "email", "created_by", *columns]
    values = [officer_id, tenant, username, display_name, list(roles), email,
              uuid.UUID(str(created_by)) if created_by is not None else None, *columns.values()]
    try:
        with conn.transaction():  # a savepoint: the caller's transaction survives a taken name
            conn.execute(f"INSERT INTO officer ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                         values)
    except psycopg.errors.UniqueViolation:
        raise OfficerError("username_taken") from None


# -- API ---------------------------------------------------------------------

def create_officer(conn: psycopg.Connection, totp_key: bytes, *, tenant: str, username: str,
                   display_name: str, password: str, roles, created_by: str | None = None,
                   email: str | None = None) -> tuple[str, str]:
    """An account enrolled at once with a known password; returns
    ``(officer_id, totp_secret)``. Only for code with direct database access
    (the system tests' staff, fixtures): the HTTP API and the command line
    create accounts through ``enrolment.invite`` and never take this path."""
    tenant, username, display_name, roles, email = check_account(tenant, username, display_name, roles, email)
    check_password(password, username)
    if len(totp_key) != 32:
        raise ValueError("the TOTP key is 32 bytes")

    officer_id = str(uuid.uuid4())
    secret = pyotp.random_base32()  # 32 base32 characters: 160 bits, RFC 4226's recommendation
    password_hash = hash_password(password)
    with conn.transaction():
        insert_account(conn, officer_id, tenant, username, display_name, roles, email, created_by,
                       password_hash=password_hash, totp_secret_enc=encrypt_secret(totp_key, officer_id, secret),
                       enrolled_at=datetime.now(timezone.utc))
        admin_log.record(conn, officer_id=created_by, tenant=tenant, kind="officer_created", subject=officer_id,
                         details={"username": username, "roles": list(roles), "via": "direct"})
    return officer_id, secret


def _factors_match(totp_key: bytes, officer_id, password_hash, secret_enc, last_step: int, password: str,
                   totp_code, now: datetime) -> int | None:
    """The TOTP step when both the password and the code are right, else None.
    An account that has not enrolled has neither and matches nothing, at the
    cost of one full verification like any other."""
    if password_hash is None or secret_enc is None:
        off_hub(verify_password, dummy_hash(), password)
        return None
    if not off_hub(verify_password, password_hash, password):
        return None
    try:
        secret = decrypt_secret(totp_key, str(officer_id), secret_enc)
    except InvalidTag:
        # wrong key or a moved ciphertext: nobody can log in with it
        return None
    return matching_step(secret, totp_code, now, last_step)


def authenticate(conn: psycopg.Connection, totp_key: bytes, username: str, password: str,
                 totp_code: str, now: datetime | None = None) -> Officer:
    """The officer when password and TOTP code are right; else ``LoginFailed``.

    The account row is locked while it is checked, so parallel guesses are
    counted one after another and cannot outrun the lockout.
    """
    now = now_or(now)
    # ASCII only before lower(): Unicode case folding maps some symbols onto letters
    username = username.lower() if isinstance(username, str) and username.isascii() else ""
    password = password if isinstance(password, str) else ""
    if not USERNAME_RE.fullmatch(username) or len(password) > MAX_PASSWORD_CHARS:
        off_hub(verify_password, dummy_hash(), password[:MAX_PASSWORD_CHARS])
        raise LoginFailed("invalid_credentials")

    outcome, officer = "invalid_credentials", None
    with conn.transaction():
        row = conn.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM officer WHERE username = %s FOR UPDATE",
                           (username,)).fetchone()
        if row is None:
            off_hub(verify_password, dummy_hash(), password)
        else:
            (officer_id, tenant, uname, display_name, roles, active, version, password_hash, secret_enc,
             last_step, failed_logins, locked_until, enrolled_at) = row
            if locked_until is not None and locked_until > now:
                outcome = "locked"
                # the same Argon2 work as any other answer: a locked account must not answer faster
                off_hub(verify_password, password_hash or dummy_hash(), password)
            else:
                step = _factors_match(totp_key, officer_id, password_hash, secret_enc, last_step, password,
                                      totp_code, now)
                if step is None or enrolled_at is None or not consume_step(conn, officer_id, step):
                    record_failure(conn, officer_id, failed_logins, now)
                elif not active:
                    # only someone holding both factors learns that the account is off
                    outcome = "inactive"
                else:
                    new_hash = (hash_password(password)
                                if _hasher.check_needs_rehash(password_hash) else password_hash)
                    conn.execute("UPDATE officer SET failed_logins = 0, locked_until = NULL, "
                                 "password_hash = %s WHERE id = %s", (new_hash, officer_id))
                    outcome = None
                    officer = row_officer((officer_id, tenant, uname, display_name, roles, active, version))
    # raised after the commit: the failure count must survive the refusal
    if outcome is not None:
        raise LoginFailed(outcome)
    return officer


def change_password(conn: psycopg.Connection, totp_key: bytes, officer_id: str, current: str, new: str,
                    totp_code: str, now: datetime | None = None) -> Officer:
    """The officer's own new password, proven with the current one and a fresh
    TOTP code (a failure counts towards the lockout, as at login). Every other
    session ends; returns the account with its new session version.

    ``OfficerError`` for a new password that breaks the rules; ``LoginFailed``:
    reauthentication_failed (wrong password or code, alike), locked."""
    now = now_or(now)
    officer = get_officer(conn, officer_id)
    if officer is None:
        raise LoginFailed("reauthentication_failed")
    check_password(new, officer.username)
    new_hash = hash_password(new)
    current = current if isinstance(current, str) and len(current) <= MAX_PASSWORD_CHARS else ""
    outcome = "reauthentication_failed"
    with conn.transaction():
        (officer_uuid, tenant, uname, display_name, roles, active, version, password_hash, secret_enc, last_step,
         failed_logins, locked_until, enrolled_at) = conn.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM officer WHERE id = %s FOR UPDATE", (officer.id,)).fetchone()
        if locked_until is not None and locked_until > now:
            outcome = "locked"
        else:
            step = _factors_match(totp_key, officer_uuid, password_hash, secret_enc, last_step, current, totp_code,
                                  now)
            if step is None or not active or enrolled_at is None or not consume_step(conn, officer_uuid, step):
                record_failure(conn, officer_uuid, failed_logins, now)
            else:
                version = conn.execute(
                    "UPDATE officer SET password_hash = %s, failed_logins = 0, locked_until = NULL, "
                    "session_version = session_version + 1 WHERE id = %s RETURNING session_version",
                    (new_hash, officer_uuid)).fetchone()[0]
                admin_log.record(conn, officer_id=officer.id, tenant=tenant, kind="password_changed",
                                 subject=officer.id)
                outcome = None
    if outcome is not None:
        raise LoginFailed(outcome)
    return row_officer((officer_uuid, tenant, uname, display_name, roles, active, version))


def verify_totp(conn: psycopg.Connection, totp_key: bytes, officer_id: str, code: str,
                now: datetime | None = None) -> bool:
    """A fresh second-factor confirmation (e.g. before a sensitive decision).

    Same replay rule as at login, and a wrong code counts towards the lockout,
    so a stolen session cannot try all million codes.
    """
    now = now_or(now)
    try:
        officer_uuid = uuid.UUID(str(officer_id))
    except ValueError:
        return False
    ok = False
    with conn.transaction():
        row = conn.execute(
            "SELECT active, totp_secret_enc, totp_last_step, failed_logins, locked_until, enrolled_at "
            "FROM officer WHERE id = %s FOR UPDATE", (officer_uuid,)).fetchone()
        if row is None:
            return False
        active, secret_enc, last_step, failed_logins, locked_until, enrolled_at = row
        if not active or enrolled_at is None or (locked_until is not None and locked_until > now):
            return False
        try:
            secret = decrypt_secret(totp_key, str(officer_uuid), secret_enc)
        except InvalidTag:
            secret = None
        step = matching_step(secret, code, now, last_step) if secret is not None else None
        if step is not None and consume_step(conn, officer_uuid, step):
            ok = True
        else:
            record_failure(conn, officer_uuid, failed_logins, now)
    return ok


def get_officer(conn: psycopg.Connection, officer_id: str) -> Officer | None:
    try:
        officer_uuid = uuid.UUID(str(officer_id))
    except ValueError:
        return None
    with conn.transaction():
        row = conn.execute(f"SELECT {OFFICER_COLUMNS} FROM officer WHERE id = %s", (officer_uuid,)).fetchone()
    return row_officer(row) if row else None


# -- sessions ----------------------------------------------------------------------------------

def session_state(conn: psycopg.Connection, officer_id: str) -> SessionState | None:
    """What ``OfficerAuth`` compares a token with (cases reads it here, the
    other services through the ``cases.officer_session`` RPC)."""
    officer = get_officer(conn, officer_id)
    return session_of(officer) if officer is not None else None


def session_of(officer: Officer) -> SessionState:
    return SessionState(active=officer.active, session_version=officer.session_version, roles=officer.roles)


def end_sessions(conn: psycopg.Connection, officer_id: str) -> None:
    """Every token of the officer ends on its next request (logout)."""
    with conn.transaction():
        conn.execute("UPDATE officer SET session_version = session_version + 1 WHERE id = %s",
                     (uuid.UUID(str(officer_id)),))
