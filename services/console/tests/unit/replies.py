"""Fake replies of the officer API that fit its documented reply schemas
(shared by the page tests)."""

from __future__ import annotations

from peluit_contracts import officer_accounts as accounts

ADMIN_ID = "22222222-3333-4444-8555-666666666666"
AUDITOR_ID = "33333333-4444-4555-8666-777777777777"


def valid(schema, body: dict) -> dict:
    """A fake reply that fits the officer API's documented reply schema (else the fake is wrong)."""
    assert schema().validate(body) == {}, schema().validate(body)
    return body


def officer_item(officer_id=AUDITOR_ID, username="rina.auditor", roles=("auditor",), **extra) -> dict:
    return valid(accounts.AdministeredOfficer, {
        "id": officer_id, "username": username, "display_name": username.title(), "roles": list(roles),
        "tenant": "35", "email": None, "active": True, "enrolled": True, "enrolment_expires_at": None,
        "created_at": "2026-12-01T01:00:00+00:00", "created_by": ADMIN_ID, **extra})
