"""Enrolment, password change and sessions against the real PostgreSQL: the
officer chooses both factors, codes are single use and alike in every
refusal, and accounts made before enrolment existed keep working."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import psycopg
import pyotp
import pytest

from peluit_cases import enrolment, officers
from peluit_cases.enrolment import EnrolmentFailed
from peluit_cases.officer_api import http_error
from peluit_cases.officers import LoginFailed, OfficerError
from peluit_common.testing import dsn_for

NOW = datetime(2026, 11, 23, 3, 0, 10, tzinfo=timezone.utc)
PASSWORD = "kata-sandi-pilihan-sendiri"
CREATOR = "11111111-1111-4111-8111-111111111111"


def invite(conn, key, now=NOW, **kw):
    username = kw.pop("username", f"baru.{secrets.token_hex(4)}")
    invitation = enrolment.invite(conn, key, tenant=kw.pop("tenant", "35.73"), username=username,
                                  display_name="Petugas Baru", roles=kw.pop("roles", ["penelaah"]),
                                  created_by=CREATOR, now=now, **kw)
    return invitation, username


def enrol(conn, key, invitation, username, now=NOW, password=PASSWORD):
    started = enrolment.start(conn, key, username, invitation.code, now=now)
    officer = enrolment.complete(conn, key, started.officer_id, started.session_version, password,
                                 pyotp.TOTP(started.secret).at(now), now=now)
    return started, officer


def refusal(fn, *args, **kwargs):
    with pytest.raises(EnrolmentFailed) as info:
        fn(*args, **kwargs)
    return info.value


def account(inspect, officer_id):
    return inspect.execute("SELECT password_hash, totp_secret_enc, enrolled_at, enrolment_code_hash, "
                           "enrolment_expires_at, session_version, failed_logins, locked_until FROM officer "
                           "WHERE id = %s", (officer_id,)).fetchone()


def changes(inspect, subject):
    return inspect.execute("SELECT officer_id::text, tenant, kind, details::text FROM admin_change WHERE subject = %s "
                           "ORDER BY id", (subject,)).fetchall()


def test_the_officer_chooses_both_factors(conn, inspect, key):
    invitation, username = invite(conn, key)
    assert len(invitation.code) == 20 and enrolment.CODE_RE.fullmatch(invitation.code)
    assert invitation.expires_at == NOW + timedelta(hours=24)
    password_hash, secret_enc, enrolled_at, code_hash, expires_at, version, *_ = account(inspect, invitation.officer_id)
    # nothing to sign in with yet, and the code only as its keyed hash
    assert (password_hash, secret_enc, enrolled_at) == (None, None, None)
    stored_hash = code_hash
    assert stored_hash == enrolment.code_hash(key, invitation.officer_id, invitation.code) != invitation.code
    assert invitation.code not in stored_hash and expires_at == invitation.expires_at
    with pytest.raises(LoginFailed):
        officers.authenticate(conn, key, username, PASSWORD, "123456", now=NOW)

    started = enrolment.start(conn, key, username, invitation.code, now=NOW)
    assert len(started.secret) == 32 and started.session_version == version + 1
    _, secret_enc, enrolled_at, code_hash, *_ = account(inspect, invitation.officer_id)
    assert code_hash is None and enrolled_at is None and started.secret.encode() not in bytes(secret_enc)
    # half-way (a secret, no password) is not an account one can sign in with
    with pytest.raises(LoginFailed):
        officers.authenticate(conn, key, username, PASSWORD, pyotp.TOTP(started.secret).at(NOW), now=NOW)

    officer = enrolment.complete(conn, key, started.officer_id, started.session_version, PASSWORD,
                                 pyotp.TOTP(started.secret).at(NOW), now=NOW, email="sendiri@pemda.go.id")
    assert officer.username == username and officer.roles == ("penelaah",)
    # the officer's own address for notifications, chosen at enrolment
    assert inspect.execute("SELECT email FROM officer WHERE id = %s", (invitation.officer_id,)).fetchone() == (
        "sendiri@pemda.go.id",)
    later = NOW + timedelta(seconds=30)
    assert officers.authenticate(conn, key, username, PASSWORD, pyotp.TOTP(started.secret).at(later),
                                 now=later).id == invitation.officer_id
    assert account(inspect, invitation.officer_id)[2] == NOW
    # who and when, and never a code, secret or password
    log = changes(inspect, invitation.officer_id)
    assert [(who, kind) for who, _, kind, _ in log] == [(CREATOR, "officer_created"),
                                                        (invitation.officer_id, "officer_enrolled")]
    text = repr(log)
    for secret in (invitation.code, started.secret, PASSWORD, stored_hash):
        assert secret not in text


def test_a_code_works_once_and_every_refusal_is_alike(conn, inspect, key):
    invitation, username = invite(conn, key)
    wrong = "".join(reversed(invitation.code))
    other, other_name = invite(conn, key)
    refusals = [
        refusal(enrolment.start, conn, key, username, wrong, now=NOW),  # wrong
        refusal(enrolment.start, conn, key, "tidak.ada", invitation.code, now=NOW),  # unknown user
        refusal(enrolment.start, conn, key, other_name, invitation.code, now=NOW),  # someone else's code
        refusal(enrolment.start, conn, key, username, invitation.code,
                now=invitation.expires_at + timedelta(seconds=1)),  # expired
        refusal(enrolment.start, conn, key, username, "x", now=NOW),  # malformed
    ]
    # read off paper: case, spaces and hyphens do not matter
    spaced = "-".join(invitation.code[i:i + 5] for i in range(0, 20, 5)).lower()
    enrolment.start(conn, key, username, spaced, now=NOW)
    refusals.append(refusal(enrolment.start, conn, key, username, invitation.code, now=NOW))  # used
    answers = {(http_error(r).status, http_error(r).code, repr(http_error(r).message)) for r in refusals}
    assert len(answers) == 1 and next(iter(answers))[:2] == (401, "invalid_enrolment")
    assert enrolment.start(conn, key, other_name, other.code, now=NOW).officer_id == other.officer_id


def test_wrong_codes_lock_an_account_awaiting_enrolment_only(conn, inspect, key):
    invitation, username = invite(conn, key)
    for i in range(officers.MAX_FAILURES):
        refusal(enrolment.start, conn, key, username, "A" * 20, now=NOW + timedelta(seconds=i))
    assert account(inspect, invitation.officer_id)[7] is not None
    # locked: the right code is refused too, alike, until the lock ends
    refusal(enrolment.start, conn, key, username, invitation.code, now=NOW + timedelta(minutes=5))
    enrolment.start(conn, key, username, invitation.code, now=NOW + timedelta(minutes=16))
    # an enrolled officer cannot be locked out of signing in from here
    done, name = invite(conn, key)
    enrol(conn, key, done, name)
    for _ in range(officers.MAX_FAILURES + 1):
        refusal(enrolment.start, conn, key, name, "A" * 20, now=NOW)
    assert account(inspect, done.officer_id)[6:] == (0, None)


def test_completion_needs_the_state_the_first_step_left(conn, inspect, key):
    invitation, username = invite(conn, key)
    started = enrolment.start(conn, key, username, invitation.code, now=NOW)
    totp = pyotp.TOTP(started.secret)
    for bad, code in (("short-pass", "weak_password"), (username.upper(), "password_is_username")):
        with pytest.raises(OfficerError) as info:
            enrolment.complete(conn, key, started.officer_id, started.session_version, bad, totp.at(NOW), now=NOW)
        assert info.value.code == code
    wrong_totp = f"{(int(totp.at(NOW)) + 1) % 1_000_000:06d}"
    assert refusal(enrolment.complete, conn, key, started.officer_id, started.session_version, PASSWORD, wrong_totp,
                   now=NOW).code == "totp_invalid"
    for version, officer_id, now in ((started.session_version - 1, started.officer_id, NOW),
                                     (started.session_version, "not-a-uuid", NOW),
                                     (started.session_version, CREATOR, NOW),
                                     (started.session_version, started.officer_id, NOW + timedelta(minutes=11))):
        assert refusal(enrolment.complete, conn, key, officer_id, version, PASSWORD, totp.at(now),
                       now=now).code == "invalid_enrolment"
    assert account(inspect, started.officer_id)[0] is None  # nothing written by any refusal
    enrolment.complete(conn, key, started.officer_id, started.session_version, PASSWORD, totp.at(NOW), now=NOW)
    # once only
    later = NOW + timedelta(seconds=30)
    assert refusal(enrolment.complete, conn, key, started.officer_id, started.session_version, PASSWORD + "x",
                   totp.at(later), now=later).code == "invalid_enrolment"


def test_a_password_change_ends_every_other_session(conn, inspect, key):
    invitation, username = invite(conn, key)
    started, officer = enrol(conn, key, invitation, username)
    totp = pyotp.TOTP(started.secret)
    before = officers.session_state(conn, officer.id)
    later = NOW + timedelta(seconds=30)
    with pytest.raises(LoginFailed) as info:
        officers.change_password(conn, key, officer.id, "salah-sama-sekali", PASSWORD + "-baru", totp.at(later),
                                 now=later)
    assert info.value.code == "reauthentication_failed" and http_error(info.value).status == 403
    assert account(inspect, officer.id)[6] == 1  # counted, as at login
    with pytest.raises(OfficerError):
        officers.change_password(conn, key, officer.id, PASSWORD, "pendek", totp.at(later), now=later)
    changed = officers.change_password(conn, key, officer.id, PASSWORD, PASSWORD + "-baru", totp.at(later), now=later)
    assert changed.session_version == before.session_version + 1
    assert officers.session_state(conn, officer.id).session_version == changed.session_version
    later2 = later + timedelta(seconds=30)
    with pytest.raises(LoginFailed):
        officers.authenticate(conn, key, username, PASSWORD, totp.at(later2), now=later2)
    assert officers.authenticate(conn, key, username, PASSWORD + "-baru", totp.at(later2), now=later2).id == officer.id
    assert [kind for _, _, kind, _ in changes(inspect, officer.id)][-1] == "password_changed"
    officers.end_sessions(conn, officer.id)
    assert officers.session_state(conn, officer.id).session_version == changed.session_version + 1
    assert officers.session_state(conn, CREATOR) is None and officers.session_state(conn, "x") is None


OLD_SCHEMA = """
CREATE TABLE officer (
    id uuid PRIMARY KEY, tenant text NOT NULL, username text NOT NULL UNIQUE, display_name text NOT NULL,
    password_hash text NOT NULL, totp_secret_enc bytea NOT NULL, totp_last_step bigint NOT NULL DEFAULT 0,
    roles text[] NOT NULL CHECK (cardinality(roles) > 0), active boolean NOT NULL DEFAULT true,
    failed_logins integer NOT NULL DEFAULT 0, locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(), created_by uuid
);
"""


def test_accounts_made_before_enrolment_keep_working(fresh_db, key):
    with psycopg.connect(dsn_for(fresh_db)) as conn:
        with conn.transaction():
            conn.execute(OLD_SCHEMA)
        officer_id = "22222222-2222-4222-8222-222222222222"
        secret = pyotp.random_base32()
        with conn.transaction():
            conn.execute("INSERT INTO officer (id, tenant, username, display_name, password_hash, totp_secret_enc, "
                         "roles, created_at) VALUES (%s, '35.73', 'lama', 'Petugas Lama', %s, %s, %s, %s)",
                         (officer_id, officers.hash_password(PASSWORD), officers.encrypt_secret(key, officer_id, secret),
                          ["inspektur"], NOW - timedelta(days=400)))
        officers.migrate(conn)
        officers.migrate(conn)  # idempotent
        assert officers.authenticate(conn, key, "lama", PASSWORD, pyotp.TOTP(secret).at(NOW), now=NOW).id == officer_id
        with conn.transaction():
            enrolled_at, version = conn.execute("SELECT enrolled_at, session_version FROM officer").fetchone()
        assert enrolled_at == NOW - timedelta(days=400) and version == 1
        # the backfill ran once: an account awaiting enrolment made afterwards stays so after another migration
        invitation, username = invite(conn, key)
        officers.migrate(conn)
        with conn.transaction():
            assert conn.execute("SELECT enrolled_at FROM officer WHERE id = %s",
                                (invitation.officer_id,)).fetchone() == (None,)
            # and the schema itself refuses an enrolled account without factors
            with pytest.raises(psycopg.errors.CheckViolation):
                with conn.transaction():
                    conn.execute("UPDATE officer SET enrolled_at = now() WHERE id = %s", (invitation.officer_id,))


def test_the_command_line_prints_an_enrolment_code_and_nothing_secret(throwaway_db, conn, inspect, key, tmp_path,
                                                                      monkeypatch, capsys):
    from peluit_cases import admin

    (tmp_path / "officer-totp.key").write_text(key.hex())
    monkeypatch.setenv("PELUIT_OFFICER_TOTP_KEY_FILE", str(tmp_path / "officer-totp.key"))
    monkeypatch.setenv("PELUIT_DB_NAME", throwaway_db)
    monkeypatch.setenv("PELUIT_DB_USER", "postgres")
    monkeypatch.delenv("PELUIT_ENV", raising=False)
    assert admin.main(["create-officer", "--tenant", "35", "--username", "admin.cli", "--display-name", "Admin",
                       "--role", "province_admin"]) == 0
    out = capsys.readouterr().out
    code = out.split("): ", 1)[1].split()[0]
    assert enrolment.CODE_RE.fullmatch(code) and "127.0.0.1:8007" in out
    assert enrolment.start(conn, key, "admin.cli", code).username == "admin.cli"
    assert inspect.execute("SELECT officer_id, details->>'via' FROM admin_change WHERE kind = 'officer_created' "
                           "AND details->>'username' = 'admin.cli'").fetchone() == (None, "cli")
    # the demo administrator: a fresh code each run until enrolled, and never in production
    monkeypatch.setenv("PELUIT_ENV", "production")
    assert admin.main(["demo-admin"]) == 2
    assert "production" in capsys.readouterr().err
    monkeypatch.delenv("PELUIT_ENV")
    assert admin.main(["demo-admin"]) == 0 and admin.main(["demo-admin"]) == 0
    first, second = (line.split("): ", 1)[1].split()[0] for line in capsys.readouterr().out.splitlines()
                     if "): " in line and line.startswith("Kode"))
    assert first != second
    refusal(enrolment.start, conn, key, "admin.demo", first)
    enrol(conn, key, enrolment.Invitation("", second, NOW), "admin.demo", now=datetime.now(timezone.utc))
    assert admin.main(["demo-admin"]) == 0
    assert "): " not in capsys.readouterr().out
