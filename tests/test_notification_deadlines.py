"""Deadline notices from end to end in simulated time, without a broker: the
cases application (in memory) and its scheduler tick every three hours through
every rule of the LAPOR! pack; each envelope the log gives goes through
notifications' own handling and policy to an in-memory outbox, with a fake
of cases' officer directory. Exactly one approaching and one breach notice
per rule and recipient, the breach also to the inspektur, and nothing once
the case has ended, however long the clock runs on.

Three cases between them meet every rule: a desk investigation (first
response, verification, investigation), a field check (field investigation),
and a request for information nobody answers (its breach archives the case).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date, datetime, timedelta, timezone

from peluit_cases import deadlines
from peluit_cases.application import CasesApplication
from peluit_cases.domain import Case
from peluit_cases.scheduler import notice_case
from peluit_notifications.handling import fan_out, handle

MONDAY = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)
PENELAAH = {"officer_id": "o-penelaah", "username": "sari", "roles": ["penelaah"], "tenant": "35.73"}
INSPEKTUR = {"officer_id": "o-inspektur", "username": "agus", "roles": ["inspektur"], "tenant": "35.73"}
TEAM = "0b7e7a52-3c1e-4c55-9a47-6a8f0e3c0001"
OFFICERS = {"terima": ("penerima",), "telaah": ("penelaah",), "inspektur": ("inspektur",), TEAM: ("investigator",)}
LAPOR_RULES = {"first_response", "verification", "investigation", "field_investigation", "information_request"}
EXPECTED = {"first_response": "terima", "verification": "telaah", "investigation": TEAM,
            "field_investigation": TEAM, "information_request": "telaah"}


def config(_tenant):
    return deadlines.load_packs()["lapor"], deadlines.WorkingCalendar.from_holidays(deadlines.load_holidays())


class Outbox:
    """``handling.Store`` in memory: processed events and outbox rows."""

    def __init__(self):
        self.done, self.rows = set(), []

    def processed(self, event_id):
        return event_id in self.done

    def record(self, envelope, template=None, outcome=None, notice=None):
        if envelope["id"] in self.done:
            return False
        self.done.add(envelope["id"])
        if notice is not None:  # the fan-out at once (the service's timer does it a moment later)
            deliveries, _ = fan_out(notice, directory)
            self.rows += [(notice.kind, notice.rule, d.officer_id) for d in deliveries if d.channel == "email"]
        return True


def directory(query):
    """Every officer of 35.73 holding a role asked for; the team when asked for those acting."""
    found = [o for o, roles in OFFICERS.items() if query["tenant"] == "35.73" and set(roles) & set(query["roles"])]
    if query["acting"]:
        found.append(TEAM)
    return {"recipients": [{"officer_id": o, "tenant": "35.73", "email": f"{o[:8]}@pemda.go.id", "preferences": {}}
                           for o in found], "case": {"registration_number": "WBS/35.73/2026/000001"}}


class Simulation:
    def __init__(self):
        self.app = CasesApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.outbox, self.position, self.now = Outbox(), 0, MONDAY

    def new_case(self, n: int):
        sub = hashlib.sha256(f"sub-{n}".encode()).hexdigest()
        return self.app.register_report({
            "version": 1, "submission_id": sub, "fingerprint": sub, "receipt_hash": sub[::-1], "tenant": "35.73",
            "category": "korupsi", "channel": "web", "report": {"what": "x", "where": "y", "when": "z"},
            "reporter_ref": None, "anonymous": True}, now=self.now).case_id

    def act(self, case_id, command, actor, **args):
        self.app.execute(case_id, self.app.get_case(case_id).version, command, actor, **args)
        self.follow()

    def run_clock(self, case_ids, days: int):
        """The scheduler every three simulated hours for ``days`` days (the
        shortest warning is a working day), notifications following the log."""
        for _ in range(days * 8):
            self.now += timedelta(hours=3)
            for case_id in case_ids:
                notice_case(self.app, case_id, config, self.now)
            self.follow()

    def follow(self):
        page = self.app.domain_events(after=self.position, limit=1000)
        for envelope in page["events"]:
            handle(envelope, self.outbox, relay=lambda cmd: {"result": "no_contact_channel"})
        self.position = page["next"]

    def deadline_rows(self):
        return Counter(r for r in self.outbox.rows if r[0].startswith("deadline_"))


def test_every_lapor_rule_warns_once_breaches_once_and_falls_silent_after_the_end(monkeypatch):
    sim = Simulation()
    # every case event is stamped with the simulated time, as if officers acted then
    monkeypatch.setattr(Case.Event, "create_timestamp", staticmethod(lambda: sim.now))
    desk, field, unanswered = sim.new_case(1), sim.new_case(2), sim.new_case(3)
    sim.follow()
    sim.run_clock([desk, field, unanswered], 6)  # first response: 3 working days, nobody acts
    for case_id in (desk, field, unanswered):
        sim.act(case_id, "start_verification", PENELAAH)
    sim.act(unanswered, "request_information", PENELAAH, question="Kapan?", due_on=date(2027, 1, 30))
    sim.run_clock([desk, field, unanswered], 25)  # verification's 5 days; 14 calendar days to answer
    assert sim.app.get_case(unanswered).status == "diarsipkan"  # the unanswered request archived it
    for case_id, field_check in ((desk, False), (field, True)):
        sim.act(case_id, "accept", PENELAAH)
        sim.act(case_id, "start_investigation", INSPEKTUR, team=[TEAM], plan="Rencana", due_on=date(2027, 6, 1),
                field_check=field_check)
    sim.run_clock([desk, field], 100)  # 14 and 60 working days
    irban = {**PENELAAH, "officer_id": TEAM, "roles": ["investigator"]}
    for case_id in (desk, field):
        sim.act(case_id, "record_findings", irban, outcome="tidak_terbukti", summary="Tidak terbukti",
                recommendations=[])
        sim.act(case_id, "close", INSPEKTUR, reason="Selesai", feedback="Terima kasih")
    rows = sim.deadline_rows()
    expected = Counter()
    for rule, officer in EXPECTED.items():
        # all three missed the first response; verification pauses while the reporter is asked
        cases = {"first_response": 3, "verification": 2}.get(rule, 1)
        expected[("deadline_approaching", rule, officer)] = cases
        expected[("deadline_breached", rule, officer)] = cases
        expected[("deadline_breached", rule, "inspektur")] = cases
    assert {r[1] for r in rows} == LAPOR_RULES
    assert rows == expected
    # long after: closed and archived cases make no more notices
    before = len(sim.outbox.rows)
    sim.run_clock([desk, field, unanswered], 90)
    assert len(sim.outbox.rows) == before
