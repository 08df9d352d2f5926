"""The deadline scheduler: announces "deadline approaching" and "deadline
breached" once each per case and rule.

Once means once: the notice is a case event, the aggregate refuses a second
one for the same rule and kind, and optimistic concurrency lets only one of
two scheduler instances (or a scheduler racing an officer) append it. State
lives in the event store, so a restart changes nothing. A request for
information that stays unanswered past its deadline archives the case. Each
case it looks at gets its nearest open deadline refreshed in the case index.
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone

from eventsourcing.persistence import IntegrityError
from prometheus_client import Counter

from . import deadlines
from .domain import TERMINAL, Case, DomainError, bilingual_reason

DEADLINE_NOTICES = Counter("peluit_deadline_notices_total", "Deadline notices recorded", ["rule", "notice"])
SYSTEM = {"id": "system", "officer_id": None}
NO_ANSWER = bilingual_reason("reason_no_answer")


@functools.lru_cache(maxsize=1)
def _packs():
    return deadlines.load_packs()


def packs() -> dict:
    """The shipped deadline packs by code (read once)."""
    return _packs()


@functools.lru_cache(maxsize=1)
def _national_holidays():
    return deadlines.load_holidays()


class TenantDeadlines:
    """Per-tenant pack and working calendar from the catalogue, cached briefly."""

    ttl = 300.0

    def __init__(self, pool):
        self.pool = pool
        self._cache: dict[str, tuple[float, object, object]] = {}

    def __call__(self, tenant: str):
        hit = self._cache.get(tenant)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1], hit[2]
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT deadline_pack, information_request_days FROM tenant WHERE code = %s",
                               (tenant,)).fetchone()
            extra = [r[0] for r in conn.execute("SELECT day FROM tenant_holiday WHERE tenant_code = %s",
                                                (tenant,)).fetchall()]
        pack = _packs()[row[0] if row else "lapor"]
        if row and row[1]:
            pack = deadlines.override(pack, "information_request", amount=row[1])
        by_year = {y: list(days) for y, days in _national_holidays().items()}
        for day in extra:
            by_year.setdefault(day.year, []).append(day)
        calendar = deadlines.WorkingCalendar.from_holidays(by_year)
        self._cache[tenant] = (time.monotonic(), pack, calendar)
        return pack, calendar

    def forget(self, tenant: str) -> None:
        """After a settings change: this process reads the tenant again (others within ``ttl``)."""
        self._cache.pop(tenant, None)


def next_deadline_at(case: Case, pack, calendar, now: datetime) -> datetime | None:
    """When the scheduler next has something to say about this case."""
    if case.status in TERMINAL:
        return None
    return _next_at(case, case.deadlines(pack, calendar, now))


def _next_at(case: Case, found) -> datetime | None:
    done = {tuple(n) for n in case.deadline_notices}
    times = []
    for d in found:
        if d.state in ("satisfied", "not_started"):
            continue
        if (d.rule_code, "approaching") not in done and d.approaching_at:
            times.append(d.approaching_at)
        if (d.rule_code, "breached") not in done and d.due_at:
            times.append(d.due_at)
    return min(times) if times else None


# what the case index keeps of a case's deadlines (the follower and the scheduler write them)
DEADLINE_COLUMNS = ("next_deadline_at", "deadline_rule", "deadline_due_at", "deadline_approaching_at",
                    "deadline_paused")
REFRESH = ("UPDATE case_index SET " + ", ".join(f"{c} = %s" for c in DEADLINE_COLUMNS)
           + " WHERE case_id = %s AND version <= %s")


def index_deadline(case: Case, pack, calendar, now: datetime) -> tuple:
    """``DEADLINE_COLUMNS`` of one case: the scheduler's next moment, and the
    nearest open rule (the work queue's sort and state)."""
    if case.status in TERMINAL:
        return None, None, None, None, False
    found = case.deadlines(pack, calendar, now)
    nearest = deadlines.nearest_open(found)
    if nearest is None:
        return _next_at(case, found), None, None, None, False
    return (_next_at(case, found), nearest.rule_code, nearest.due_at, nearest.approaching_at,
            nearest.state == "paused")


def notice_case(app, case_id, config, now: datetime | None = None) -> list[tuple[str, str]]:
    """Record what is due for one case; returns the notices recorded (none if
    another writer got there first: the next tick looks again)."""
    now = now or datetime.now(timezone.utc)
    case: Case = app.get_case(case_id)
    if case.status in TERMINAL:
        return []
    pack, calendar = config(case.handling_tenant)
    pending = case.pending_notices(pack, calendar, now)
    if not pending:
        return []
    due = {d.rule_code: d.due_at for d in case.deadlines(pack, calendar, now)}
    for rule, notice in pending:
        case.notice_deadline(rule, notice, due[rule].isoformat() if due.get(rule) else "")
    if ("information_request", "breached") in pending and case.status == "menunggu_informasi":
        case.archive(SYSTEM, NO_ANSWER, pack=pack, calendar=calendar, now=now)
    try:
        app.save(case)
    except IntegrityError:
        return []
    for rule, notice in pending:
        DEADLINE_NOTICES.labels(rule, notice).inc()
    return pending


def run_once(pool, app, config, now: datetime | None = None, batch: int = 200) -> int:
    """One scheduler pass over the cases whose next deadline moment has come."""
    now = now or datetime.now(timezone.utc)
    with pool.connection() as conn, conn.transaction():
        rows = conn.execute(
            "SELECT case_id FROM case_index WHERE next_deadline_at <= %s ORDER BY next_deadline_at LIMIT %s",
            (now, batch)).fetchall()
    for (case_id,) in rows:
        try:
            notice_case(app, case_id, config, now)
            case = app.get_case(case_id)
        except DomainError:
            continue
        columns = index_deadline(case, *config(case.handling_tenant), now)
        with pool.connection() as conn, conn.transaction():
            conn.execute(REFRESH, (*columns, case_id, case.version))
    return len(rows)
