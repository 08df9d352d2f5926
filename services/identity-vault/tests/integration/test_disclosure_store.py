"""The disclosure log on the real PostgreSQL (the vault's ``vault_events``):
events and snapshots stored before the layer split (topics under
``peluit_vault.disclosure``) still load, and two vault instances deciding at
once record one decision."""

from __future__ import annotations

from uuid import uuid4

import psycopg
import pytest

from peluit_common.testing import dsn_for, eventsourcing_env_for
from peluit_vault.disclosure.application import DisclosureApplication
from peluit_vault.disclosure.domain import OLD_MODULE, DisclosureRegister, DisclosureRequest, DomainError

NEW_MODULE = "peluit_vault.disclosure.domain"


def officer(name: str, *roles: str) -> dict:
    return {"officer_id": str(uuid4()), "username": name, "roles": list(roles), "tenant": "35.73"}


DEWI = officer("dewi", "investigator")
AGUS = officer("agus", "inspektur")
AGUS2 = officer("agus2", "inspektur")


@pytest.fixture
def instances(fresh_db):
    """Two vault instances' applications on one database."""
    apps = [DisclosureApplication(env=eventsourcing_env_for(fresh_db)) for _ in range(2)]
    yield apps
    for app in apps:
        app.close()


def file(app) -> DisclosureRequest:
    case_id = str(uuid4())
    return app.request(DEWI, case_id=case_id, reporter_ref="r" * 32, tenant="35.73",
                       reason="Permohonan perlindungan LPSK", legal_basis="lpsk_protection", reporter_case_id=case_id)


def test_events_and_snapshots_stored_under_the_old_module_path_load(fresh_db, instances):
    first, _ = instances
    req = file(first)
    first.approve(req.id, AGUS, step_up=True, step_up_token_id=uuid4().hex)
    register_id = DisclosureRegister.create_id("35.73")
    first.take_snapshot(register_id)
    expected = first.trail("35.73")
    with psycopg.connect(dsn_for(fresh_db), autocommit=True) as db:
        for table in ("vault_events", "vault_snapshots"):
            changed = db.execute(
                f"UPDATE {table} SET topic = replace(topic, %(new)s, %(old)s), "
                "state = convert_to(replace(convert_from(state, 'UTF8'), %(new)s, %(old)s), 'UTF8') "
                "WHERE topic LIKE %(like)s OR convert_from(state, 'UTF8') LIKE %(in_state)s",
                {"new": NEW_MODULE + ":", "old": OLD_MODULE + ":", "like": NEW_MODULE + ":%",
                 "in_state": f"%{NEW_MODULE}:%"}).rowcount
            assert changed >= 1
        left = db.execute("SELECT count(*) FROM vault_events WHERE topic LIKE %s", (NEW_MODULE + "%",)).fetchone()
        assert left == (0,)
    upgraded = DisclosureApplication(env=eventsourcing_env_for(fresh_db))
    try:
        loaded = upgraded.get_request(req.id)
        assert type(loaded) is DisclosureRequest and loaded.status == "approved"
        assert upgraded.repository.get(register_id).request_ids == [str(req.id)]
        assert upgraded.trail("35.73") == expected
    finally:
        upgraded.close()


def approval(app, request_id, by, token_id):
    """One instance's approval, as a call: its outcome, "approved" or the refusal's code."""
    def call() -> str:
        try:
            app.approve(request_id, by, step_up=True, step_up_token_id=token_id)
        except DomainError as err:
            return err.code
        return "approved"
    return call


def test_two_instances_deciding_at_once_record_one_decision(instances, together):
    req = file(instances[0])
    outcomes = together(approval(instances[0], req.id, AGUS, uuid4().hex),
                        approval(instances[1], req.id, AGUS2, uuid4().hex))
    assert sorted(outcomes) == ["already_decided", "approved"]
    events = list(instances[1].events.get(req.id))
    assert [type(e).__name__ for e in events] == ["Requested", "Approved", "AttemptRefused"]


def test_one_step_up_token_approves_once_across_instances(instances, together):
    requests, token_id = [file(app) for app in instances], uuid4().hex
    outcomes = together(*[approval(app, req.id, AGUS, token_id) for app, req in zip(instances, requests)])
    assert sorted(outcomes) == ["approved", "step_up_reused"]
    assert sorted(instances[0].get_request(r.id).status for r in requests) == ["approved", "pending"]
