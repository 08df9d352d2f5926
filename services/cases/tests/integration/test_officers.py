"""Officer accounts against the real PostgreSQL, in a throwaway database."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta, timezone

import pyotp
import pytest
from argon2 import PasswordHasher

from peluit_cases import officers
from peluit_cases.officer_api import http_error
from peluit_cases.officers import LoginFailed, Officer, OfficerError

NOW = datetime(2026, 11, 23, 3, 0, 10, tzinfo=timezone.utc)
PASSWORD = "kata-sandi-yang-panjang"


def make(conn, key, roles=("penelaah",), tenant="35.73", **kw):
    username = kw.pop("username", f"officer.{secrets.token_hex(4)}")
    officer_id, secret = officers.create_officer(
        conn, key, tenant=tenant, username=username, display_name="Siti Rahayu", password=PASSWORD,
        roles=list(roles), **kw)
    return officer_id, username, secret


def code(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def refused(expected: str, conn, key, username, password, totp_code, now=NOW):
    """The refusal as HTTP would answer it (status, code, bilingual message)."""
    with pytest.raises(LoginFailed) as info:
        officers.authenticate(conn, key, username, password, totp_code, now=now)
    assert info.value.code == expected
    return http_error(info.value)


def row(inspect, officer_id):
    return inspect.execute(
        "SELECT failed_logins, locked_until, totp_last_step, password_hash, totp_secret_enc FROM officer "
        "WHERE id = %s", (officer_id,)).fetchone()


def test_create_and_login_with_totp(conn, inspect, key):
    officer_id, username, secret = make(conn, key, roles=("penerima", "penelaah"), tenant="35")
    assert len(secret) == 32 and pyotp.TOTP(secret).now()
    officer = officers.authenticate(conn, key, username, PASSWORD, code(secret, NOW), now=NOW)
    assert officer == Officer(id=officer_id, tenant="35", username=username, display_name="Siti Rahayu",
                              roles=("penerima", "penelaah"), active=True)
    # the account object carries neither the hash nor the secret
    assert set(vars(officer)) == {"id", "tenant", "username", "display_name", "roles", "active", "session_version"}
    assert officers.get_officer(conn, officer_id) == officer
    assert officers.get_officer(conn, "00000000-0000-0000-0000-000000000000") is None
    assert officers.get_officer(conn, "not-a-uuid") is None
    # the code of the previous step is still accepted (clock skew), and a spaced code too
    officer_id2, username2, secret2 = make(conn, key)
    earlier = code(secret2, NOW - timedelta(seconds=30))
    assert officers.authenticate(conn, key, username2.upper(), PASSWORD, earlier[:3] + " " + earlier[3:],
                                 now=NOW).id == officer_id2


def test_wrong_password(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    refused("invalid_credentials", conn, key, username, PASSWORD + "x", code(secret, NOW))
    assert row(inspect, officer_id)[0] == 1
    # the right code was not spent by the failed attempt
    assert officers.authenticate(conn, key, username, PASSWORD, code(secret, NOW), now=NOW).id == officer_id
    assert row(inspect, officer_id)[0] == 0


def test_wrong_totp(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    right = code(secret, NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for bad in (wrong, code(secret, NOW - timedelta(minutes=2)), code(secret, NOW + timedelta(minutes=2)), None):
        refused("invalid_credentials", conn, key, username, PASSWORD, bad)
    assert row(inspect, officer_id)[:2] == (4, None)
    assert officers.authenticate(conn, key, username, PASSWORD, right, now=NOW).id == officer_id
    for bad in ("", "12345", "abcdef", "1234567"):
        refused("invalid_credentials", conn, key, username, PASSWORD, bad)


def test_reused_totp_code_refused(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    now_code = code(secret, NOW)
    officers.authenticate(conn, key, username, PASSWORD, now_code, now=NOW)
    step = row(inspect, officer_id)[2]
    assert step == pyotp.TOTP(secret).timecode(NOW)
    refused("invalid_credentials", conn, key, username, PASSWORD, now_code, now=NOW + timedelta(seconds=5))
    # nor an older code still inside the window
    refused("invalid_credentials", conn, key, username, PASSWORD, code(secret, NOW - timedelta(seconds=30)),
            now=NOW + timedelta(seconds=5))
    # the next step's code works
    later = NOW + timedelta(seconds=30)
    officers.authenticate(conn, key, username, PASSWORD, code(secret, later), now=later)
    assert row(inspect, officer_id)[2] == step + 1


def test_unknown_user_same_error_and_full_verify(conn, key, monkeypatch):
    calls = []
    real = officers.verify_password
    monkeypatch.setattr(officers, "verify_password", lambda h, p: calls.append(h) or real(h, p))
    unknown = refused("invalid_credentials", conn, key, "tidak.ada", PASSWORD, "123456")
    malformed = refused("invalid_credentials", conn, key, "X" * 200, PASSWORD, "123456")
    # an unknown name costs one Argon2id verification too, against the dummy hash
    assert calls == [officers.dummy_hash(), officers.dummy_hash()]
    assert calls[0].startswith("$argon2id$")
    _, username, secret = make(conn, key)
    known = refused("invalid_credentials", conn, key, username, "salah-sama-sekali", code(secret, NOW))
    assert (unknown.status, unknown.message) == (known.status, known.message) == (malformed.status, malformed.message)


def test_lockout_after_five_failures_and_unlock_later(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    for i in range(officers.MAX_FAILURES):
        refused("invalid_credentials", conn, key, username, "salah-" + "x" * 12, "000000",
                now=NOW + timedelta(seconds=i))
    failed, locked_until, *_ = row(inspect, officer_id)
    assert locked_until == NOW + timedelta(seconds=4) + officers.LOCK_DURATION
    # the right password and code do not open a locked account
    soon = NOW + timedelta(minutes=10)
    err = refused("locked", conn, key, username, PASSWORD, code(secret, soon), now=soon)
    assert err.status == 429 and "id" in err.message and "en" in err.message
    assert not officers.verify_totp(conn, key, officer_id, code(secret, soon), now=soon)
    later = NOW + timedelta(minutes=16)
    assert officers.authenticate(conn, key, username, PASSWORD, code(secret, later), now=later).id == officer_id
    assert row(inspect, officer_id)[:2] == (0, None)


def test_four_failures_then_success_resets_the_count(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    for _ in range(officers.MAX_FAILURES - 1):
        refused("invalid_credentials", conn, key, username, "salah-" + "x" * 12, "000000")
    officers.authenticate(conn, key, username, PASSWORD, code(secret, NOW), now=NOW)
    refused("invalid_credentials", conn, key, username, "salah-" + "x" * 12, "000000")
    assert row(inspect, officer_id)[:2] == (1, None)


def test_invalid_accounts_refused(conn, inspect, key):
    def attempt(expected, **kw):
        args = dict(tenant="35.73", username=f"u.{secrets.token_hex(3)}", display_name="Budi",
                    password=PASSWORD, roles=["penelaah"])
        args.update(kw)
        with pytest.raises(OfficerError) as info:
            officers.create_officer(conn, key, **args)
        assert info.value.code == expected and isinstance(info.value, ValueError)

    attempt("invalid_role", roles=["superuser"])
    attempt("invalid_role", roles=["penelaah", "root"])
    attempt("invalid_role", roles=[])
    attempt("invalid_role", roles="penelaah")
    attempt("invalid_tenant", tenant="Jawa Timur")
    attempt("invalid_tenant", tenant="35.7")
    attempt("invalid_tenant", tenant="35.73.01")
    attempt("invalid_tenant", tenant="\u0663\u0665")  # Arabic-Indic digits
    attempt("invalid_username", username="Budi")
    attempt("invalid_username", username="ab")
    attempt("invalid_username", username="budi santoso")
    attempt("weak_password", password="pendek123")
    attempt("invalid_display_name", display_name="   ")
    _, username, _ = make(conn, key)
    attempt("username_taken", username=username)
    assert inspect.execute("SELECT count(*) FROM officer WHERE display_name = 'Budi'").fetchone()[0] == 0


def test_secret_is_stored_encrypted(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    _, _, _, password_hash, blob = row(inspect, officer_id)
    blob = bytes(blob)
    raw = base64.b32decode(secret)
    for clear in (secret.encode(), secret.lower().encode(), raw, raw.hex().encode()):
        assert clear not in blob
    assert password_hash.startswith("$argon2id$") and PASSWORD not in password_hash
    # bound to its row: the same ciphertext on another officer does not open
    other_id, other_name, _ = make(conn, key)
    inspect.execute("UPDATE officer SET totp_secret_enc = %s WHERE id = %s", (blob, other_id))
    refused("invalid_credentials", conn, key, other_name, PASSWORD, code(secret, NOW))
    # and a different key opens nothing
    refused("invalid_credentials", conn, secrets.token_bytes(32), username, PASSWORD, code(secret, NOW))
    assert officers.authenticate(conn, key, username, PASSWORD, code(secret, NOW), now=NOW).id == officer_id


def test_inactive_officer_refused(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    inspect.execute("UPDATE officer SET active = false WHERE id = %s", (officer_id,))
    err = refused("inactive", conn, key, username, PASSWORD, code(secret, NOW))
    assert err.status == 403
    # without both factors an inactive account looks like any other failure
    refused("invalid_credentials", conn, key, username, "salah-" + "x" * 12, code(secret, NOW))
    assert not officers.verify_totp(conn, key, officer_id, code(secret, NOW + timedelta(seconds=30)),
                                    now=NOW + timedelta(seconds=30))


def test_verify_totp_once_per_code(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    officers.authenticate(conn, key, username, PASSWORD, code(secret, NOW), now=NOW)
    # the login's code cannot confirm a later decision
    assert not officers.verify_totp(conn, key, officer_id, code(secret, NOW), now=NOW)
    later = NOW + timedelta(seconds=30)
    assert officers.verify_totp(conn, key, officer_id, code(secret, later), now=later)
    assert not officers.verify_totp(conn, key, officer_id, code(secret, later), now=later)
    assert not officers.verify_totp(conn, key, "not-a-uuid", "123456", now=later)
    assert not officers.verify_totp(conn, key, "00000000-0000-0000-0000-000000000000", "123456", now=later)
    assert row(inspect, officer_id)[0] == 2  # the two wrong confirmations count towards the lockout


def test_weak_hash_is_upgraded_on_login(conn, inspect, key):
    officer_id, username, secret = make(conn, key)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    inspect.execute("UPDATE officer SET password_hash = %s WHERE id = %s", (weak, officer_id))
    officers.authenticate(conn, key, username, PASSWORD, code(secret, NOW), now=NOW)
    upgraded = row(inspect, officer_id)[3]
    assert upgraded != weak and not PasswordHasher().check_needs_rehash(upgraded)


def test_unknown_locked_and_wrong_password_do_the_same_argon2_work_and_take_as_long(conn, inspect, key, monkeypatch):
    """Nothing tells an attacker which usernames exist or are locked: each
    answer runs exactly one Argon2id verification with the same parameters
    (proved by counting), and their median times agree within a generous
    factor (measured, interleaved, so load hits all three alike)."""
    import statistics
    import time

    locked_id, locked_name, _ = make(conn, key)
    wrong_id, wrong_name, _ = make(conn, key)
    inspect.execute("UPDATE officer SET locked_until = %s WHERE id = %s", (NOW + timedelta(days=1), locked_id))
    real_params = row(inspect, wrong_id)[3].split("$")[3]  # m=...,t=...,p=...
    verified: list[str] = []
    real_verify = officers.verify_password

    def counting(password_hash, password):
        verified.append(password_hash.split("$")[3])
        return real_verify(password_hash, password)

    monkeypatch.setattr(officers, "verify_password", counting)
    cases = {"unknown": ("invalid_credentials", f"nobody.{secrets.token_hex(4)}"),
             "locked": ("locked", locked_name), "wrong_password": ("invalid_credentials", wrong_name)}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(5):
        for name, (expected, username) in cases.items():
            inspect.execute("UPDATE officer SET failed_logins = 0 WHERE id = %s", (wrong_id,))  # never locks
            verified.clear()
            started = time.perf_counter()
            refused(expected, conn, key, username, "bukan-kata-sandinya", "123456")
            times[name].append(time.perf_counter() - started)
            assert verified == [real_params], name
    medians = {name: statistics.median(t) for name, t in times.items()}
    assert max(medians.values()) < 2.5 * min(medians.values()), medians
