"""The hash-chain trigger, checkpoints and export on a real PostgreSQL
(a throwaway database per test), checked by the offline verifier."""

from __future__ import annotations

import base64
import contextlib
import secrets
import uuid
from datetime import datetime, timedelta, timezone

import eventlet
import psycopg
import pytest

from peluit_cases import audit, chain
from peluit_cases.application import CasesApplication
from peluit_chain import ZERO_HASH, CheckpointSigner, content_digest, event_hash, event_hash_v2
from peluit_common.testing import dsn_for, eventsourcing_env_for
from peluit_verify.verify import verify_bundle

from ..support import NOW, PENELAAH, command, memory_app


@pytest.fixture
def dbname(fresh_db):
    """A fresh database with the service's schema."""
    with psycopg.connect(dsn_for(fresh_db), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA peluit")
    return fresh_db


@pytest.fixture
def app(dbname):
    with contextlib.closing(make_app(dbname)) as application:
        yield application


def make_app(dbname) -> CasesApplication:
    return CasesApplication(env=eventsourcing_env_for(dbname, schema="peluit"))


def connect(dbname) -> psycopg.Connection:
    # autocommit: every ``conn.transaction()`` is then a real transaction, as on the service's pool
    conn = psycopg.connect(dsn_for(dbname), autocommit=True)
    conn.execute("SET search_path = peluit")
    return conn


def rows(conn):
    with conn.transaction():
        return conn.execute("SELECT notification_id, originator_id, originator_version, topic, state, prev_log_hash,"
                            " prev_aggregate_hash, event_hash FROM cases_events ORDER BY notification_id").fetchall()


def assert_chained(conn):
    """Recompute every link in Python (peluit_chain's encoding) against the trigger's:
    version 1 for rows chained by the migration, version 2 for the trigger's."""
    prev, by_version = ZERO_HASH, {}
    stored = rows(conn)
    with conn.transaction():
        versions = dict(conn.execute("SELECT notification_id, hash_version FROM cases_events").fetchall())
    for nid, oid, version, topic, state, prev_log, prev_agg, digest in stored:
        expected_agg = by_version.get((oid, version - 1), ZERO_HASH)
        assert bytes(prev_log) == prev and bytes(prev_agg) == expected_agg, nid
        expected = (event_hash_v2(prev, expected_agg, nid, oid, version, content_digest(topic, bytes(state)))
                    if versions[nid] == 2 else event_hash(prev, expected_agg, nid, oid, version, topic, bytes(state)))
        assert bytes(digest) == expected, nid
        prev = by_version[(oid, version)] = bytes(digest)
    return stored


def sql_installed_relink() -> str:
    return ("CREATE FUNCTION peluit.peluit_chain_relink(from_id bigint) RETURNS bigint LANGUAGE sql"
            " AS 'SELECT 0::bigint'")


def signer():
    return CheckpointSigner(secrets.token_bytes(32))


def test_existing_rows_are_chained_once_then_the_trigger_chains_every_insert(dbname):
    before_upgrade = make_app(dbname)
    first = before_upgrade.register_report(command(1), now=NOW).case_id
    before_upgrade.register_report(command(2), now=NOW)
    before_upgrade.execute(first, 1, "start_verification", PENELAAH)
    # its prepared "SELECT *" plans would not survive the new columns: the service migrates at start
    before_upgrade.close()
    app = make_app(dbname)
    with connect(dbname) as conn:
        before = conn.execute("SELECT count(*) FROM cases_events").fetchone()[0]
        conn.execute(sql_installed_relink())  # as an older version left it
        assert chain.migrate(conn) is True
        assert len(assert_chained(conn)) == before  # the migration chained what was there
        # ... without leaving a "recompute every hash" function in the database
        assert conn.execute("SELECT count(*) FROM pg_proc WHERE proname = 'peluit_chain_relink'").fetchone() == (0,)
        third = app.register_report(command(3), now=NOW).case_id
        app.execute(third, 1, "start_verification", PENELAAH)
        app.execute(first, 2, "add_note", PENELAAH, text="catatan")
        stored = assert_chained(conn)
        assert len(stored) > before
        assert chain.migrate(conn) is True  # idempotent: nothing re-hashed
        assert rows(conn) == stored
        nullable = conn.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'cases_events'"
                                " AND column_name LIKE '%%hash' AND is_nullable = 'NO'").fetchone()[0]
        assert nullable == 3
    app.close()


def test_checkpoints_sign_only_a_moved_head_and_bundles_verify(dbname, app):
    with connect(dbname) as conn:
        chain.migrate(conn)
        case_id = app.register_report(command(1), now=NOW).case_id
        app.register_report(command(2), now=NOW)
        key = signer()
        chain.register_key(conn, key)
        made = chain.checkpoint_once(conn, key)
        assert made and made["position"] == rows(conn)[-1][0]
        assert chain.checkpoint_once(conn, key) is None  # the head did not move
        app.execute(case_id, 1, "start_verification", PENELAAH)
        assert chain.checkpoint_once(conn, key)["position"] > made["position"]
        app.record_access(case_id, "o-auditor", "35", ["auditor"], "audit_bundle", True)  # after the newest checkpoint

        with conn.transaction():
            whole = audit.bundle(conn)
        report = verify_bundle(whole, [key.public_key])
        assert report.intact, report.problems
        assert whole["genesis"] and report.checkpoints == 2 and report.full_events == len(whole["events"])
        # the access log's events after the newest checkpoint are not covered yet
        covered = [r for r in rows(conn) if r[0] <= whole["range"]["last"]]
        assert len(whole["events"]) == len(covered) == len(rows(conn)) - 2

        with conn.transaction():
            one = audit.bundle(conn, case_id)
        report = verify_bundle(one, [key.public_key])
        assert report.intact, report.problems
        full = [e for e in one["events"] if "state" in e]
        assert {e["originator_id"] for e in full} == {str(case_id)}
        assert [e["originator_version"] for e in full] == [1, 2]
        # other cases' events are stubs: nothing but the chain
        other = [e for e in one["events"] if "state" not in e]
        # other cases' events carry what their hash needs (ids, version, content digest), never their content
        assert other and all(set(e) == {"notification_id", "prev_log_hash", "event_hash", "hash_version",
                                        "originator_id", "originator_version", "prev_aggregate_hash",
                                        "content_digest"} for e in other)
        assert b"sub-2" not in base64.b64decode(full[0]["state"])

        # tampering in SQL, exported from the same transaction, rolled back
        victim = full[1]["notification_id"]
        with pytest.raises(Rollback), conn.transaction():
            conn.execute("UPDATE cases_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
                         " 'o-penelaah', 'o-lain'), 'UTF8') WHERE notification_id = %s", (victim,))
            problem = verify_bundle(audit.bundle(conn, case_id), [key.public_key]).first()
            assert problem.kind == "altered" and f"notification {victim} (aggregate/case {case_id}, version 2)" \
                in problem.en
            raise Rollback
        assert verify_bundle(audit.bundle(conn, case_id), [key.public_key]).intact

        # the case's newest event moved to another aggregate (no later event of the case links to it)
        with pytest.raises(Rollback), conn.transaction():
            conn.execute("UPDATE cases_events SET originator_id = gen_random_uuid(), originator_version = 1"
                         " WHERE notification_id = %s", (victim,))
            problems = verify_bundle(audit.bundle(conn, case_id), [key.public_key]).problems
            assert [(p.kind, p.position) for p in problems] == [("altered", victim)], problems
            raise Rollback


class Rollback(Exception):
    pass


def test_timeline_and_as_of(dbname, app):
    with connect(dbname) as conn:
        chain.migrate(conn)
        case_id = app.register_report(command(1)).case_id
        between = datetime.now(timezone.utc)
        app.execute(case_id, 1, "start_verification", PENELAAH)
        line = audit.timeline(app, conn, case_id)
        assert [e["type"] for e in line["events"]] == ["Case.Registered", "Case.VerificationStarted"]
        assert line["events"][1]["actor"]["officer_id"] == "o-penelaah"
        assert all(len(e["event_hash"]) == 64 and e["notification_id"] for e in line["events"])
        case, history, _ = audit.case_as_of(app, case_id, between)
        assert case.status == "diterima" and case.version == 1 and len(history) == 1
        assert audit.case_as_of(app, case_id, datetime.now(timezone.utc))[0].status == "verifikasi"
        assert audit.case_as_of(app, case_id, between - timedelta(days=1)) is None


def test_concurrent_writers_and_other_insert_paths_keep_one_chain(dbname, app):
    with connect(dbname) as conn:
        chain.migrate(conn)
    pool = eventlet.GreenPool(8)
    tenants = ("35.73", "35.07", "35.78", "35")  # a sequence each: the writers really overlap
    for n in range(40):
        pool.spawn(app.register_report, command(100 + n, tenant=tenants[n % 4]), now=NOW)
    # a raw INSERT (not eventsourcing) is chained the same way
    with connect(dbname) as raw:
        raw.execute("INSERT INTO cases_events (originator_id, originator_version, topic, state)"
                    " VALUES (%s, 1, 'x:Y', '\\x7b7d')", (uuid.uuid4(),))
    pool.waitall()
    with connect(dbname) as conn:
        # 4 sequences started, 3 events per registration, the raw row
        assert len(assert_chained(conn)) == 4 + 40 * 3 + 1


def test_inserts_that_would_fork_the_chain_are_refused(dbname, app):
    app.register_report(command(1), now=NOW)
    with connect(dbname) as conn:
        chain.migrate(conn)
        # an id before the head (as if drawn before the lock): refused, not forked
        with pytest.raises(psycopg.errors.SerializationFailure), conn.transaction():
            conn.execute("INSERT INTO cases_events (originator_id, originator_version, topic, state, notification_id)"
                         " VALUES (%s, 1, 'x:Y', '\\x7b7d', 1)", (uuid.uuid4(),))
        # an older snapshot than READ COMMITTED gives could miss the head
        with pytest.raises(psycopg.errors.SerializationFailure), conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            conn.execute("INSERT INTO cases_events (originator_id, originator_version, topic, state)"
                         " VALUES (%s, 1, 'x:Y', '\\x7b7d')", (uuid.uuid4(),))
        assert_chained(conn)


def test_domain_event_pages_load_cases_in_one_query_and_match_any_page_size(app):
    """``domain_events`` loads a page's cases together on PostgreSQL; the
    envelopes must be those of the in-memory store, wherever pages split."""
    memory = memory_app()
    for target in (app, memory):
        ids = [target.register_report(command(n), now=NOW).case_id for n in range(1, 4)]
        for case_id in ids:
            target.execute(case_id, 1, "start_verification", PENELAAH)
        target.execute(ids[0], 2, "add_note", PENELAAH, text="catatan")
        target.execute(ids[1], 2, "reject", PENELAAH, reason="Bukan kewenangan Inspektorat")

    def envelopes(application, limit):
        out, position = [], 0
        while True:
            page = application.domain_events(after=position, limit=limit)
            out += [{**{k: v for k, v in e.items() if k not in ("position", "time", "data")},
                     "data": {k: v for k, v in e["data"].items() if not k.endswith("_at")}}  # times differ
                    for e in page["events"]]
            if page["next"] == position:
                return out
            position = page["next"]

    expected = envelopes(memory, 1000)
    assert [e["type"] for e in expected].count("case.status_changed") == 4  # three verifications, one rejection
    for limit in (1, 2, 3, 5, 1000):
        assert envelopes(app, limit) == expected, limit
