"""The officers acting on a case, as the recipients RPC names them."""

from types import SimpleNamespace

from peluit_cases.notify_directory import acting_officers

HISTORY = [{"actor": {"id": "system"}}, {"actor": {"officer_id": "a", "tenant": "35.73"}},
           {"actor": {"officer_id": "p", "tenant": "35"}}, {"actor": {"officer_id": "a", "tenant": "35.73"}},
           {"actor": {"officer_id": "c", "tenant": "35.73"}}]


def test_the_handling_tenants_officers_who_acted_latest_first_until_there_is_a_team():
    case = SimpleNamespace(investigation=None, handling_tenant="35.73")
    assert acting_officers(case, HISTORY) == ["c", "a"]  # not the system, not another tenant's officer
    case.investigation = {"team": ["t1", "t2"]}
    assert acting_officers(case, HISTORY) == ["t1", "t2"]


def test_a_disclosure_step_becomes_an_envelope_with_ids_only():
    import uuid
    from datetime import datetime, timezone

    from peluit_cases.notify_api import disclosure_envelope
    from peluit_contracts.events import load_envelope

    reply = {"request_id": str(uuid.uuid4()), "case_id": str(uuid.uuid4()), "tenant": "35.73",
             "requested_by": str(uuid.uuid4()), "status": "approved", "legal_basis": "lpsk_protection",
             "reason": "Alasan yang tidak boleh keluar"}
    envelope = disclosure_envelope("approved", reply, datetime(2026, 3, 2, tzinfo=timezone.utc))
    assert load_envelope(envelope)["type"] == "disclosure.approved"
    assert envelope["id"] == f"disclosure:{reply['request_id']}:approved"
    assert set(envelope["data"]) == {"request_id", "case_id", "tenant", "requested_by", "at"}
    assert "Alasan" not in str(envelope)
