"""envelope_log on a real PostgreSQL: kept envelopes are exactly the derived
ones, readers get the kept part and a derived tail, and the follower keeps
each position once even when it runs again or its tracking row is reset."""

from __future__ import annotations

import json

import pytest
from psycopg_pool import ConnectionPool

from peluit_cases import catalogue, envelope_log

from peluit_common.testing import dsn_for

from ..support import DUE, INSPEKTUR, IRBAN, NOW, PENELAAH, command, run
from .test_chain import app, dbname, make_app  # noqa: F401 - fixtures


@pytest.fixture
def pool(dbname):  # noqa: F811
    with ConnectionPool(f"{dsn_for(dbname)} options='-c search_path=peluit'", min_size=1,
                        max_size=2, open=True) as p:
        with p.connection() as conn:
            catalogue.migrate(conn)  # relay_position
            envelope_log.migrate(conn)
        yield p


def busy_log(app) -> None:  # noqa: F811
    """Cases that register, move, forward, close with sanctions and get notes (no envelopes)."""
    a = app.register_report(command(1), now=NOW).case_id
    for cmd, actor, args in [
        ("start_verification", PENELAAH, {}), ("add_note", PENELAAH, {"text": "catatan"}), ("accept", PENELAAH, {}),
        ("start_investigation", INSPEKTUR, {"team": ["o-irban"], "plan": "p", "due_on": DUE}),
        ("record_findings", IRBAN, {"outcome": "terbukti", "summary": "s", "recommendations": [
            {"kind": "sanksi_disiplin", "sanction": {"level": "ringan", "type": "teguran_lisan"}}]}),
        ("complete_recommendation", INSPEKTUR, {"recommendation_id": "R1", "note": "SK terbit"}),
        ("close", INSPEKTUR, {"reason": "Tuntas", "feedback": "Terima kasih."}),
    ]:
        run(app, a, cmd, actor, **args)
    b = app.register_report(command(2), now=NOW).case_id
    run(app, b, "forward", PENELAAH, destination_kind="tenant", destination="35.07", reason="Lokus")
    c = app.register_report(command(3), now=NOW).case_id
    run(app, c, "forward", PENELAAH, destination_kind="external", destination="kpk", reason="Kewenangan KPK")


def pages(app, limit: int) -> list[dict]:  # noqa: F811
    out, after = [], 0
    while True:
        page = app.domain_events(after=after, limit=limit)
        out.extend(page["events"])
        if page["next"] == after:
            return out
        after = page["next"]


def as_json(envelopes):
    return json.loads(json.dumps(envelopes))


def test_kept_envelopes_are_the_derived_ones_and_the_tail_is_derived(app, pool):  # noqa: F811
    busy_log(app)
    head = app.max_position()
    derived = app.derive_envelopes(after=0, limit=head)["events"]
    assert {e["type"] for e in derived} >= {"case.registered", "case.status_changed", "case.forwarded",
                                            "case.sanction_recommended", "case.closed", "case.message_for_reporter"}
    assert pages(app, 3) == derived  # nothing kept yet: every page derived

    assert envelope_log.follow_once(pool, app, batch=7) == 7  # part of the log kept
    assert envelope_log.follow_once(pool, app, batch=7) == 7
    for limit in (1, 2, 5, 500):
        assert as_json(pages(app, limit)) == as_json(derived), limit  # kept part, then the derived tail
    while envelope_log.follow_once(pool, app, batch=4):
        pass
    with pool.connection() as conn:
        kept = conn.execute("SELECT position FROM relay_position WHERE name = 'envelope_log'").fetchone()[0]
        assert kept == head
    page = app.domain_events(after=0, limit=10_000)
    assert page["next"] == head and page["head"] == head and page["events"] == as_json(derived)

    # more events after everything was kept: served from both, in order
    d = app.register_report(command(4), now=NOW).case_id
    run(app, d, "start_verification", PENELAAH)
    assert as_json(pages(app, 2)) == as_json(app.derive_envelopes(after=0, limit=10_000)["events"])


def test_keeping_again_changes_nothing(app, pool):  # noqa: F811
    busy_log(app)
    while envelope_log.follow_once(pool, app):
        pass
    with pool.connection() as conn:
        before = conn.execute("SELECT position, envelopes::text FROM envelope_log ORDER BY position").fetchall()
        # the tracking row lost (a restore from an older backup): the same positions again
        conn.execute("UPDATE relay_position SET position = 0 WHERE name = 'envelope_log'")
        conn.commit()
    while envelope_log.follow_once(pool, app):
        pass
    with pool.connection() as conn:
        assert conn.execute("SELECT position, envelopes::text FROM envelope_log ORDER BY position").fetchall() == before
    with pool.connection() as conn:
        envelope_log.reset(conn)
    assert app.domain_events(after=0, limit=10_000)["events"] == app.derive_envelopes(after=0, limit=10_000)["events"]
    with pool.connection() as conn:
        assert conn.execute("SELECT count(*) FROM envelope_log").fetchone()[0] == 0


def test_another_instance_holding_the_row_is_left_alone(app, pool):  # noqa: F811
    busy_log(app)
    with pool.connection() as holder, holder.transaction():
        holder.execute("SELECT position FROM relay_position WHERE name = 'envelope_log' FOR UPDATE")
        assert envelope_log.follow_once(pool, app) == 0
    assert envelope_log.follow_once(pool, app) > 0
