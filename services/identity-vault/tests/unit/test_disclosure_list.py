"""The vault's list of disclosure requests (``list_disclosures``): who sees
which requests (inspektur: the tenant's; investigator: their own; auditor:
the tenant cases checked a grant for), reasons only to inspekturs and
auditors, never an identity or a reporter_ref, overdue requests expired."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from peluit_vault.disclosure import rpc as handlers

from ..support import AGUS, BOTH, BUDI, DEWI, REF, SARI, approve, cmd, file, officer

RUDI = officer("rudi", "35.73", "investigator")
RINA = officer("rina", "35", "auditor")
NOW = datetime.now(timezone.utc)  # the RPC path reads the wall clock


def listing(rpc, app, who, **query) -> dict:
    return handlers.list_disclosures(app, rpc.auth, rpc.call(who, "list_disclosures", **{"tenant": "35.73", **query}))


def three_requests(app):
    """Dewi's two (one approved), Rudi's one, and one long overdue."""
    first = file(app, by=DEWI, now=NOW - timedelta(hours=2))
    approve(app, first, now=NOW - timedelta(minutes=10))  # views until 20 minutes from now
    second = file(app, by=DEWI, now=NOW - timedelta(hours=1), legal_basis="court_order")
    rudis = file(app, by=RUDI, now=NOW, reason="Dugaan fitnah terbukti di persidangan", legal_basis="proven_slander")
    overdue = file(app, by=RUDI, now=NOW - timedelta(days=10))
    return first, second, rudis, overdue


def ids(out) -> list[str]:
    return [item["request_id"] for item in out["items"]]


def test_an_inspektur_sees_every_request_of_the_tenant_with_its_reason_newest_first(rpc, app):
    first, second, rudis, overdue = three_requests(app)
    out = listing(rpc, app, AGUS)
    assert ids(out) == [str(r.id) for r in (rudis, second, first, overdue)]
    assert [i["status"] for i in out["items"]] == ["pending", "pending", "approved", "expired"]
    assert out["items"][0]["reason"] == "Dugaan fitnah terbukti di persidangan"
    assert out["items"][0]["requested_by"] == {"officer_id": RUDI["officer_id"], "username": "rudi",
                                               "roles": ["investigator"], "tenant": "35.73"}
    assert set(out["items"][2]) == {"request_id", "case_id", "tenant", "subject", "original_ref", "legal_basis",
                                    "status", "requested_by", "requested_at", "expires_at", "view_until", "reason"}
    assert out["items"][2]["view_until"] and out["items"][2]["subject"] == "identity"
    assert REF not in json.dumps(out)  # never the reporter_ref
    # the overdue request's expiry was recorded, as the trail does
    assert type(list(app.events.get(overdue.id))[-1]).__name__ == "Expired"


def test_a_requester_sees_their_own_requests_without_reasons(rpc, app):
    first, second, rudis, _ = three_requests(app)
    out = listing(rpc, app, DEWI)
    assert ids(out) == [str(second.id), str(first.id)]
    assert all("reason" not in item for item in out["items"])
    assert ids(listing(rpc, app, DEWI, status="approved")) == [str(first.id)]
    assert ids(listing(rpc, app, RUDI, status="pending")) == [str(rudis.id)]


def test_mine_narrows_an_inspektur_to_their_own(rpc, app):
    three_requests(app)
    own = file(app, by=BOTH, now=NOW)
    assert ids(listing(rpc, app, BOTH, mine=True)) == [str(own.id)]
    assert len(listing(rpc, app, BOTH)["items"]) == 5 and "reason" in listing(rpc, app, BOTH, mine=True)["items"][0]


def test_an_auditor_sees_the_tenant_only_when_cases_checked_a_grant(rpc, app):
    three_requests(app)
    assert listing(rpc, app, RINA) == {"error": "forbidden"}
    audited = listing(rpc, app, RINA, audited=True)
    assert len(audited["items"]) == 4 and all("reason" in item for item in audited["items"])
    # the flag means nothing to an officer who is not an auditor
    assert listing(rpc, app, SARI, audited=True) == {"error": "forbidden"}


def test_others_are_refused(rpc, app):
    three_requests(app)
    for who in (SARI, BUDI, officer("irban", "35.07", "investigator")):
        assert listing(rpc, app, who) == {"error": "forbidden"}, who["username"]
    assert listing(rpc, app, BUDI, tenant="35.07") == {"tenant": "35.07", "items": []}
    assert handlers.list_disclosures(app, rpc.auth, cmd(token="x.y.z", tenant="35.73")) == {"error": "call_invalid"}
    assert handlers.list_disclosures(app, rpc.auth, rpc.call(AGUS, "list_disclosures", tenant="35.73", status="lost")) == {
        "error": "invalid_command"}
