"""Public transparency statistics: small cells suppressed, no margins."""

from __future__ import annotations

SMALL_CELL = 5

PUBLIC_RULE = {
    "id": "Hanya sel tabulasi silang (Inspektorat x tahun x kategori x status) yang diterbitkan; sel bernilai 1-4 "
          "ditampilkan sebagai \"<5\", sel bernilai 0 tidak ditampilkan, dan tidak ada total atau subtotal, "
          "sehingga sel yang disamarkan tidak dapat dihitung dari angka lain.",
    "en": "Only the cells of the cross-classification (Inspektorat x year x category x status) are published; "
          "cells of 1-4 are shown as \"<5\", empty cells are left out, and there are no totals or subtotals, "
          "so no suppressed cell can be derived from other figures.",
}


def public_counts(conn, tenant: str | None = None, year: int | None = None) -> list[dict]:
    """Counts per tenant, registration year, category and status; any count
    below 5 is shown as "<5". No margins are published (see ``PUBLIC_RULE``):
    with a total beside the cells, a single suppressed cell could be backed out."""
    where, params = ["count > 0"], []
    if tenant:
        where.append("tenant = %s")
        params.append(tenant)
    if year:
        where.append("year = %s")
        params.append(year)
    with conn.transaction():
        rows = conn.execute(
            f"SELECT tenant, year, category, status, count FROM public_count WHERE {' AND '.join(where)} "
            "ORDER BY 1, 2, 3, 4", params).fetchall()
    return [{"tenant": t, "year": y, "category": c, "status": s,
             "count": int(n) if n >= SMALL_CELL else f"<{SMALL_CELL}"} for t, y, c, s, n in rows]
