"""From recorded notices to outbox rows: a worker takes due ``pending``
notices ``FOR UPDATE SKIP LOCKED``, asks cases whom to tell (``handling.fan_out``)
and writes one row per officer and channel in the same transaction as the
notice's ``done``; cases is asked about several notices at once. When it
does not answer, the notice waits with back-off (``dead`` after the last
attempt), and the consumer goes on recording notices meanwhile."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from eventlet.greenpool import GreenPool
from prometheus_client import Counter

from .delivery import SENT
from .handling import fan_out
from .policy import Audience, Notice
from .store import insert_deliveries

log = logging.getLogger(__name__)

FANNED_OUT = Counter("peluit_notifications_notices_total", "Notices fanned out to officers, by outcome", ["outcome"])
COLUMNS = ("event_id", "kind", "tenant", "case_id", "rule", "due_at", "occurred_at", "audiences", "attempts")


def _notice(row: dict) -> Notice:
    return Notice(event_id=row["event_id"], kind=row["kind"], tenant=row["tenant"],
                  case_id=str(row["case_id"]) if row["case_id"] else None, occurred_at=row["occurred_at"],
                  rule=row["rule"], due_at=row["due_at"],
                  audiences=tuple(Audience(a["tenant"], tuple(a["roles"]), tuple(a["officer_ids"]), a["acting"])
                                  for a in row["audiences"]))


def _ask(directory, notice: Notice):
    try:
        return fan_out(notice, directory)
    except Exception as exc:  # noqa: BLE001 - any failure of cases' answer: try again later
        return exc


def fanout_once(pool, directory, backoff, now: datetime | None = None, batch: int = 50,
                concurrency: int = 10) -> int:
    """One batch of due notices, cases asked about ``concurrency`` of them at
    once (green threads); returns how many were fanned out."""
    done = 0
    with pool.connection() as conn, conn.transaction():
        at = now or datetime.now(timezone.utc)
        rows = [dict(zip(COLUMNS, r)) for r in conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM notice WHERE status = 'pending' AND next_attempt_at <= %s "
            "ORDER BY next_attempt_at, event_id LIMIT %s FOR UPDATE SKIP LOCKED", (at, batch)).fetchall()]
        notices = [_notice(row) for row in rows]
        answers = list(GreenPool(concurrency).imap(lambda n: _ask(directory, n), notices))
        for row, notice, answer in zip(rows, notices, answers):
            if isinstance(answer, Exception):
                attempts = row["attempts"] + 1
                dead = attempts >= backoff.attempts
                conn.execute("UPDATE notice SET attempts = %s, last_error = %s, status = %s, next_attempt_at = %s "
                             "WHERE event_id = %s", (attempts, type(answer).__name__, "dead" if dead else "pending",
                                                     at + backoff.delay(attempts), row["event_id"]))
                FANNED_OUT.labels("dead" if dead else "retry").inc()
                log.warning("recipients for notice %s not resolved: %s", row["event_id"], type(answer).__name__)
                continue
            deliveries, facts = answer
            for channel, kind in insert_deliveries(conn, notice, facts, deliveries):
                if channel == "console":  # listed now; e-mail counts when handed over
                    SENT.labels(channel, kind).inc()
            if facts and notice.kind == "deadline_breached":
                conn.execute("UPDATE breach SET registration_number = %s WHERE event_id = %s",
                             (facts.get("registration_number"), notice.event_id))
            conn.execute("UPDATE notice SET status = 'done' WHERE event_id = %s", (row["event_id"],))
            FANNED_OUT.labels("done").inc()
            done += 1
    return done
