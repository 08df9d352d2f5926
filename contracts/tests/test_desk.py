"""The desk's contracts: the disclosure list's query and RPC command, the
view's sealing format (the sealed box stays the default), and the replies the
console reads (work queue, case page, stale version, catalogue)."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from peluit_contracts.disclosure import (
    BROWSER_FORMAT,
    SEALED_BOX,
    DisclosureList,
    DisclosureListQuery,
    ListDisclosuresCommand,
    SealedView,
    ViewBody,
)
from peluit_contracts.officer_api import CasePage, Catalogue, StaleVersion, WorkQueue

KEY = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
RID = "4f1c2d3e-0000-4000-8000-000000000001"


def test_the_view_asks_for_a_sealed_box_unless_it_names_the_browser_format():
    assert ViewBody().load({"public_key": KEY})["format"] == SEALED_BOX
    assert ViewBody().load({"public_key": KEY, "format": BROWSER_FORMAT})["format"] == BROWSER_FORMAT
    for wrong in ("aes", "", "sealed-box", BROWSER_FORMAT.upper()):
        with pytest.raises(ValidationError) as err:
            ViewBody().load({"public_key": KEY, "format": wrong})
        assert set(err.value.messages) == {"format"}


def test_the_disclosure_list_query_and_command():
    assert DisclosureListQuery().load({}) == {"mine": False}
    assert DisclosureListQuery().load({"tenant": "35.73", "status": "pending", "mine": "true", "x": "1"}) == {
        "tenant": "35.73", "status": "pending", "mine": True}
    for query in ({"status": "open"}, {"tenant": "35.7"}, {"mine": "maybe"}):
        with pytest.raises(ValidationError):
            DisclosureListQuery().load(query)
    command = ListDisclosuresCommand().load({"version": 1, "token": "a.b.c", "tenant": "35.73"})
    assert (command["status"], command["mine"], command["audited"]) == (None, False, False)
    with pytest.raises(ValidationError):  # an RPC command takes nothing it does not know (a reporter_ref, say)
        ListDisclosuresCommand().load({"version": 1, "token": "a.b.c", "tenant": "35.73", "reporter_ref": "r" * 32})


def test_the_replies_describe_what_the_services_answer():
    item = {"case_id": RID, "version": 2, "registration_number": "WBS/35.73/2026/000001", "origin_tenant": "35.73",
            "handling_tenant": "35.73", "category": "korupsi", "channel": "web", "status": "diterima",
            "registered_at": "2026-12-07T03:00:00+00:00", "updated_at": "2026-12-07T03:00:00+00:00",
            "deadline": {"rule": "first_response", "due_at": "2026-12-10T16:59:59+00:00",
                         "approaching_at": "2026-12-09T17:00:00+00:00", "state": "on_time"}}
    counts = {"diterima": 1, "selesai": 0}
    assert WorkQueue().validate({"items": [item], "page": 1, "per_page": 25, "total": 1, "counts": counts}) == {}
    assert WorkQueue().validate({"items": [{**item, "deadline": {**item["deadline"], "state": "late"}}], "page": 1,
                                 "per_page": 25, "total": 1, "counts": counts})
    assert set(CasePage().fields) >= {"allowed_commands", "deadlines", "history"}
    assert CasePage().fields["allowed_commands"].inner.validate.choices[0] == "start-verification"
    stale = {"error": {"code": "stale_version", "message": {"id": "x", "en": "x"}}, "current_version": 3,
             "changes": [{"at": "2026-12-07T03:00:00+00:00", "kind": "note", "actor": {}, "status": "verifikasi",
                          "reason": None, "reporter_visible": False}]}
    assert StaleVersion().validate(stale) == {}
    assert set(Catalogue().fields) == {"tenants", "external_destinations", "external_bodies", "categories", "sanctions", "tukin_months",
                                       "recommendation_kinds", "legal_bases", "deadline_rules"}
    assert SealedView().validate({"request_id": RID, "format": BROWSER_FORMAT, "ephemeral_public_key": KEY,
                                  "nonce": "AAAAAAAAAAAAAAAA", "ciphertext": "AAAA"}) == {}
    listed = {"request_id": RID, "case_id": RID, "registration_number": None, "tenant": "35.73",
              "subject": "identity", "original_ref": None, "legal_basis": "court_order", "status": "pending",
              "requested_by": {}, "requested_at": "2026-12-07T03:00:00+00:00",
              "expires_at": "2026-12-10T03:00:00+00:00", "view_until": None}
    assert DisclosureList().validate({"items": [listed]}) == {}
