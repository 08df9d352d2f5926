"""Keyring parsing, KEK rotation by re-wrapping data keys, tamper detection,
against the real PostgreSQL in a throwaway database."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time

import psycopg
import pytest
from psycopg import sql

from peluit_contracts.reports import case_id_for
from peluit_vault import admin, identities, schema
from peluit_vault.records import IDENTITIES
from peluit_vault.crypto import DecryptionError, kek_id
from peluit_vault.crypto import unwrap_dek, wrap_dek
from peluit_vault.keyring import Keyring, KeyringError, UnknownKek

ADMIN_DSN = "host=127.0.0.1 user=postgres dbname=postgres"
MARKERS: list[str] = []  # every identity marker stored in this module, for the privacy dump at the end


# -- parsing -----------------------------------------------------------------------------------


def test_one_key_file_is_a_keyring_of_one():
    key = secrets.token_bytes(32)
    ring = Keyring.parse(key.hex() + "\n")
    assert ring.current == key and ring.current_id == kek_id(key) and len(ring) == 1
    assert ring.get(kek_id(key)) == key


def test_first_line_is_current_and_blank_lines_and_comments_are_ignored():
    new, old = secrets.token_bytes(32), secrets.token_bytes(32)
    text = f"\n  {new.hex().upper()}  \n\n# retired after the 2026 rotation\n{old.hex()}\n\n"
    ring = Keyring.parse(text.encode())
    assert ring.current == new and ring.ids == (kek_id(new), kek_id(old))
    assert ring.get(kek_id(old)) == old


@pytest.mark.parametrize("text, message", [
    ("", "no KEK found"),
    ("\n# only a comment\n", "no KEK found"),
    ("zz" * 32, "line 1: not a hex string"),
    ("ab" * 32 + "\n" + "ab" * 31 + "g", "line 2: not a hex string"),
    ("ab" * 16, "line 1: a KEK is 32 bytes (64 hex digits), found 16 bytes"),
    ("ab" * 32 + "\n\n" + "ab" * 33, "line 3: a KEK is 32 bytes"),
])
def test_a_bad_file_is_a_clear_error_that_never_echoes_key_material(text, message):
    with pytest.raises(KeyringError) as err:
        Keyring.parse(text, "PELUIT_VAULT_KEK_FILE")
    assert message in str(err.value)
    assert "ab" * 8 not in str(err.value) and "zz" not in str(err.value)


def test_load_reads_the_file_named_by_the_environment(tmp_path, monkeypatch):
    new, old = secrets.token_bytes(32), secrets.token_bytes(32)
    path = tmp_path / "kek"
    path.write_text(f"{new.hex()}\n{old.hex()}\n")
    monkeypatch.setenv("PELUIT_VAULT_KEK_FILE", str(path))
    assert Keyring.load().ids == (kek_id(new), kek_id(old))
    monkeypatch.delenv("PELUIT_VAULT_KEK_FILE")
    monkeypatch.setenv("PELUIT_KEYS_DIR", str(tmp_path))
    (tmp_path / "vault-kek.key").write_text(new.hex() + "\n")  # the development default
    assert Keyring.load().current == new


def test_unknown_id_names_the_id_only_and_repr_shows_no_key():
    key = secrets.token_bytes(32)
    ring = Keyring([key])
    with pytest.raises(UnknownKek) as err:
        ring.get("0123456789abcdef")
    assert "0123456789abcdef" in str(err.value) and key.hex() not in str(err.value)
    assert key.hex() not in repr(ring) and ring.current_id in repr(ring)
    with pytest.raises(KeyringError):
        Keyring([secrets.token_bytes(16)])


def test_dek_wrap_is_compatible_with_crypto():
    from peluit_vault.crypto import SealedRecord, decrypt_record, encrypt_record
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    record = encrypt_record(a, "ref", b"identity")
    dek = unwrap_dek(a, "ref", record.wrapped_dek)
    moved = SealedRecord(kek_id(b), wrap_dek(b, "ref", dek), record.ciphertext)
    assert decrypt_record(b, "ref", moved) == b"identity"
    with pytest.raises(DecryptionError):
        unwrap_dek(a, "another-ref", record.wrapped_dek)


# -- database ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database():
    name = f"pt_vault_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def dsn(database):
    return f"host=127.0.0.1 user=postgres dbname={database}"


@pytest.fixture(scope="module")
def conn(dsn):
    with psycopg.connect(dsn) as conn:  # autocommit off, as the service's pool
        schema.migrate(conn)
        schema.migrate(conn)  # idempotent
        yield conn


@pytest.fixture(scope="module")
def inspect(dsn):
    """A second, autocommit connection for looking at rows behind the API's back."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


def identity() -> tuple[bytes, str]:
    marker = f"Canary{secrets.token_hex(8)}"
    MARKERS.append(marker)
    return json.dumps({"name": f"Budi {marker}", "email": f"{marker.lower()}@example.id"}).encode(), marker


def submission() -> str:
    return secrets.token_hex(32)


def row(inspect, ref):
    return inspect.execute("SELECT kek_id, wrapped_dek, ciphertext FROM reporter WHERE reporter_ref = %s",
                           (ref,)).fetchone()


def test_store_accepts_raw_kek_bytes_or_a_keyring_and_is_idempotent(conn):
    kek = secrets.token_bytes(32)
    plain, _ = identity()
    sub = submission()
    ref = identities.store_identity(conn, kek, sub, "35.73", plain)
    assert identities.store_identity(conn, Keyring([kek]), sub, "35.73", plain) == ref
    assert identities.read_identity(conn, kek, ref) == plain
    assert identities.read_identity(conn, Keyring([secrets.token_bytes(32), kek]), ref) == plain
    assert identities.read_identity(conn, kek, "no-such-ref") is None


def test_rotation_rewraps_every_data_key_and_never_touches_the_identity_ciphertext(conn, inspect):
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    stored = {}
    for _ in range(50):
        plain, _ = identity()
        stored[identities.store_identity(conn, Keyring([a]), submission(), "35.73", plain)] = plain
    before = {ref: row(inspect, ref) for ref in stored}
    assert {r[0] for r in before.values()} == {kek_id(a)}

    assert IDENTITIES.rewrap(conn, Keyring([b, a]), batch=7) == 50
    after = {ref: row(inspect, ref) for ref in stored}
    for ref, (kid, wrapped, ciphertext) in after.items():
        assert kid == kek_id(b)
        assert bytes(wrapped) != bytes(before[ref][1])
        assert bytes(ciphertext) == bytes(before[ref][2])  # the identity was never re-encrypted
    for ref, plain in stored.items():
        assert identities.read_identity(conn, Keyring([b]), ref) == plain
        with pytest.raises(UnknownKek):
            identities.read_identity(conn, Keyring([a]), ref)
    assert IDENTITIES.pending(conn, Keyring([b, a])).get(kek_id(a)) is None

    assert IDENTITIES.rewrap(conn, Keyring([b, a])) == 0  # a second run changes nothing
    assert {ref: row(inspect, ref) for ref in stored} == after
    audited = inspect.execute(
        "SELECT sum((detail->>'count')::int) FROM vault_audit WHERE action = 'kek_rewrapped' AND detail->>'to' = %s",
        (kek_id(b),)).fetchone()[0]
    assert audited == 50


def test_rewrap_skips_rows_in_use_and_two_rotations_never_clash(conn, dsn):
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    refs = [identities.store_identity(conn, a, submission(), "35.07", identity()[0]) for _ in range(40)]
    ring = Keyring([b, a])
    with psycopg.connect(dsn) as holder:  # a serving instance holding one row locked
        holder.execute("SELECT 1 FROM reporter WHERE reporter_ref = %s FOR UPDATE", (refs[0],))
        started = time.monotonic()
        assert IDENTITIES.rewrap(conn, ring, batch=10) == 39
        assert time.monotonic() - started < 5  # skipped, not waited for
        assert IDENTITIES.pending(conn, ring)[kek_id(a)] == 1
        holder.rollback()
    assert IDENTITIES.rewrap(conn, ring) == 1

    c = secrets.token_bytes(32)
    ring = Keyring([c, b])
    counts, errors = [], []

    def rotate():
        try:
            with psycopg.connect(dsn) as own:
                counts.append(IDENTITIES.rewrap(own, ring, batch=3))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sum(counts) == 40
    for ref in refs:
        assert identities.read_identity(conn, Keyring([c]), ref) is not None


@pytest.mark.parametrize("column", ["wrapped_dek", "ciphertext"])
def test_a_flipped_byte_in_the_database_fails_loudly(conn, inspect, column):
    kek = secrets.token_bytes(32)
    ref = identities.store_identity(conn, kek, submission(), "35.73", identity()[0])
    inspect.execute(sql.SQL("UPDATE reporter SET {c} = set_byte({c}, length({c}) - 1, "
                            "get_byte({c}, length({c}) - 1) # 1) WHERE reporter_ref = %s")
                    .format(c=sql.Identifier(column)), (ref,))
    with pytest.raises(DecryptionError):
        identities.read_identity(conn, kek, ref)
    if column == "wrapped_dek":  # and a rotation stops at it instead of carrying it along
        ring = Keyring([secrets.token_bytes(32), kek])
        with pytest.raises(DecryptionError, match=ref):
            IDENTITIES.rewrap(conn, ring)
        assert row(inspect, ref)[0] == kek_id(kek)


def test_a_swapped_row_or_a_wrong_key_fails_loudly(conn, inspect):
    kek = secrets.token_bytes(32)
    one = identities.store_identity(conn, kek, submission(), "35.73", identity()[0])
    two = identities.store_identity(conn, kek, submission(), "35.73", identity()[0])
    inspect.execute("UPDATE reporter SET wrapped_dek = o.wrapped_dek, ciphertext = o.ciphertext "
                    "FROM reporter o WHERE reporter.reporter_ref = %s AND o.reporter_ref = %s", (two, one))
    with pytest.raises(DecryptionError):
        identities.read_identity(conn, kek, two)  # both ciphertexts are bound to their reporter_ref
    other = secrets.token_bytes(32)
    inspect.execute("UPDATE reporter SET kek_id = %s WHERE reporter_ref = %s", (kek_id(other), one))
    with pytest.raises(DecryptionError):
        identities.read_identity(conn, Keyring([other]), one)


def test_migrate_upgrades_the_first_schema_and_fills_case_ids(dsn):
    with psycopg.connect(dsn, options="-c search_path=legacy") as legacy:
        with legacy.transaction():
            legacy.execute("CREATE SCHEMA legacy")
            legacy.execute("""CREATE TABLE reporter (
                reporter_ref text PRIMARY KEY, submission_id text NOT NULL UNIQUE, tenant text NOT NULL,
                kek_id text NOT NULL, wrapped_dek bytea NOT NULL, ciphertext bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now())""")
        kek = secrets.token_bytes(32)
        plain, _ = identity()
        subs = [submission() for _ in range(5)]
        from peluit_vault.crypto import encrypt_record
        with legacy.transaction():
            for n, sub in enumerate(subs):
                rec = encrypt_record(kek, f"old-{n}", plain)
                legacy.execute("INSERT INTO reporter (reporter_ref, submission_id, tenant, kek_id, wrapped_dek, "
                               "ciphertext) VALUES (%s, %s, '35.73', %s, %s, %s)",
                               (f"old-{n}", sub, rec.kek_id, rec.wrapped_dek, rec.ciphertext))
        schema.migrate(legacy, batch=2)
        schema.migrate(legacy)
        rows = legacy.execute("SELECT submission_id, case_id FROM reporter").fetchall()
        assert sorted(rows) == sorted((sub, case_id_for(sub)) for sub in subs)
        assert identities.read_identity(legacy, kek, "old-0") == plain


def test_admin_rotate_kek_rewraps_and_says_to_destroy_the_old_key(dsn, database, tmp_path, monkeypatch, capsys):
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    schema = f"admin_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as own:
        own.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    key_file = tmp_path / "vault-kek.key"
    key_file.write_text(f"{b.hex()}\n{a.hex()}\n")
    monkeypatch.setenv("PELUIT_VAULT_KEK_FILE", str(key_file))
    monkeypatch.setenv("PELUIT_DB_NAME", database)
    monkeypatch.setenv("PELUIT_DB_USER", "postgres")
    monkeypatch.setenv("PGOPTIONS", f"-c search_path={schema}")  # the CLI works on its own tables here
    monkeypatch.setattr(admin, "SETTLE_ATTEMPTS", 1)
    assert admin.main(["migrate"]) == 0
    with psycopg.connect(dsn, options=f"-c search_path={schema}") as own:
        refs = [identities.store_identity(own, a, submission(), "35.78", identity()[0]) for _ in range(3)]
        stray = identities.store_identity(own, secrets.token_bytes(32), submission(), "35.78", identity()[0])
        capsys.readouterr()

        # a row under a key the file does not hold: named by id, exit 1, the rest is re-wrapped
        assert admin.main(["rotate-kek"]) == 1
        out, err = capsys.readouterr()
        assert "re-wrapped 3 data keys" in out and "not in the KEK file" in err
        assert a.hex() not in out + err and b.hex() not in out + err
        with own.transaction():
            assert {row(own, ref)[0] for ref in refs} == {kek_id(b)}
            own.execute("DELETE FROM reporter WHERE reporter_ref = %s", (stray,))

        assert admin.main(["rotate-kek"]) == 0
        out, _ = capsys.readouterr()
        assert "remove the older line" in out and "destroy the old key" in out and kek_id(a) in out
        assert a.hex() not in out and b.hex() not in out
        with own.transaction():
            assert own.execute("SELECT count(*) FROM vault_audit WHERE action = 'kek_rotated'").fetchone()[0] == 1
    key_file.write_text("not hex\n")
    assert admin.main(["rotate-kek"]) == 2
    assert "line 1: not a hex string" in capsys.readouterr().err


def test_privacy_no_identity_marker_anywhere_in_the_database(inspect):
    assert MARKERS
    tables = inspect.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
    assert ("public", "reporter") in tables and ("public", "vault_audit") in tables
    dump = "\n".join(
        text for schema, table in tables
        for (text,) in inspect.execute(sql.SQL("SELECT t::text FROM {}.{} t").format(
            sql.Identifier(schema), sql.Identifier(table))))
    assert dump
    for marker in MARKERS:
        for form in (marker, marker.lower(), marker.encode().hex(), base64.b64encode(marker.encode()).decode()):
            assert form not in dump
