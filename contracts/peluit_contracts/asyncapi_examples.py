"""One example per event type and version, as it appears on the wire (JSON-ready)."""

from __future__ import annotations

from .integration import is_integration, to_cloudevent

CASE = "6f1c2a4e-3b7d-5e8f-9a0b-1c2d3e4f5a6b"
NUMBER = "WBS/35.73/2026/000123"
AT = "2026-11-02T03:15:00+00:00"

_SANCTION_V1 = {"case_id": CASE, "registration_number": NUMBER, "tenant": "35.73", "recommendation_id": "r1",
                "level": "sedang", "sanction": "pemotongan_tukin_25_persen", "months": 9, "recommended_at": AT}

EXAMPLES = {
    ("case.registered", 1): {"case_id": CASE, "tenant": "35.73", "registration_number": NUMBER,
                             "category": "korupsi", "channel": "web", "anonymous": True, "registered_at": AT},
    ("case.status_changed", 1): {"case_id": CASE, "tenant": "35.73", "origin_tenant": "35.73",
                                 "status": "verifikasi", "step": "verification_started", "changed_at": AT},
    ("case.message_for_reporter", 1): {"case_id": CASE, "tenant": "35.73", "kind": "question", "sent_at": AT},
    ("case.forwarded", 1): {"case_id": CASE, "registration_number": NUMBER, "from_tenant": "35.73",
                            "destination_kind": "external", "destination": "kpk", "forwarded_at": AT},
    ("case.sanction_recommended", 1): _SANCTION_V1,
    ("case.sanction_recommended", 2): {**_SANCTION_V1, "catalogue_version": "pp94-2021/1"},
    ("case.closed", 1): {"case_id": CASE, "registration_number": NUMBER, "tenant": "35.73",
                         "outcome": "terbukti", "closed_at": AT},
    ("case.deadline_outcomes", 1): {"case_id": CASE, "tenant": "35.73", "pack": "lapor", "closed_at": AT,
                                    "deadlines": [{"rule": "first_response", "due_at": AT, "met_at": AT,
                                                   "met": True}]},
    ("case.deadline_breached", 1): {"case_id": CASE, "tenant": "35.73", "rule": "first_response", "due_at": AT,
                                    "noticed_at": AT},
    ("case.deadline_approaching", 1): {"case_id": CASE, "tenant": "35.73", "rule": "first_response", "due_at": AT,
                                       "noticed_at": AT},
    ("case.reporter_wrote", 1): {"case_id": CASE, "tenant": "35.73", "written_at": AT},
    ("case.team_assigned", 1): {"case_id": CASE, "tenant": "35.73", "team": ["5d0c9a5e-1f1e-4c55-9d5b-0e7b2a1c3d4e"],
                                "assigned_at": AT},
    ("disclosure.requested", 1): {"request_id": "0b7c1e2d-3f4a-4b5c-8d9e-0f1a2b3c4d5e", "case_id": CASE,
                                  "tenant": "35.73", "requested_by": "5d0c9a5e-1f1e-4c55-9d5b-0e7b2a1c3d4e", "at": AT},
    ("disclosure.approved", 1): {"request_id": "0b7c1e2d-3f4a-4b5c-8d9e-0f1a2b3c4d5e", "case_id": CASE,
                                 "tenant": "35.73", "requested_by": "5d0c9a5e-1f1e-4c55-9d5b-0e7b2a1c3d4e", "at": AT},
    ("report.status_changed", 1): {"case_id": CASE, "registration_number": NUMBER, "tenant": "35.73",
                                   "source_system": "lapor-3573", "source_id": "LAPOR-2026-000123",
                                   "status": "verifikasi", "changed_at": AT},
    ("chain.checkpoint", 1): {"position": 42, "head_hash": "9f" * 32, "signed_at": "2026-11-02T03:15:00.000000+00:00",
                              "key_id": "3a1b2c3d4e5f6071", "signature": "ab" * 64},
}


def envelope_example(event_type: str, version: int) -> dict:
    envelope = {"specversion": "1.0", "id": f"{CASE}:7", "source": "peluit/cases", "type": event_type,
                "dataversion": version, "time": AT, "subject": CASE, "tenant": "35.73", "position": 42,
                "data": EXAMPLES[(event_type, version)]}
    if event_type == "chain.checkpoint":  # of the whole deployment: the province's tenant
        envelope.update(id="checkpoint:42", subject="chain", tenant="35")
    return to_cloudevent(envelope) if is_integration(event_type) else envelope
