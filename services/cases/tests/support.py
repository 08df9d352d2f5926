"""What the cases tests share: report commands, officers as events record
them, and a short way to run a workflow step."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timezone

from peluit_cases import deadlines
from peluit_cases.application import CasesApplication

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
MONDAY = datetime(2026, 11, 2, 3, 0, tzinfo=timezone.utc)  # Monday 2 November 2026, 10:00 in Jakarta
DUE = date(2026, 12, 7)
PENELAAH = {"officer_id": "o-penelaah", "username": "sari", "roles": ["penelaah"], "tenant": "35.73"}
INSPEKTUR = {"officer_id": "o-inspektur", "username": "agus", "roles": ["inspektur"], "tenant": "35.73"}
IRBAN = {"officer_id": "o-irban", "username": "dewi", "roles": ["investigator"], "tenant": "35.73"}


def _hex(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def command(n: int = 1, tenant: str = "35.73", **overrides) -> dict:
    cmd = {
        "version": 1, "submission_id": _hex(f"sub-{n}"), "fingerprint": _hex(f"fp-{n}"),
        "receipt_hash": _hex(f"rcpt-{n}"), "tenant": tenant, "category": "korupsi", "channel": "web",
        "report": {"what": "Dana hibah dipotong 20%", "where": "Dinas Sosial", "when": "Oktober 2026"},
        "reporter_ref": None, "anonymous": True,
    }
    cmd.update(overrides)
    return cmd


def memory_app() -> CasesApplication:
    """The cases application on the library's in-memory store."""
    return CasesApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def run(app, case_id, cmd, actor, **args):
    case = app.get_case(case_id)
    return app.execute(case_id, case.version, cmd, actor, **args)


def deadline_config(_tenant):
    """Every tenant on the LAPOR! pack and the national calendar."""
    calendar = deadlines.WorkingCalendar.from_holidays(deadlines.load_holidays())
    return deadlines.load_packs()["lapor"], calendar


class FakeDirectory:
    """``access.Directory`` in memory: officers, tenants (code -> parent) and live grants."""

    def __init__(self, officers=(), tenants=None, grants=None):
        self.officers = {o.id: o for o in officers}
        self.tenants = {"35": None, "35.73": "35", "35.07": "35"} if tenants is None else tenants
        self.grants: dict[str, set[str]] = {k: set(v) for k, v in (grants or {}).items()}
        self.added: list[tuple] = []

    def officer(self, officer_id):
        return self.officers.get(officer_id)

    def tenant_exists(self, code):
        return code in self.tenants

    def parent_tenant(self, code):
        return self.tenants.get(code)

    def granted_tenants(self, officer_id):
        return set(self.grants.get(officer_id, ()))

    def add_grant(self, officer_id, tenant, days, reason, granted_by):
        self.added.append((officer_id, tenant, days, reason, granted_by))
        self.grants.setdefault(officer_id, set()).add(tenant)
        return len(self.added)
