"""Public transparency statistics: small cells suppressed, no margins."""

from __future__ import annotations

from peluit_contracts.i18n import message
from peluit_contracts.statistics import SMALL_CELL

PUBLIC_RULE = message("public_small_cell_rule")


def suppressed(count: int) -> int | str:
    """A count as published: "<5" below the threshold."""
    return int(count) if count >= SMALL_CELL else f"<{SMALL_CELL}"


def public_counts(conn, tenant: str | None = None, year: int | None = None) -> list[dict]:
    """Counts per tenant, registration year, category and status; any count
    below 5 is shown as "<5". No margins are published (see ``PUBLIC_RULE``):
    with a total beside the cells, a single suppressed cell could be backed out."""
    asked = {column: value for column, value in (("tenant", tenant), ("year", year)) if value}
    where, params = ["count > 0", *(f"{column} = %s" for column in asked)], list(asked.values())
    with conn.transaction():
        rows = conn.execute(
            f"SELECT tenant, year, category, status, count FROM public_count WHERE {' AND '.join(where)} "
            "ORDER BY 1, 2, 3, 4", params).fetchall()
    return [{"tenant": t, "year": y, "category": c, "status": s,
             "count": suppressed(n)} for t, y, c, s, n in rows]


def public_stats(conn, tenant: str | None = None, year: int | None = None) -> dict:
    """The public statistics as published (``PublicStats``): the suppressed
    cells, the threshold and the rule; the HTTP endpoint and the RPC answer this."""
    return {"counts": public_counts(conn, tenant, year), "small_cell_threshold": SMALL_CELL, "rule": PUBLIC_RULE}
