"""A BKPSDM's sanction.followed_up, in memory: the broker's word on the sender,
the tenant wall, idempotency, and refusals that record nothing."""

from __future__ import annotations

import pytest

from peluit_cases import inbound
from peluit_common.inbound import Refused

from ..support import DUE, INSPEKTUR, IRBAN, NOW, PENELAAH, command, memory_app, run


@pytest.fixture
def case():
    app = memory_app()
    case_id = app.register_report(command(1), now=NOW).case_id
    for cmd, actor, args in [
        ("start_verification", PENELAAH, {}), ("accept", PENELAAH, {}),
        ("start_investigation", INSPEKTUR, {"team": ["o-irban"], "plan": "p", "due_on": DUE}),
        ("record_findings", IRBAN, {"outcome": "terbukti", "summary": "s", "recommendations": [
            {"kind": "sanksi_disiplin", "sanction": {"level": "sedang", "type": "pemotongan_tukin_25_persen",
                                                     "months": 6}},
            {"kind": "perbaikan_administrasi", "details": "SOP"}]}),
    ]:
        run(app, case_id, cmd, actor, **args)
    return app, app.get_case(case_id)


def message(case, tenant="35.73", user="partner-bkpsdm-3573", event_id="e-1", **data):
    body = {"case_id": str(case.id), "registration_number": case.registration_number, "recommendation_id": "R1",
            "decision": "imposed", "level": "sedang", "sanction": "pemotongan_tukin_25_persen", "months": 6,
            "decided_on": "2026-12-01", "decree_number": "800/123/35.73/2026", **data}
    meta = {"user_id": user, "routing_key": f"sanction.followed_up.v1.{tenant}", "message_id": event_id,
            "headers": {"ce-specversion": "1.0", "ce-id": event_id, "ce-type": "sanction.followed_up",
                        "ce-dataversion": 1, "ce-source": "bkpsdm/35.73"}}
    return body, meta


def test_a_follow_up_lands_on_the_recommendation_and_the_timeline_once(case):
    app, c = case
    assert inbound.handle(app, *message(c)) == "sanction_followed_up"
    after = app.get_case(c.id)
    followed = after.recommendations[0]["followed_up"]
    assert followed["source"] == "partner-bkpsdm-3573" and followed["decision"] == "imposed"
    assert followed["decided_on"] == "2026-12-01"
    _, history, _ = app.transcript(c.id)
    step = history[-1]
    assert step["kind"] == "sanction_followed_up" and step["actor"] == {"system": "partner-bkpsdm-3573"}
    assert step["reporter_visible"] is False
    inbound.handle(app, *message(c))  # redelivered: nothing new
    assert app.get_case(c.id).version == after.version


@pytest.mark.parametrize("change, reason", [
    ({"user": None}, "unauthenticated_source"),
    ({"user": "guest"}, "unauthenticated_source"),
    ({"tenant": "35.07"}, "tenant_not_allowed"),
    ({"registration_number": "WBS/35.73/2026/999999"}, "registration_number_mismatch"),
    ({"recommendation_id": "R2"}, "unknown_recommendation"),  # not a sanction
    ({"recommendation_id": "R9"}, "unknown_recommendation"),
    ({"case_id": "6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b"}, "unknown_case"),
    ({"decision": "maybe"}, "invalid_data: decision"),
    ({"decided_on": "kemarin"}, "invalid_data: decided_on"),
    ({"name": "Budi"}, "invalid_data: name"),  # closed: nothing else rides along
])
def test_what_is_wrong_is_refused_with_its_reason_and_records_nothing(case, change, reason):
    app, c = case
    meta_keys = {k: change.pop(k) for k in ("user", "tenant") if k in change}
    body, meta = message(c, **meta_keys, **change)
    with pytest.raises(Refused) as refused:
        inbound.handle(app, body, meta)
    assert refused.value.reason == reason
    assert app.get_case(c.id).version == c.version


def test_a_message_that_is_not_a_cloudevent_of_a_known_type_is_refused(case):
    app, c = case
    body, meta = message(c)
    for headers, reason in [({}, "not_a_cloudevent"), ({**meta["headers"], "ce-type": "complaint.filed"},
                                                        "unknown_type_or_version"),
                            ({**meta["headers"], "ce-dataversion": "2"}, "unknown_type_or_version")]:
        with pytest.raises(Refused) as refused:
            inbound.handle(app, body, {**meta, "headers": headers})
        assert refused.value.reason.startswith(reason)
    with pytest.raises(Refused):
        inbound.handle(app, body, {**meta, "routing_key": "case.closed.v1.35.73"})
    with pytest.raises(Refused):
        inbound.handle(app, [body], meta)


class Ports:
    def __init__(self):
        self.stored = {}

    def store_identity(self, submission_id, sealed_b64, tenant):
        if sealed_b64 == "bad":
            return {"error": "invalid_sealed_identity"}
        self.stored[submission_id] = sealed_b64
        return {"reporter_ref": "r" * 24}

    def catalogue_problem(self, tenant, category):
        return None if category == "korupsi" else "unknown_category"

    def parent_tenant(self, tenant):
        return "35"


def report_message(user="partner-lapor-3573", tenant="35.73", **data):
    body = {"source_id": "LAPOR-1", "tenant": "35.73", "category": "korupsi", "what": "Dana hibah dipotong",
            "where": "Dinas Sosial", "when": "Oktober 2026", "sealed_identity": "c2VhbGVk", **data}
    meta = {"user_id": user, "routing_key": f"report.submitted.v1.{tenant}", "message_id": "m-1",
            "headers": {"ce-specversion": "1.0", "ce-id": "m-1", "ce-type": "report.submitted",
                        "ce-dataversion": "1"}}
    return body, meta


def test_a_partner_report_over_the_broker_is_registered_once_with_its_source():
    app, ports = memory_app(), Ports()
    assert inbound.handle(app, *report_message(), ports) == "report_submitted"
    inbound.handle(app, *report_message(), ports)  # redelivered: the same case
    [case_id] = {e["subject"] for e in app.domain_events(after=0, limit=50)["events"]}
    case = app.get_case(case_id)
    assert case.channel == "integration" and case.source == {"system": "lapor-3573", "source_id": "LAPOR-1"}
    assert case.reporter_ref == "r" * 24 and case.anonymous is False and len(ports.stored) == 1
    with pytest.raises(Refused) as changed:
        inbound.handle(app, *report_message(what="Isi lain dengan nomor sumber yang sama"), ports)
    assert changed.value.reason == "idempotency_key_reused"


@pytest.mark.parametrize("change, reason, dropped", [
    ({"identity": {"name": "Siti"}}, "identity_in_clear", True),
    ({"sealed_identity": "bad"}, "invalid_sealed_identity", False),
    ({"category": "lain"}, "unknown_category", False),
    ({"tenant": "35.07"}, "tenant_not_allowed", False),
    ({"source_id": "with space"}, "invalid_data: source_id", False),
])
def test_a_bad_partner_report_is_refused_and_records_nothing(change, reason, dropped):
    app = memory_app()
    with pytest.raises(Refused) as refused:
        inbound.handle(app, *report_message(**change), Ports())
    assert (refused.value.reason, refused.value.drop_body) == (reason, dropped)
    assert app.domain_events(after=0, limit=10)["events"] == []
