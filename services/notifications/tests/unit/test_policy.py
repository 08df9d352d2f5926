"""Who hears what (``policy``), with a fake of cases' officer directory: each
rule of the issue, the preferences (a breach cannot be switched off), each
officer once however many audiences name them, and the province's summary."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from peluit_contracts.notify import ALWAYS_ON, KINDS
from peluit_notifications.handling import recipients_query
from peluit_notifications.policy import Audience, breach_summary, deliveries, notice_of

from ..envelopes import AT, event, registered, status_changed


class FakeDirectory:
    """Officers as cases holds them; ``resolve`` answers a RecipientsQuery as cases would."""

    def __init__(self, officers, acting=()):
        self.officers, self.acting = officers, list(acting)

    def resolve(self, query):
        ids = set(query["officer_ids"]) | (set(self.acting) if query["acting"] else set())
        return [o for o in self.officers
                if o["officer_id"] in ids or (o["tenant"] == query["tenant"] and set(o["roles"]) & set(query["roles"]))]


def officer(name, tenant, *roles, email=True, **preferences):
    return {"officer_id": name, "tenant": tenant, "roles": roles, "preferences": preferences,
            "email": f"{name}@pemda.go.id" if email else None}


DIRECTORY = FakeDirectory([
    officer("terima", "35.73", "penerima"), officer("telaah", "35.73", "penelaah"),
    officer("irban", "35.73", "investigator"), officer("inspektur", "35.73", "inspektur"),
    officer("terima_kab", "35.07", "penerima"), officer("inspektur_kab", "35.07", "inspektur"),
    officer("telaah_kab", "35.07", "penelaah"), officer("inspektur_prov", "35", "inspektur"),
    officer("admin", "35.73", "tenant_admin"),
], acting=["irban"])


def told(envelope, directory=DIRECTORY):
    notice = notice_of(envelope)
    if notice is None:
        return None, set()
    found = directory.resolve(recipients_query(notice))
    return notice.kind, {d.officer_id for d in deliveries(notice, found)}


TEAM = [str(uuid.uuid4()), str(uuid.uuid4())]
REQUESTER = str(uuid.uuid4())


@pytest.mark.parametrize("envelope,kind,officers", [
    (registered(), "case_new", {"terima", "telaah"}),
    (event("case.status_changed", tenant="35.07", origin_tenant="35.73", status="diterima", step="forwarded",
           changed_at=AT), "case_arrived", {"terima_kab", "inspektur_kab"}),
    (event("case.status_changed", tenant="35", origin_tenant="35.73", status="verifikasi", step="escalated",
           changed_at=AT), "case_arrived", {"inspektur_prov"}),
    (event("case.reporter_wrote", written_at=AT), "reporter_wrote", {"irban"}),
    (event("disclosure.requested", requested_by=REQUESTER, at=AT), "disclosure_waiting", {"inspektur"}),
    (event("case.deadline_approaching", rule="first_response", due_at=AT, noticed_at=AT),
     "deadline_approaching", {"terima"}),
    (event("case.deadline_approaching", rule="verification", due_at=AT, noticed_at=AT),
     "deadline_approaching", {"telaah"}),
    (event("case.deadline_approaching", rule="investigation", due_at=AT, noticed_at=AT),
     "deadline_approaching", {"irban"}),
    (event("case.deadline_breached", rule="first_response", due_at=AT, noticed_at=AT),
     "deadline_breached", {"terima", "inspektur"}),
    (event("case.deadline_breached", rule="field_investigation", due_at=AT, noticed_at=AT),
     "deadline_breached", {"irban", "inspektur"}),
    (event("case.deadline_breached", rule="information_request", due_at=AT, noticed_at=AT),
     "deadline_breached", {"telaah", "inspektur"}),
], ids=lambda v: v if isinstance(v, str) else None)
def test_who_hears_what(envelope, kind, officers):
    assert told(envelope) == (kind, officers)


def test_team_members_and_the_requester_are_named_by_id_in_any_tenant():
    directory = FakeDirectory([officer(TEAM[0], "35.73", "investigator"), officer(TEAM[1], "35", "investigator"),
                               officer(REQUESTER, "35.73", "investigator"), officer("telaah", "35.73", "penelaah")])
    assert told(event("case.team_assigned", team=TEAM, assigned_at=AT), directory) == ("team_assigned", set(TEAM))
    assert told(event("disclosure.approved", requested_by=REQUESTER, at=AT), directory) == (
        "disclosure_approved", {REQUESTER})


@pytest.mark.parametrize("envelope", [
    status_changed(), event("case.status_changed", tenant="35.73", origin_tenant="35.73", status="dilimpahkan",
                            step="forwarded", changed_at=AT),
    event("case.message_for_reporter", kind="message", sent_at=AT)])
def test_steps_inside_one_tenant_and_external_forwarding_tell_nobody(envelope):
    assert told(envelope) == (None, set())


def test_the_daily_breach_summary_goes_to_the_provinces_inspektur_only():
    notice = breach_summary("35", date(2026, 3, 2), AT)
    found = DIRECTORY.resolve(recipients_query(notice))
    assert {d.officer_id for d in deliveries(notice, found)} == {"inspektur_prov"}
    assert notice.event_id == "breach-summary:35:2026-03-02"


def test_preferences_choose_now_digest_or_nothing_but_a_breach_always_arrives():
    envelope = event("case.deadline_breached", rule="first_response", due_at=AT, noticed_at=AT)
    people = [officer("now", "35.73", "penerima"), officer("later", "35.73", "penerima", deadline_breached="digest"),
              officer("never", "35.73", "penerima", deadline_breached="off", case_new="off"),
              officer("nomail", "35.73", "penerima", email=False)]
    rows = deliveries(notice_of(envelope), people)
    assert {(d.officer_id, d.channel, d.status) for d in rows} == {
        ("now", "console", "unread"), ("now", "email", "pending"), ("later", "console", "unread"),
        ("later", "email", "digest"), ("never", "console", "unread"), ("never", "email", "pending"),
        ("nomail", "console", "unread")}
    new_case = deliveries(notice_of(registered()), people)
    assert "never" not in {d.officer_id for d in new_case}  # an ordinary kind can be switched off
    assert {"deadline_breached", "breach_summary"} == ALWAYS_ON and ALWAYS_ON <= set(KINDS)


def test_an_officer_named_by_two_audiences_hears_once_per_channel():
    both = officer("both", "35.73", "penerima", "inspektur")
    rows = deliveries(notice_of(event("case.deadline_breached", rule="first_response", due_at=AT,
                                      noticed_at=AT)), [both, both])
    assert sorted((d.officer_id, d.channel) for d in rows) == [("both", "console"), ("both", "email")]


def test_one_query_carries_every_audience():
    notice = notice_of(event("case.deadline_breached", rule="investigation", due_at=AT, noticed_at=AT))
    assert notice.audiences == (Audience(acting=True), Audience("35.73", ("inspektur",)))
    query = recipients_query(notice)
    assert (query["tenant"], query["roles"], query["acting"]) == ("35.73", ["inspektur"], True)
