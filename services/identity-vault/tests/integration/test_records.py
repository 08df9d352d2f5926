"""The sealed-record store on the real PostgreSQL, for identities and evidence
originals alike: idempotent store, KEK rotation by re-wrapping data keys
(online, never clashing), tamper detection, migrations (an upgrade, several
instances at once), the operator's rotate-kek, and no marker in clear."""

from __future__ import annotations

import json
import secrets
import time
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from peluit_common.testing import dsn_for
from peluit_contracts.reports import case_id_for
from peluit_vault import admin, evidence, identities, schema
from peluit_vault.crypto import DecryptionError, encrypt_record, kek_id
from peluit_vault.keyring import Keyring, UnknownKek
from peluit_vault.records import IDENTITIES, ORIGINALS, TABLES, RewrapFailed

DEDUPE = secrets.token_bytes(32)
BOTH = pytest.mark.parametrize("records", TABLES, ids=lambda r: r.kind)


def submission() -> str:
    return secrets.token_hex(32)


@pytest.fixture(scope="module")
def put(canaries):
    def put(conn, records, keyring, tenant="35.73") -> tuple[str, bytes]:
        """Store one record of the kind ``records`` with a fresh canary; returns (reference, plaintext)."""
        marker = canaries.new()
        if records is IDENTITIES:
            plain = json.dumps({"name": f"Budi {marker}", "email": f"{marker.lower()}@example.id"}).encode()
            return identities.store_identity(conn, keyring, submission(), tenant, plain), plain
        plain = b"\xff\xd8\xff\xe1Exif Artist=" + marker.encode() + bytes(32)  # a photo whose EXIF names the reporter
        return evidence.store_original(conn, keyring, DEDUPE, uuid4(), tenant, "image/jpeg", plain)[0], plain
    return put


def opened(conn, records, keyring, ref) -> bytes | None:
    found = records.read(conn, keyring, ref)
    return found and found[-1]


def row(inspect, records, ref):
    return inspect.execute(sql.SQL("SELECT kek_id, wrapped_dek, ciphertext FROM {} WHERE {} = %s").format(
        sql.Identifier(records.table), sql.Identifier(records.ref)), (ref,)).fetchone()


def test_store_accepts_raw_kek_bytes_or_a_keyring_and_is_idempotent(conn, canaries):
    kek = secrets.token_bytes(32)
    plain = json.dumps({"name": f"Budi {canaries.new()}"}).encode()
    sub = submission()
    ref = identities.store_identity(conn, kek, sub, "35.73", plain)
    assert identities.store_identity(conn, Keyring([kek]), sub, "35.73", plain) == ref
    assert identities.read_identity(conn, kek, ref) == plain
    assert identities.read_identity(conn, Keyring([secrets.token_bytes(32), kek]), ref) == plain
    assert identities.read_identity(conn, kek, "no-such-ref") is None


@BOTH
def test_rotation_rewraps_every_data_key_and_never_touches_the_record_ciphertext(conn, inspect, put, records):
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    stored = dict(put(conn, records, Keyring([a])) for _ in range(50))
    before = {ref: row(inspect, records, ref) for ref in stored}
    assert {r[0] for r in before.values()} == {kek_id(a)}
    assert records.pending(conn, Keyring([b, a]))[kek_id(a)] == 50

    assert records.rewrap(conn, Keyring([b, a]), batch=7) == 50
    after = {ref: row(inspect, records, ref) for ref in stored}
    for ref, (kid, wrapped, ciphertext) in after.items():
        assert kid == kek_id(b)
        assert bytes(wrapped) != bytes(before[ref][1])
        assert bytes(ciphertext) == bytes(before[ref][2])  # the record was never re-encrypted
    for ref, plain in stored.items():
        assert opened(conn, records, Keyring([b]), ref) == plain
        with pytest.raises(UnknownKek):
            records.read(conn, Keyring([a]), ref)
    assert records.pending(conn, Keyring([b, a])).get(kek_id(a)) is None

    assert records.rewrap(conn, Keyring([b, a])) == 0  # a second run changes nothing
    assert {ref: row(inspect, records, ref) for ref in stored} == after
    audited = inspect.execute(
        "SELECT sum((detail->>'count')::int) FROM vault_audit WHERE action = 'kek_rewrapped' AND detail->>'to' = %s"
        " AND detail->>'table' = %s", (kek_id(b), records.table)).fetchone()[0]
    assert audited == 50


@BOTH
def test_rewrap_skips_rows_in_use_and_two_rotations_never_clash(conn, dsn, put, records, together):
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    refs = [put(conn, records, a, "35.07")[0] for _ in range(40)]
    ring = Keyring([b, a])
    with psycopg.connect(dsn) as holder:  # a serving instance holding one row locked
        holder.execute(sql.SQL("SELECT 1 FROM {} WHERE {} = %s FOR UPDATE").format(
            sql.Identifier(records.table), sql.Identifier(records.ref)), (refs[0],))
        started = time.monotonic()
        assert records.rewrap(conn, ring, batch=10) == 39
        assert time.monotonic() - started < 5  # skipped, not waited for
        assert records.pending(conn, ring)[kek_id(a)] == 1
        holder.rollback()
    assert records.rewrap(conn, ring) == 1

    c = secrets.token_bytes(32)
    ring = Keyring([c, b])

    def rotate():
        with psycopg.connect(dsn) as own:
            return records.rewrap(own, ring, batch=3)

    counts = together(rotate, rotate)
    assert not any(isinstance(n, Exception) for n in counts) and sum(counts) == 40
    for ref in refs:
        assert opened(conn, records, Keyring([c]), ref) is not None


@BOTH
@pytest.mark.parametrize("column", ["wrapped_dek", "ciphertext"])
def test_a_flipped_byte_in_the_database_fails_loudly(conn, inspect, put, records, column):
    kek = secrets.token_bytes(32)
    ref, _ = put(conn, records, kek)
    inspect.execute(sql.SQL("UPDATE {t} SET {c} = set_byte({c}, length({c}) - 1, "
                            "get_byte({c}, length({c}) - 1) # 1) WHERE {ref} = %s")
                    .format(t=sql.Identifier(records.table), c=sql.Identifier(column),
                            ref=sql.Identifier(records.ref)), (ref,))
    with pytest.raises(DecryptionError):
        records.read(conn, kek, ref)
    if column == "wrapped_dek":  # and a rotation stops at it instead of carrying it along
        ring = Keyring([secrets.token_bytes(32), kek])
        with pytest.raises(RewrapFailed, match=ref):
            records.rewrap(conn, ring)
        assert row(inspect, records, ref)[0] == kek_id(kek)


@BOTH
def test_a_swapped_row_or_a_wrong_key_fails_loudly(conn, inspect, put, records):
    kek = secrets.token_bytes(32)
    (one, plain), (two, _) = put(conn, records, kek), put(conn, records, kek)
    inspect.execute(sql.SQL("UPDATE {t} SET wrapped_dek = o.wrapped_dek, ciphertext = o.ciphertext "
                            "FROM {t} o WHERE {t}.{ref} = %s AND o.{ref} = %s").format(
        t=sql.Identifier(records.table), ref=sql.Identifier(records.ref)), (two, one))
    with pytest.raises(DecryptionError):
        records.read(conn, kek, two)  # both ciphertexts are bound to their reference
    assert opened(conn, records, kek, one) == plain
    other = secrets.token_bytes(32)
    inspect.execute(sql.SQL("UPDATE {} SET kek_id = %s WHERE {} = %s").format(
        sql.Identifier(records.table), sql.Identifier(records.ref)), (kek_id(other), one))
    with pytest.raises(DecryptionError):
        records.read(conn, Keyring([other]), one)


def test_a_record_moved_to_the_other_table_does_not_open(conn, inspect, put):
    kek = secrets.token_bytes(32)
    original, _ = put(conn, ORIGINALS, kek)
    identity, _ = put(conn, IDENTITIES, kek)
    # an insider with SQL copies an original's envelope into the identities under the same reference, and back
    inspect.execute("INSERT INTO reporter (reporter_ref, submission_id, tenant, kek_id, wrapped_dek, ciphertext) "
                    "SELECT original_ref, 'moved', tenant, kek_id, wrapped_dek, ciphertext FROM evidence_original "
                    "WHERE original_ref = %s", (original,))
    inspect.execute("INSERT INTO evidence_original (original_ref, case_id, tenant, digest, mime, size, kek_id, "
                    "wrapped_dek, ciphertext) SELECT reporter_ref, gen_random_uuid(), tenant, '\\x00', 'image/jpeg', "
                    "1, kek_id, wrapped_dek, ciphertext FROM reporter WHERE reporter_ref = %s", (identity,))
    with pytest.raises(DecryptionError):
        identities.read_identity(conn, kek, original)
    with pytest.raises(DecryptionError):
        evidence.read_original(conn, kek, identity)


def test_migrate_upgrades_the_first_schema_and_fills_case_ids(dsn, canaries):
    with psycopg.connect(dsn, options="-c search_path=legacy") as legacy:
        with legacy.transaction():
            legacy.execute("CREATE SCHEMA legacy")
            legacy.execute("""CREATE TABLE reporter (
                reporter_ref text PRIMARY KEY, submission_id text NOT NULL UNIQUE, tenant text NOT NULL,
                kek_id text NOT NULL, wrapped_dek bytea NOT NULL, ciphertext bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now())""")
        kek = secrets.token_bytes(32)
        plain = json.dumps({"name": f"Budi {canaries.new()}"}).encode()
        subs = [submission() for _ in range(5)]
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


def test_an_original_written_as_earlier_versions_wrote_it_still_opens(conn, inspect, canaries):
    kek, ref, case_id = secrets.token_bytes(32), secrets.token_urlsafe(24), uuid4()
    original = canaries.new().encode()
    rec = encrypt_record(kek, "evidence:" + ref, original)  # evidence.py bound originals so before the store was one
    inspect.execute("INSERT INTO evidence_original (original_ref, case_id, tenant, digest, mime, size, kek_id, "
                    "wrapped_dek, ciphertext) VALUES (%s, %s, '35.73', %s, 'image/png', %s, %s, %s, %s)",
                    (ref, case_id, secrets.token_bytes(32), len(original), rec.kek_id, rec.wrapped_dek,
                     rec.ciphertext))
    assert evidence.read_original(conn, kek, ref) == (str(case_id), "image/png", original)


def test_instances_starting_together_migrate_a_fresh_database_once(fresh_db, together):
    """Several vault instances start at once on an empty database: every migration succeeds."""
    def instance():
        with psycopg.connect(dsn_for(fresh_db)) as own:
            schema.migrate(own)

    assert together(*[instance] * 6) == [None] * 6
    with psycopg.connect(dsn_for(fresh_db)) as own:
        tables = {r[0] for r in own.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"reporter", "vault_audit", "retention_policy", "evidence_original", "evidence_case_closed",
                      "relay_log", "vault_audit_checkpoint", "vault_events_checkpoint", "vault_call_refused_checkpoint",
                      "chain_key"}


def test_admin_rotate_kek_rewraps_and_says_to_destroy_the_old_key(dsn, throwaway_db, put, tmp_path, monkeypatch,
                                                                   capsys):
    a, b = secrets.token_bytes(32), secrets.token_bytes(32)
    own_schema = f"admin_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as own:
        own.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(own_schema)))
    key_file = tmp_path / "vault-kek.key"
    key_file.write_text(f"{b.hex()}\n{a.hex()}\n")
    monkeypatch.setenv("PELUIT_VAULT_KEK_FILE", str(key_file))
    monkeypatch.setenv("PELUIT_DB_NAME", throwaway_db)
    monkeypatch.setenv("PELUIT_DB_USER", "postgres")
    monkeypatch.setenv("PGOPTIONS", f"-c search_path={own_schema}")  # the CLI works on its own tables here
    monkeypatch.setattr(admin, "SETTLE_ATTEMPTS", 1)
    assert admin.main(["migrate"]) == 0
    with psycopg.connect(dsn, options=f"-c search_path={own_schema}") as own:
        refs = [put(own, IDENTITIES, a, "35.78")[0] for _ in range(3)]
        originals = [put(own, ORIGINALS, a, "35.78")[0] for _ in range(2)]
        stray = put(own, IDENTITIES, secrets.token_bytes(32), "35.78")[0]
        capsys.readouterr()

        # a row under a key the file does not hold: named by id, exit 1, the rest is re-wrapped
        assert admin.main(["rotate-kek"]) == 1
        out, err = capsys.readouterr()
        assert "re-wrapped 5 data keys" in out and "not in the KEK file" in err
        assert a.hex() not in out + err and b.hex() not in out + err
        with own.transaction():
            assert {row(own, IDENTITIES, ref)[0] for ref in refs} == {kek_id(b)}
            assert {row(own, ORIGINALS, ref)[0] for ref in originals} == {kek_id(b)}
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


def test_privacy_no_identity_marker_anywhere_in_the_database(inspect, canaries):
    canaries.assert_absent(inspect, {"reporter", "vault_audit", "evidence_original"})
