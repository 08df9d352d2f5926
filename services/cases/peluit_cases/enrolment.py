"""Enrolment: the officer chooses their own password and TOTP secret.

An administrator creates the account (``invite``) or resets its factors
(``officer_admin.reset_factor``) and is shown a one-time enrolment code once;
the database keeps only its HMAC-SHA256 under a key derived from the TOTP key
file, bound to the officer id. With the code the officer starts (``start``:
the code is spent, the TOTP secret is made now and shown to them alone) and,
with the short-lived enrolment token that step answers, completes
(``complete``: a password of their own and a code from the new secret). So no
administrator ever holds another officer's password or second factor.

A wrong, expired, used or unknown code is one and the same refusal, checked in
constant time; wrong codes count towards the account's lockout as at login.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import pyotp
from cryptography.exceptions import InvalidTag

from peluit_common.settings import ConfigError, env_int

from . import admin_log
from .errors import CasesError
from .officers import (
    USERNAME_RE,
    Officer,
    check_account,
    check_password,
    decrypt_secret,
    encrypt_secret,
    hash_password,
    insert_account,
    matching_step,
    now_or,
    record_failure,
    row_officer,
)

# no 0/O, 1/I/L: read aloud or copied from paper without doubt; 20 of these 31 symbols are 99 bits
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 20
CODE_RE = re.compile(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
ENROLMENT_TOKEN_SECONDS = 600
_CODE_CONTEXT = b"peluit officer enrolment code v1"
_NOBODY = "00000000-0000-0000-0000-000000000000"


class EnrolmentFailed(CasesError):
    """``invalid_enrolment`` (every kind of bad code or token alike) or
    ``totp_invalid`` (the code from the new secret is wrong: try again)."""


@dataclass(frozen=True)
class Invitation:
    """What the administrator is shown once: the code is nowhere else in clear."""

    officer_id: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class Started:
    """The first step's result, for the enrolling officer only."""

    officer_id: str
    username: str
    session_version: int
    secret: str


def enrolment_hours() -> int:
    hours = env_int("PELUIT_ENROLMENT_HOURS", 24)
    if not 1 <= hours <= 24 * 14:
        raise ConfigError("PELUIT_ENROLMENT_HOURS must be between 1 and 336")
    return hours


def normalise_code(code) -> str:
    """Codes are read off a screen or paper: spaces, hyphens and case do not count."""
    if not isinstance(code, str) or not code.isascii():
        return ""
    return code.replace(" ", "").replace("-", "").upper()


def code_hash(totp_key: bytes, officer_id: str, code: str) -> str:
    key = hmac.new(totp_key, _CODE_CONTEXT, hashlib.sha256).digest()
    return hmac.new(key, f"{officer_id}:{code}".encode("ascii"), hashlib.sha256).hexdigest()


def fresh_code(totp_key: bytes, officer_id: str, now: datetime) -> tuple[Invitation, str]:
    """A new code for an account and the hash to store for it."""
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    invitation = Invitation(officer_id=officer_id, code=code, expires_at=now + timedelta(hours=enrolment_hours()))
    return invitation, code_hash(totp_key, officer_id, code)


def invite(conn: psycopg.Connection, totp_key: bytes, *, tenant: str, username: str, display_name: str, roles,
           email: str | None = None, created_by: str | None = None, via: str = "api",
           now: datetime | None = None) -> Invitation:
    """A new account awaiting enrolment (no password, no secret), recorded in
    the admin change log in the same transaction; the code is returned once."""
    tenant, username, display_name, roles, email = check_account(tenant, username, display_name, roles, email)
    officer_id = str(uuid.uuid4())
    invitation, hashed = fresh_code(totp_key, officer_id, now_or(now))
    with conn.transaction():
        insert_account(conn, officer_id, tenant, username, display_name, roles, email, created_by,
                       enrolment_code_hash=hashed, enrolment_expires_at=invitation.expires_at)
        admin_log.record(conn, officer_id=created_by, tenant=tenant, kind="officer_created", subject=officer_id,
                         details={"username": username, "roles": list(roles), "via": via})
    return invitation


def start(conn: psycopg.Connection, totp_key: bytes, username, code, now: datetime | None = None) -> Started:
    """Spend the code and make the officer's TOTP secret; ``EnrolmentFailed``
    (invalid_enrolment) for anything else, after the same work."""
    now = now_or(now)
    username = username.lower() if isinstance(username, str) and username.isascii() else ""
    code = normalise_code(code)
    if not USERNAME_RE.fullmatch(username) or not CODE_RE.fullmatch(code):
        hmac.compare_digest(code_hash(totp_key, _NOBODY, code[:64]), "0" * 64)
        raise EnrolmentFailed("invalid_enrolment")
    started = None
    with conn.transaction():
        row = conn.execute(
            "SELECT id, active, enrolled_at, enrolment_code_hash, enrolment_expires_at, failed_logins, locked_until "
            "FROM officer WHERE username = %s FOR UPDATE", (username,)).fetchone()
        if row is None:
            hmac.compare_digest(code_hash(totp_key, _NOBODY, code), "0" * 64)
        else:
            officer_id, active, enrolled_at, stored, expires_at, failed_logins, locked_until = row
            matches = hmac.compare_digest(code_hash(totp_key, str(officer_id), code), stored or "0" * 64)
            locked = locked_until is not None and locked_until > now
            if matches and stored and active and enrolled_at is None and expires_at > now and not locked:
                secret = pyotp.random_base32()  # 160 bits, RFC 4226's recommendation
                version = conn.execute(
                    "UPDATE officer SET enrolment_code_hash = NULL, enrolment_expires_at = %s, totp_secret_enc = %s, "
                    "password_hash = NULL, totp_last_step = 0, failed_logins = 0, locked_until = NULL, "
                    "session_version = session_version + 1 WHERE id = %s RETURNING session_version",
                    (now + timedelta(seconds=ENROLMENT_TOKEN_SECONDS),
                     encrypt_secret(totp_key, str(officer_id), secret), officer_id)).fetchone()[0]
                started = Started(officer_id=str(officer_id), username=username, session_version=version,
                                  secret=secret)
            elif stored and not locked:
                # only accounts awaiting enrolment count: an enrolled one cannot be locked out from here
                record_failure(conn, officer_id, failed_logins, now)
    # raised after the commit: the failure count must survive the refusal
    if started is None:
        raise EnrolmentFailed("invalid_enrolment")
    return started


def complete(conn: psycopg.Connection, totp_key: bytes, officer_id: str, session_version: int, password,
             totp_code, now: datetime | None = None, email: str | None = None) -> Officer:
    """The officer's own password and a first code from the new secret; the
    account is enrolled and the change recorded. ``OfficerError`` for a
    password that breaks the rules, ``EnrolmentFailed`` otherwise."""
    now = now_or(now)
    try:
        officer_uuid = uuid.UUID(str(officer_id))
    except ValueError:
        raise EnrolmentFailed("invalid_enrolment") from None
    with conn.transaction():
        row = conn.execute("SELECT username FROM officer WHERE id = %s", (officer_uuid,)).fetchone()
    if row is None:
        raise EnrolmentFailed("invalid_enrolment")
    password_hash = hash_password(check_password(password, row[0]))
    with conn.transaction():
        (officer_id, tenant, username, display_name, roles, active, version, secret_enc, last_step, enrolled_at,
         stored, expires_at) = conn.execute(
            "SELECT id, tenant, username, display_name, roles, active, session_version, totp_secret_enc, "
            "totp_last_step, enrolled_at, enrolment_code_hash, enrolment_expires_at FROM officer "
            "WHERE id = %s FOR UPDATE", (officer_uuid,)).fetchone()
        # the state the first step left, and nothing since (a reset or deactivation moves the version)
        if (not active or enrolled_at is not None or version != session_version or stored is not None
                or secret_enc is None or expires_at is None or expires_at <= now):
            raise EnrolmentFailed("invalid_enrolment")
        try:
            secret = decrypt_secret(totp_key, str(officer_id), secret_enc)
        except InvalidTag:
            raise EnrolmentFailed("invalid_enrolment") from None
        step = matching_step(secret, totp_code, now, last_step)
        if step is None:
            raise EnrolmentFailed("totp_invalid")
        conn.execute("UPDATE officer SET password_hash = %s, enrolled_at = %s, totp_last_step = %s, "
                     "enrolment_expires_at = NULL, email = coalesce(%s, email) WHERE id = %s",
                     (password_hash, now, step, email, officer_id))
        admin_log.record(conn, officer_id=str(officer_id), tenant=tenant, kind="officer_enrolled",
                         subject=str(officer_id), details={"username": username})
    return row_officer((officer_id, tenant, username, display_name, roles, active, version))
