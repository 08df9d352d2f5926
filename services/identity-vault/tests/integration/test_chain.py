"""The vault's own history is tamper-evident: the disclosure log
(``vault_events``), ``vault_audit`` and the refused vault calls
(``vault_call_refused``) are chained by trigger, existing rows
at migration, checkpoints signed with the vault's key, and the offline
verifier names a deleted, edited or inserted row and a forged checkpoint.

Played as the insider with SQL on the vault database: every tamper runs in a
transaction, the bundle is exported with the vault's own export code from that
transaction, and the transaction is rolled back."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from psycopg import sql

from peluit_chain import CheckpointSigner, ZERO_HASH, record_digest, record_hash
from peluit_common import chain as shared
from peluit_common.testing import ADMIN_DSN, dsn_for, eventsourcing_env_for
from peluit_vault import admin, calls, chain, records, schema
from peluit_vault.disclosure.application import DisclosureApplication
from peluit_verify.verify import verify_bundle

from ..support import AGUS, approve, file

VERIFY = shutil.which("peluit-verify", path=str(Path(sys.executable).parent)) or "peluit-verify"


class Rollback(Exception):
    pass


@pytest.fixture
def db(fresh_db):
    return fresh_db


def connect(dbname) -> psycopg.Connection:
    return psycopg.connect(dsn_for(dbname), autocommit=True)


def history(dbname, requests: int = 2, chained: bool = True) -> DisclosureApplication:
    """Some disclosure events and audit rows, as the vault writes them (``chained``:
    the disclosure log chained as its tables are made, as DisclosureLog.after_tables does)."""
    app = DisclosureApplication(env=eventsourcing_env_for(dbname))
    if chained:
        with connect(dbname) as conn:
            chain.migrate(conn)
    for n in range(requests):
        case_id = str(uuid4())
        req = file(app, case_id=case_id, reporter_case_id=case_id, reason=f"Permohonan perlindungan LPSK nomor {n}")
        approve(app, req, by=AGUS)
    with connect(dbname) as conn:
        records.audit_all(conn, "case_closed", [(f"r{n}" * 8, {"case_id": str(uuid4()), "n": n}) for n in range(3)])
        records.audit(conn, "kek_rotated", None, {"current": "k2", "retired": ["k1"], "rewrapped": 3})
        for code in ("replayed", "bad_signature", "expired", "wrong_binding"):
            calls.record_refused(conn, "approve_disclosure", code, AGUS["officer_id"] if code == "replayed" else None)
    return app


def migrate(conn) -> None:
    """As the service migrates (its Database provider's ``migrate``)."""
    schema.migrate(conn)
    calls.migrate(conn)


def checkpointed(dbname, signer, logs=tuple(chain.LOGS.values())) -> None:
    with connect(dbname) as conn:
        shared.register_key(conn, chain.schema(conn), signer)
        for log in logs:
            shared.checkpoint_once(conn, log, chain.schema(conn), signer)


def exported(conn, log) -> dict:
    return shared.bundle(conn, log, chain.schema(conn))


def problems(conn, log, key) -> list:
    return verify_bundle(exported(conn, log), [key.public_key]).problems


def test_rows_written_before_the_chain_are_chained_at_migration_then_every_insert(db):
    with connect(db) as conn:
        for ddl in (schema.IDENTITIES, schema.ORIGINALS, schema.RELAY, calls.SCHEMA):  # the release before the chain
            conn.execute(ddl)
    app = history(db, chained=False)
    before = {}
    with connect(db) as conn:
        for log in chain.LOGS.values():
            before[log.table] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(log.table))).fetchone()[0]
        assert before["vault_audit"] == 4 and before["vault_events"] >= 4 and before["vault_call_refused"] == 4
        migrate(conn)
        hashes = conn.execute("SELECT id, event_hash FROM vault_audit ORDER BY id").fetchall()
        migrate(conn)  # idempotent: nothing re-hashed
        assert conn.execute("SELECT id, event_hash FROM vault_audit ORDER BY id").fetchall() == hashes
        assert conn.execute("SELECT count(*) FROM vault_events WHERE hash_version <> 2").fetchone() == (0,)
        # the migration chained what was there, without leaving a "recompute every hash" function behind
        assert conn.execute("SELECT count(*) FROM pg_proc WHERE proname = 'peluit_chain_relink'").fetchone() == (0,)
    history(db, requests=1).close()  # new rows, through the trigger
    key = CheckpointSigner(secrets.token_bytes(32))
    checkpointed(db, key)
    with connect(db) as conn:
        for log in chain.LOGS.values():
            bundle = exported(conn, log)
            report = verify_bundle(bundle, [key.public_key])
            assert report.intact, report.problems
            assert report.events > before[log.table] and report.checkpoints == 1
        # every hash recomputed here from the bytes peluit_chain defines
        audit = exported(conn, chain.AUDIT)
        assert audit["scope"] == {"kind": "log", "log": "vault_audit",
                                  "fields": ["at", "action", "reporter_ref", "detail"]}
        prev = ZERO_HASH
        for event in audit["events"]:
            assert bytes.fromhex(event["prev_log_hash"]) == prev
            prev = record_hash("vault_audit", prev, event["notification_id"], record_digest(event["record"]))
            assert event["event_hash"] == prev.hex()
        assert [e["record"][1] for e in audit["events"]][-4:] == ["case_closed"] * 3 + ["kek_rotated"]
        assert audit["events"][-1]["record"][2] is None and json.loads(audit["events"][-1]["record"][3])["current"] == "k2"
    app.close()


def test_writers_at_once_keep_one_chain(db, together):
    with connect(db) as conn:
        migrate(conn)

    def writer(n):
        def write():
            with psycopg.connect(dsn_for(db)) as conn:  # as the service's pool: autocommit off
                for i in range(5):
                    with conn.transaction():
                        records.audit(conn, "identity_shredded", f"ref-{n}-{i}", {"n": n, "i": i})
        return write

    assert together(*[writer(n) for n in range(6)]) == [None] * 6
    key = CheckpointSigner(secrets.token_bytes(32))
    checkpointed(db, key, [chain.AUDIT])
    with connect(db) as conn:
        report = verify_bundle(exported(conn, chain.AUDIT), [key.public_key])
        assert report.intact and report.events == 30, report.problems


@pytest.fixture
def tampered(db):
    """A vault with history, checkpointed, and a connection to tamper on: ``(conn, key, ids)``."""
    with connect(db) as conn:
        migrate(conn)
    app = history(db, requests=3)
    key = CheckpointSigner(secrets.token_bytes(32))
    checkpointed(db, key)
    with connect(db) as conn:
        ids = {log.table: [r[0] for r in conn.execute(sql.SQL("SELECT {} FROM {} ORDER BY 1").format(
            sql.Identifier(log.id), sql.Identifier(log.table)))] for log in chain.LOGS.values()}
        for log in chain.LOGS.values():
            assert not problems(conn, log, key)
        yield conn, key, ids
    app.close()


AUDIT, EVENTS = chain.AUDIT, chain.DISCLOSURES


@pytest.mark.parametrize("log", chain.LOGS.values(), ids=lambda log: log.table)
def test_a_deleted_row_is_named(tampered, log):
    conn, key, ids = tampered
    victim = ids[log.table][2]
    after = ids[log.table][3]
    with pytest.raises(Rollback), conn.transaction():
        conn.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(sql.Identifier(log.table),
                                                                    sql.Identifier(log.id)), (victim,))
        found = problems(conn, log, key)
        assert found and found[0].kind == "missing" and f"before {'row' if log.records else 'notification'} {after}" \
            in found[0].en, found
        raise Rollback


def test_an_edited_audit_row_and_an_edited_disclosure_event_are_named(tampered):
    conn, key, ids = tampered
    victim = ids["vault_audit"][1]
    with pytest.raises(Rollback), conn.transaction():
        # the insider hides which case was closed
        conn.execute("UPDATE vault_audit SET detail = jsonb_set(detail, '{case_id}', '\"lain\"') WHERE id = %s",
                     (victim,))
        found = problems(conn, AUDIT, key)
        assert [(p.kind, p.position) for p in found] == [("altered", victim)], found
        assert found[0].en == f"Altered event: row {victim} of vault_audit"
        raise Rollback
    with pytest.raises(Rollback), conn.transaction():
        # ... or moves it to another time (the chain hashes it in UTC, whatever the session's zone)
        conn.execute("SET LOCAL TIME ZONE 'Asia/Jakarta'")
        conn.execute("UPDATE vault_audit SET at = at - interval '1 day' WHERE id = %s", (victim,))
        assert [(p.kind, p.position) for p in problems(conn, AUDIT, key)] == [("altered", victim)]
        raise Rollback
    requested = conn.execute("SELECT notification_id FROM vault_events WHERE topic LIKE '%%Requested'"
                             " ORDER BY notification_id LIMIT 1").fetchone()[0]
    with pytest.raises(Rollback), conn.transaction():
        # the reason an officer gave, rewritten
        conn.execute("UPDATE vault_events SET state = convert_to(replace(convert_from(state, 'UTF8'), 'LPSK',"
                     " 'lain'), 'UTF8') WHERE notification_id = %s", (requested,))
        found = problems(conn, EVENTS, key)
        assert found and found[0].kind == "altered" and found[0].position == requested, found
        raise Rollback


def _hashed_like_the_trigger(conn, log_id_before: int, position: int, record: list) -> tuple[bytes, bytes]:
    prev = bytes(conn.execute("SELECT event_hash FROM vault_audit WHERE id = %s", (log_id_before,)).fetchone()[0])
    return prev, record_hash("vault_audit", prev, position, record_digest(record))


def test_a_row_inserted_into_the_past_is_named_even_with_its_hashes_made_right(tampered):
    conn, key, ids = tampered
    first, second = ids["vault_audit"][:2]
    position = first + 1 if second > first + 1 else None  # between two rows
    with pytest.raises(Rollback), conn.transaction():
        assert position is not None, "ids have gaps (each insert draws its id again under the lock)"
        # the trigger would append the row at the end: the insider, as the table's owner, switches it off
        conn.execute("ALTER TABLE vault_audit DISABLE TRIGGER peluit_chain_link")
        at = conn.execute("SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
                          " FROM vault_audit WHERE id = %s", (first,)).fetchone()[0]
        record = [at, "closure_refused", None, '{"case_id": "palsu"}']
        prev, forged = _hashed_like_the_trigger(conn, first, position, record)
        conn.execute("INSERT INTO vault_audit (id, at, action, reporter_ref, detail, prev_log_hash, event_hash)"
                     " VALUES (%s, %s::timestamptz, %s, %s, %s::jsonb, %s, %s)",
                     (position, record[0], record[1], record[2], record[3], prev, forged))
        found = problems(conn, AUDIT, key)
        assert found and found[0].kind == "inserted" and found[0].position == position, found
        assert found[0].en.startswith(f"Inserted event: row {position} of vault_audit is not in the chain")
        raise Rollback


def test_history_rewritten_after_an_insert_or_edit_fails_at_the_signed_checkpoint(tampered):
    conn, key, ids = tampered
    first = ids["vault_audit"][0]
    newest = conn.execute("SELECT max(position) FROM vault_audit_checkpoint").fetchone()[0]
    with pytest.raises(Rollback), conn.transaction():
        conn.execute("UPDATE vault_audit SET action = 'nothing_happened' WHERE id = %s", (first,))
        # the insider recomputes every hash after the edit (the migration's function, written by hand)
        conn.execute(shared.relink_function(AUDIT, chain.schema(conn)))
        conn.execute("SELECT pg_temp.peluit_chain_relink(%s)", (first,))
        found = problems(conn, AUDIT, key)
        assert [(p.kind, p.position) for p in found] == [("checkpoint_head", newest)], found
        raise Rollback


def test_forged_checkpoints_are_refused(tampered):
    conn, key, _ = tampered
    for log in chain.LOGS.values():
        newest = conn.execute(sql.SQL("SELECT max(position) FROM {}").format(
            sql.Identifier(log.checkpoints))).fetchone()[0]
        with pytest.raises(Rollback), conn.transaction():
            conn.execute(sql.SQL("UPDATE {} SET signature = set_byte(signature, 0, get_byte(signature, 0) # 1)"
                                 " WHERE position = %s").format(sql.Identifier(log.checkpoints)), (newest,))
            found = problems(conn, log, key)
            assert [(p.kind, p.position) for p in found] == [("signature", newest)], found
            assert "(wrong signature" in found[0].en
            raise Rollback
        # signed with a key the insider made, registered in the database: not the key the auditor holds
        forger = CheckpointSigner(secrets.token_bytes(32))
        with pytest.raises(Rollback), conn.transaction():
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(log.checkpoints)))
            shared.register_key(conn, chain.schema(conn), forger)
            shared.checkpoint_once(conn, log, chain.schema(conn), forger)
            found = problems(conn, log, key)
            assert found and found[0].kind == "signature" and "signed by a key you did not give" in found[0].en
            assert verify_bundle(exported(conn, log)).intact  # which is why the auditor brings the key
            raise Rollback


@pytest.fixture
def auditor_role(db):
    """A vault with history, and a login role that may only read its logs, their checkpoints and keys."""
    role = f"vault_ro_{secrets.token_hex(4)}"
    with connect(db) as conn:
        migrate(conn)
    history(db).close()
    with connect(db) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        tables = [name for log in chain.LOGS.values() for name in (log.table, log.checkpoints)] + ["chain_key"]
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.SQL(", ").join(map(sql.Identifier, tables)), sql.Identifier(role)))
    yield role
    with connect(db) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin_conn:
        admin_conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_read_only_role_with_no_vault_secret_exports_and_the_verifier_says_intact(db, auditor_role, tmp_path,
                                                                                       monkeypatch, capsys):
    key = CheckpointSigner(secrets.token_bytes(32))
    checkpointed(db, key)
    pub = tmp_path / "vault-checkpoint.pub"
    pub.write_text(key.public_key.hex())
    params = psycopg.conninfo.conninfo_to_dict(dsn_for(db))
    params.update(user=auditor_role, options="-c default_transaction_read_only=on")
    for name in ("PELUIT_VAULT_KEK_FILE", "PELUIT_VAULT_PRIVATE_KEY_FILE", "PELUIT_VAULT_CHECKPOINT_KEY_FILE"):
        monkeypatch.setenv(name, str(tmp_path / "none"))  # no vault key file exists: none is read
    for log in chain.LOGS:
        out = tmp_path / f"{log}.json"
        assert admin.main(["export-bundle", "--log", log, "--out", str(out), "--schema", "public",
                           "--dsn", psycopg.conninfo.make_conninfo(**params)]) == 0
        result = subprocess.run([VERIFY, str(out), "--public-key", str(pub)], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0 and result.stdout.startswith("intact:"), result.stdout + result.stderr
        assert f"of {chain.LOGS[log].table}" in result.stdout
    # the next audit: the newest checkpoint the auditor kept from this one is a --since the history must extend
    since = tmp_path / "since.json"
    since.write_text(json.dumps(json.loads((tmp_path / "audit.json").read_text())["checkpoints"][-1]))
    with connect(db) as conn:
        records.audit(conn, "retention_set", None, {"tenant": "35.98", "years": 6})
    checkpointed(db, key, [chain.AUDIT])
    later = tmp_path / "audit-later.json"
    assert admin.main(["export-bundle", "--log", "audit", "--out", str(later), "--schema", "public",
                       "--dsn", psycopg.conninfo.make_conninfo(**params)]) == 0
    extends = subprocess.run([VERIFY, str(later), "--public-key", str(pub), "--since", str(since)],
                             capture_output=True, text=True, timeout=60)
    assert extends.returncode == 0 and extends.stdout.startswith("intact:"), extends.stdout + extends.stderr
    with connect(db) as conn, pytest.raises(Rollback), conn.transaction():
        # history rewritten and re-signed by someone holding the vault's key: the kept checkpoint refuses it
        first = conn.execute("SELECT min(id) FROM vault_audit").fetchone()[0]
        conn.execute("UPDATE vault_audit SET action = 'nothing' WHERE id = %s", (first,))
        conn.execute(shared.relink_function(chain.AUDIT, "public"))
        conn.execute("SELECT pg_temp.peluit_chain_relink(%s)", (first,))
        conn.execute("DELETE FROM vault_audit_checkpoint")
        shared.checkpoint_once(conn, chain.AUDIT, "public", key)
        rewritten = tmp_path / "rewritten.json"
        rewritten.write_text("".join(shared.iter_bundle(conn, chain.AUDIT, "public")))
        refused = subprocess.run([VERIFY, str(rewritten), "--public-key", str(pub), "--since", str(since)],
                                 capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "does not extend the trusted checkpoint" in refused.stdout, refused.stdout
        raise Rollback
    # the role cannot write, not even through the export
    with psycopg.connect(psycopg.conninfo.make_conninfo(**params)) as ro:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            ro.execute("INSERT INTO public.vault_audit (action) VALUES ('x')")
    # and before any checkpoint there is nothing to prove: a clear refusal
    with connect(db) as conn:
        conn.execute("DELETE FROM vault_audit_checkpoint")
    capsys.readouterr()
    assert admin.main(["export-bundle", "--log", "audit", "--out", str(tmp_path / "none.json"), "--schema", "public",
                       "--dsn", psycopg.conninfo.make_conninfo(**params)]) == 2
    assert "no signed checkpoint" in capsys.readouterr().err
