"""The daily jobs, each idempotent on its own event id so a second run, a
second instance or a restart adds nothing:

- the digest: every officer's e-mail rows waiting for it (``status = 'digest'``)
  become one mail ``digest:<day>`` with a line each;
- the province's breach summary: yesterday's breaches (by Jakarta day) in a
  province, one notice ``breach-summary:<province>:<day>`` for its inspektur.

Both run once the local clock passes ``hour`` (``PELUIT_NOTIFY_DIGEST_HOUR``).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .delivery import SENT
from .handling import resolve
from .policy import breach_summary, deliveries
from .store import insert_deliveries


def _cut(now: datetime, tz: str, hour: int) -> tuple[date, datetime] | None:
    """(today, today's cut-off in UTC terms) once the local hour has come, else None."""
    local = now.astimezone(ZoneInfo(tz))
    cut = datetime.combine(local.date(), time(hour), ZoneInfo(tz))
    return (local.date(), cut) if local >= cut else None


def run_digests(pool, now: datetime, tz: str = "Asia/Jakarta", hour: int = 7) -> int:
    """Gather each officer's waiting rows made before today's cut; returns digests made."""
    due = _cut(now, tz, hour)
    if due is None:
        return 0
    day, cut = due
    made = 0
    with pool.connection() as conn, conn.transaction():
        officers = conn.execute(
            "SELECT officer_id, min(tenant), min(address) FROM notification WHERE status = 'digest' "
            "AND created_at < %s GROUP BY officer_id", (cut,)).fetchall()
        for officer_id, tenant, address in officers:
            rows = conn.execute(
                "SELECT id, kind, registration_number, deadline_rule, deadline_due_at FROM notification "
                "WHERE officer_id = %s AND status = 'digest' AND created_at < %s ORDER BY id FOR UPDATE SKIP LOCKED",
                (officer_id, cut)).fetchall()
            if not rows:
                continue
            items = [{"kind": r[1], "registration_number": r[2], "rule": r[3],
                      "due_at": r[4].isoformat() if r[4] else None} for r in rows]
            made_row = conn.execute(
                "INSERT INTO notification (event_id, officer_id, channel, kind, status, tenant, items, address, "
                "occurred_at) VALUES (%s, %s, 'email', 'digest', 'pending', %s, %s, %s, %s) "
                "ON CONFLICT (event_id, officer_id, channel) DO NOTHING RETURNING id",
                (f"digest:{day.isoformat()}", officer_id, tenant, json.dumps(items), address, now)).fetchone()
            if made_row is None:
                continue  # today's digest went out already: these wait for tomorrow's
            conn.execute("UPDATE notification SET status = 'digested' WHERE id = ANY(%s)", ([r[0] for r in rows],))
            made += 1
    return made


def run_breach_summaries(pool, directory, now: datetime, tz: str = "Asia/Jakarta", hour: int = 7) -> int:
    """Yesterday's breaches, one summary per province that had any; returns summaries made."""
    due = _cut(now, tz, hour)
    if due is None:
        return 0
    today, _ = due
    day = today - timedelta(days=1)
    start = datetime.combine(day, time(0), ZoneInfo(tz))
    end = start + timedelta(days=1)
    with pool.connection() as conn, conn.transaction():
        provinces = [r[0] for r in conn.execute(
            "SELECT DISTINCT province FROM breach b WHERE noticed_at >= %s AND noticed_at < %s AND NOT EXISTS "
            "(SELECT 1 FROM processed_event p WHERE p.event_id = 'breach-summary:' || b.province || ':' || %s)",
            (start, end, day.isoformat())).fetchall()]
    made = 0
    for province in provinces:
        notice = breach_summary(province, day, now)
        found, _ = resolve(notice, directory)  # cases answers outside our transaction
        with pool.connection() as conn, conn.transaction():
            fresh = conn.execute("INSERT INTO processed_event (event_id) VALUES (%s) ON CONFLICT DO NOTHING "
                                 "RETURNING 1", (notice.event_id,)).fetchone()
            if fresh is None:
                continue
            items = [{"kind": "deadline_breached", "registration_number": r[0], "rule": r[1],
                      "due_at": r[2].isoformat() if r[2] else None} for r in conn.execute(
                "SELECT registration_number, rule, due_at FROM breach WHERE province = %s AND noticed_at >= %s "
                "AND noticed_at < %s ORDER BY noticed_at, event_id", (province, start, end)).fetchall()]
            for channel, kind in insert_deliveries(conn, notice, None, deliveries(notice, found), items=items):
                if channel == "console":
                    SENT.labels(channel, kind).inc()
            made += 1
    return made
