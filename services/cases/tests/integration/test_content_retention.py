"""Case content on a real PostgreSQL: sealed in every table, readable with the
KEK file, ended by the tenant's retention period (the key destroyed, the
history told, the evidence copies emptied), and the KEK rotatable. A DBA with
every row of the database and without the KEK file reads no content."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from peluit_cases import case_index, catalogue, content, evidence, retention, tenant_settings
from peluit_cases.application import CasesApplication
from peluit_common.keyring import Keyring
from peluit_common.testing import dsn_for, eventsourcing_env_for

from ..support import INSPEKTUR, PENELAAH, _hex, command, run

CANARY = f"KANARI{secrets.token_hex(6)}"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=timezone.utc)


def dump(conn) -> str:
    """Every row of every table of the database, as text (what a DBA with SQL reads)."""
    tables = conn.execute("SELECT schemaname, tablename FROM pg_tables "
                          "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").fetchall()
    out = []
    for schema, table in tables:
        for (row,) in conn.execute(psycopg.sql.SQL("SELECT t::text FROM {}.{} t").format(
                psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table))).fetchall():
            out.append(row)
    return "\n".join(out)


def everything(conn) -> bytes:
    """Every bytea and text column as raw bytes, and the ``\\x`` hex of bytea decoded (sealed bytes stay sealed)."""
    text = dump(conn)
    hexes = [bytes.fromhex(h) for h in re.findall(r"\\\\x([0-9a-f]+)", text)]
    return text.encode() + b"".join(hexes)


@pytest.fixture
def kek_file(tmp_path):
    path = tmp_path / "content-kek.key"
    path.write_text(os.urandom(32).hex() + "\n")
    return path


@pytest.fixture
def store(fresh_db, kek_file):
    with psycopg.connect(dsn_for(fresh_db), autocommit=True) as conn:
        catalogue.migrate(conn)
        catalogue.seed_demo(conn)
        case_index.migrate(conn)
        evidence.migrate(conn)
    keyring = Keyring.parse(kek_file.read_text())
    app = CasesApplication(env=eventsourcing_env_for(fresh_db), content_keyring=keyring)
    with ConnectionPool(dsn_for(fresh_db), min_size=1, max_size=2, open=True) as pool:
        yield app, pool, fresh_db
    app.close()


def _case_with_canary(app, pool):
    cmd = command(1)
    cmd["report"] = {**cmd["report"], "what": f"Dana hibah dipotong oleh {CANARY}-report"}
    case_id = app.register_report(cmd, now=NOW).case_id
    app.reporter_writes(_hex("rcpt-1"), f"pesan {CANARY}-dialog")
    run(app, case_id, "add_note", PENELAAH, text=f"catatan {CANARY}-note")
    blob = f"bukti {CANARY}-evidence".encode()
    evidence.add(app, pool, _hex("rcpt-1"), [{
        "label": "lampiran-1.txt", "mime": "text/plain", "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
        "original_ref": secrets.token_urlsafe(24), "content": base64.b64encode(blob).decode()}])
    run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "reject", INSPEKTUR, reason=f"alasan {CANARY}-reason")
    with pool.connection() as conn:
        case_index.upsert(conn, app.get_case(case_id))
    return case_id


def test_content_is_sealed_in_every_table_and_ends_with_retention(store):
    app, pool, dbname = store
    case_id = _case_with_canary(app, pool)
    with psycopg.connect(dsn_for(dbname), autocommit=True) as conn:
        # a DBA reads no content: the text is not there, and neither is a key that opens it
        seen = everything(conn)
        assert CANARY.encode() not in seen
        case_key, kek = app.mapper.keys.case_key(case_id), app.mapper.keys.keyring.current
        assert case_key not in seen and case_key.hex().encode() not in seen
        assert kek not in seen and kek.hex().encode() not in seen
        assert conn.execute("SELECT count(*) FROM content_item_key WHERE case_id = %s", (case_id,)).fetchone()[0] == 7
    case, history, messages = app.transcript(case_id)
    assert CANARY in case.report["what"] and CANARY in messages[-1]["text"] and CANARY in history[-1]["reason"]
    with pool.connection() as conn:
        conn.execute("UPDATE tenant SET content_retention_years = 2 WHERE code = '35.73'")
        assert tenant_settings.read(conn, "35.73")["content_retention_years"] == 2
        conn.commit()
    ended_at = app.get_case(case_id).modified_on
    assert retention.run_once(pool, app, ended_at + timedelta(days=365)) == 0  # not yet
    assert retention.run_once(pool, app, ended_at + timedelta(days=2 * 366)) == 1
    assert retention.run_once(pool, app, ended_at + timedelta(days=3 * 366)) == 0  # once
    case, history, messages = app.transcript(case_id)
    assert case.report["what"] == content.UNAVAILABLE and messages[-1]["text"] == content.UNAVAILABLE
    assert history[-1]["kind"] == "content_ended" and history[-1]["retention_years"] == 2
    assert [h["reason"] for h in history if h["kind"] == "rejected"] == [content.UNAVAILABLE]
    assert case.status == "ditolak" and case.registration_number and case.category == "korupsi"  # the skeleton
    with psycopg.connect(dsn_for(dbname), autocommit=True) as conn:
        assert conn.execute("SELECT wrapped, kek_id FROM content_case_key WHERE case_id = %s",
                            (case_id,)).fetchone() == (None, None)
        assert conn.execute("SELECT count(*) FROM content_item_key WHERE case_id = %s", (case_id,)).fetchone()[0] == 0
        assert conn.execute("SELECT bytes FROM evidence_blob WHERE case_id = %s", (case_id,)).fetchone()[0] == b""
    with pytest.raises(content.ContentEnded):
        run(app, case_id, "add_note", PENELAAH, text="setelah retensi")
    # a second process (its own cache) reads the same: nothing
    other = CasesApplication(env=eventsourcing_env_for(dbname), content_keyring=app.mapper.keys.keyring)
    try:
        assert other.get_case(case_id).report["what"] == content.UNAVAILABLE
    finally:
        other.close()


def test_forget_field_on_postgres_drops_the_snapshots(store):
    app, pool, dbname = store
    case_id = app.register_report(command(2), now=NOW).case_id
    for n in range(50):
        run(app, case_id, "add_note", PENELAAH, text=f"n{n} {CANARY}")
    with psycopg.connect(dsn_for(dbname), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM cases_snapshots WHERE originator_id = %s",
                            (case_id,)).fetchone()[0] == 1
        content.forget_field(app, case_id, 10, "text")  # version 1 registered it: 10 is the ninth note
        assert conn.execute("SELECT count(*) FROM cases_snapshots WHERE originator_id = %s",
                            (case_id,)).fetchone()[0] == 0
    _, history, _ = app.transcript(case_id)
    assert [h["text"] for h in history if h["kind"] == "note"][7:10] == [f"n7 {CANARY}", content.UNAVAILABLE,
                                                                        f"n9 {CANARY}"]


def test_the_kek_rotates_and_the_old_one_can_go(store, kek_file):
    app, pool, dbname = store
    ids = [app.register_report(command(n), now=NOW).case_id for n in range(3, 8)]
    old = Keyring.parse(kek_file.read_text())
    new_key = os.urandom(32)
    rotated = Keyring([new_key, old.current])
    with_both = CasesApplication(env=eventsourcing_env_for(dbname), content_keyring=rotated)
    try:
        assert with_both.mapper.keys.pending() == {old.current_id: 5}
        assert with_both.mapper.keys.rewrap(batch=2) == 5
        assert with_both.mapper.keys.pending() == {}
    finally:
        with_both.close()
    only_new = CasesApplication(env=eventsourcing_env_for(dbname), content_keyring=Keyring([new_key]))
    try:
        assert [only_new.get_case(i).report["what"] for i in ids] == ["Dana hibah dipotong 20%"] * 5
    finally:
        only_new.close()
    # a process with only the old KEK (a restore of an old backup after the rotation) opens nothing new
    only_old = CasesApplication(env=eventsourcing_env_for(dbname), content_keyring=old)
    try:
        with pytest.raises(LookupError):
            only_old.get_case(ids[0])
    finally:
        only_old.close()


def test_the_upgrade_drops_snapshots_in_clear_and_keeps_the_events(fresh_db, kek_file):
    """A store from before content encryption: its events stay as they are (the chain is over them), its
    case snapshots (a cache holding the text in clear) go; the case loads, its old text in clear."""
    from eventsourcing.application import Application

    from peluit_cases.domain import Case

    class Before(Application):
        name = "cases"
        snapshotting_intervals = {Case: 50}

    before = Before(env=eventsourcing_env_for(fresh_db))
    case = Case(submission_id="s", fingerprint="f", tenant="35.73", registration_number="WBS/35.73/2026/000001",
                category="korupsi", channel="web", report={"what": f"lama {CANARY}"}, reporter_ref=None,
                anonymous=True)
    before.save(case)
    before.take_snapshot(case.id)
    before.close()
    app = CasesApplication(env=eventsourcing_env_for(fresh_db), content_keyring=Keyring.parse(kek_file.read_text()))
    try:
        with psycopg.connect(dsn_for(fresh_db), autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM cases_snapshots").fetchone()[0] == 0
            assert conn.execute("SELECT count(*) FROM cases_events").fetchone()[0] == 1
        assert app.get_case(case.id).report["what"] == f"lama {CANARY}"
    finally:
        app.close()
