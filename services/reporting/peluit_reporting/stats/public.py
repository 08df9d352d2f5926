"""Public transparency statistics: small cells suppressed, no margins, and
published once a day at a fixed local time (``PELUIT_PUBLIC_STATS_AT``,
00:00 in ``PELUIT_TIMEZONE``): what the public reads is the day's copy of
``public_count`` (``publish``), so the moment of one report cannot be read
from figures that change as it is registered."""

from __future__ import annotations

import datetime as dt

from peluit_contracts.i18n import message
from peluit_contracts.statistics import SMALL_CELL

from ..projection import TIMEZONE, UPSTREAM

PUBLIC_RULE = message("public_small_cell_rule")


def publication_due(now: dt.datetime, at: dt.time = dt.time(0, 0)) -> dt.datetime:
    """The latest publication time (``at``, local) at or before ``now``."""
    local = now.astimezone(TIMEZONE)
    due = dt.datetime.combine(local.date(), at, tzinfo=TIMEZONE)
    return due if due <= local else due - dt.timedelta(days=1)


def publish(conn, due: dt.datetime, *, force: bool = False) -> bool:
    """Copy ``public_count`` to ``public_snapshot`` unless the copy already
    stands for ``due`` or later, or the read model is being rebuilt (its
    counts come at the end: yesterday's copy stays). ``force``: an operator's
    copy now (after a rebuild, or in a test). Whether a copy was taken."""
    with conn.transaction():
        taken = conn.execute("SELECT due FROM public_snapshot_taken FOR UPDATE").fetchone()
        if taken is not None and taken[0] >= due and not force:
            return False
        rebuilding = conn.execute("SELECT counts_deferred FROM tracking WHERE upstream = %s",
                                  (UPSTREAM,)).fetchone()
        if rebuilding is None or rebuilding[0]:
            return False
        conn.execute("DELETE FROM public_snapshot")
        conn.execute("INSERT INTO public_snapshot (tenant, year, category, status, count) "
                     "SELECT tenant, year, category, status, count FROM public_count WHERE count > 0")
        conn.execute("INSERT INTO public_snapshot_taken (due, taken) VALUES (%s, now()) "
                     "ON CONFLICT (one) DO UPDATE SET due = excluded.due, taken = excluded.taken", (due,))
    return True


def suppressed(count: int) -> int | str:
    """A count as published: "<5" below the threshold."""
    return int(count) if count >= SMALL_CELL else f"<{SMALL_CELL}"


def public_counts(conn, tenant: str | None = None, year: int | None = None) -> list[dict]:
    """Counts per tenant, registration year, category and status, as last
    published; any count below 5 is shown as "<5". No margins are published
    (see ``PUBLIC_RULE``): with a total beside the cells, a single suppressed
    cell could be backed out."""
    asked = {column: value for column, value in (("tenant", tenant), ("year", year)) if value}
    where, params = ["count > 0", *(f"{column} = %s" for column in asked)], list(asked.values())
    with conn.transaction():
        rows = conn.execute(
            f"SELECT tenant, year, category, status, count FROM public_snapshot WHERE {' AND '.join(where)} "
            "ORDER BY 1, 2, 3, 4", params).fetchall()
    return [{"tenant": t, "year": y, "category": c, "status": s,
             "count": suppressed(n)} for t, y, c, s, n in rows]


def public_stats(conn, tenant: str | None = None, year: int | None = None) -> dict:
    """The public statistics as published (``PublicStats``): the suppressed
    cells, the threshold and the rule; the HTTP endpoint and the RPC answer this."""
    return {"counts": public_counts(conn, tenant, year), "small_cell_threshold": SMALL_CELL, "rule": PUBLIC_RULE}
