"""The forgetting a redaction owes, on real PostgreSQL (``redaction_pending``):
kept from before the event until done, swept up only once it is older than a
redaction in progress can be."""

from __future__ import annotations

import psycopg
import pytest

from peluit_cases import redaction_api
from peluit_common.testing import dsn_for

from ..support import NOW, command, memory_app
from .test_evidence import OnePool


@pytest.fixture(scope="module")
def pending(throwaway_db):
    with psycopg.connect(dsn_for(throwaway_db)) as conn:
        redaction_api.migrate(conn)
        redaction_api.migrate(conn)  # idempotent
        yield redaction_api.PgPending(OnePool(conn))


def test_a_debt_is_kept_until_done_and_swept_only_when_old(pending):
    app = memory_app()
    case_id = app.register_report(command(7), now=NOW).case_id
    target = {"kind": "report", "field": "what"}
    pending.add(case_id, 2, target)
    pending.add(case_id, 2, target)  # a retry adds nothing
    assert pending.due() == []  # still within the time a live redaction may take
    assert pending.due(older_than=-1) == [(case_id, 2, target)]
    assert redaction_api.sweep(app, pending) == 0
    assert redaction_api.sweep(app, pending, older_than=-1) == 1
    assert pending.due(older_than=-1) == []  # no redaction event at version 2: nothing to forget, struck off
