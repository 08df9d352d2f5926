"""Case content retention: once a tenant's period after a case ended has
passed, the case's content ends.

``end_content`` records ``ContentEnded`` in the case's history (skeleton
only: when, under which period), destroys the case key (``content``), drops
the case's snapshots and empties its stripped evidence copies. The skeleton
stays: registration number, tenant, category, channel, status, dates,
deadline outcomes, sanctions; statistics do not move (the event changes no
status) and the hash chain is untouched (nothing stored is rewritten).

The period is the tenant's ``content_retention_years`` (tenant settings),
else ``PELUIT_CONTENT_RETENTION_YEARS`` (5), counted from the case's last
event while it is ended (``case_index.updated_at``): never earlier than its
real ending. ``run_once`` is the scheduler's pass; ``peluit-cases end-content
--now`` the operator's.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.utils import get_topic
from prometheus_client import Counter

from peluit_common.settings import ConfigError, env_int

from . import content
from .case_index import ENDED
from .domain import CASE_TOPIC, TERMINAL, Case, DomainError

CONTENT_ENDED = Counter("peluit_case_content_ended_total", "Cases whose content ended with its retention period")


class ContentEnded(Case.Event):
    """The case's content ended with its retention period; its keys are destroyed."""

    TOPIC = CASE_TOPIC + "ContentEnded"  # a case event like the others (envelopes, index, timeline read it)
    retention_years: int

    def apply(self, case: Case) -> None:
        case.content_ended_at = self.timestamp.isoformat()
        case._step("content_ended", {"id": "system"}, visible=False, retention_years=self.retention_years)


get_topic(ContentEnded)  # registers the topic, so stored events resolve to this class


def default_years() -> int:
    years = env_int("PELUIT_CONTENT_RETENTION_YEARS", 5)
    if years < 1:
        raise ConfigError("PELUIT_CONTENT_RETENTION_YEARS must be at least 1")
    return years


def end_content(app, pool, case_id: UUID, at: datetime, years: int) -> bool:
    """End one ended case's content (idempotent); False when it had ended already or is not ended."""
    case = app.get_case(case_id)
    if case.status not in TERMINAL:
        return False
    if getattr(case, "content_ended_at", None) is None:  # else recorded before a crash: destroy the keys now
        case.trigger_event(ContentEnded, retention_years=years)
        app.save(case)  # a concurrent writer: IntegrityError, the next pass tries again
    ended = content.end_case_content(app, case_id, at)
    if pool is not None:
        # the stripped copies: bytes gone, the row (metadata for the history) stays
        with pool.connection() as conn, conn.transaction():
            conn.execute("UPDATE evidence_blob SET bytes = ''::bytea, item_id = NULL WHERE case_id = %s", (case_id,))
    if ended:
        CONTENT_ENDED.inc()
    return ended


DUE = f"""
SELECT i.case_id, COALESCE(t.content_retention_years, %(default)s) AS years
FROM case_index i
JOIN tenant t ON t.code = i.handling_tenant
LEFT JOIN content_case_key k ON k.case_id = i.case_id
WHERE i.status IN ({ENDED}) AND k.ended_at IS NULL
  -- the shortest period bounds the index range; the exact test per tenant follows
  AND i.updated_at <= %(now)s - make_interval(years => (
        SELECT LEAST(%(default)s, min(content_retention_years)) FROM tenant)) + interval '1 day'
  AND i.updated_at + make_interval(years => COALESCE(t.content_retention_years, %(default)s)) <= %(now)s
ORDER BY i.updated_at
LIMIT %(batch)s
"""


def run_once(pool, app, now: datetime, batch: int = 100) -> int:
    """End the content of every case whose period has passed by ``now``; returns how many."""
    total = 0
    while True:
        with pool.connection() as conn, conn.transaction():
            rows = conn.execute(DUE, {"default": default_years(), "now": now, "batch": batch}).fetchall()
        done = 0
        for case_id, years in rows:
            try:
                done += end_content(app, pool, case_id, now, years)
            except DomainError:
                continue
        total += done
        if len(rows) < batch or not done:
            return total
