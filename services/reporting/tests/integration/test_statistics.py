"""The statistics and exports over the read model of the hand-built log:
values by the definitions, the province overview, public suppression."""

from __future__ import annotations

import csv
import io
from datetime import date

from peluit_reporting import export, stats

def test_officer_statistics_follow_the_definitions(conn, built):
    s = stats.tenant_stats(conn, ["35.73"], date(2026, 1, 1), date(2026, 12, 1))
    assert s["total"] == 4
    assert s["by_status"] == {"diterima": 2, "dilimpahkan": 1, "selesai": 1}
    assert s["by_category"] == {"korupsi": 3, "pungli": 1}
    assert s["by_channel"] == {"email": 1, "web": 3}
    assert s["by_month"] == {"2026-03": 3, "2026-04": 1}
    t = s["timings"]
    assert t["acknowledge"] == {"count": 1, "median_days": 1.0, "p90_days": 1.0}
    # verified: A after 2 days, B forwarded after 3, D forwarded out of 35.07 after 3 (it now counts here)
    assert t["verify"]["count"] == 3 and t["verify"]["median_days"] == 3.0
    assert t["close"] == {"count": 1, "median_days": 10.0, "p90_days": 10.0}
    assert s["deadlines"] == [
        {"pack": "lapor", "rule": "first_response", "total": 1, "met": 1, "missed": 0, "compliance": 1.0},
        {"pack": "lapor", "rule": "investigation", "total": 1, "met": 0, "missed": 1, "compliance": 0.0}]
    assert s["breaches"] == [{"rule": "first_response", "count": 1}]
    assert s["forwarded"] == [{"destination_kind": "external", "destination": "kpk", "count": 1}]
    assert s["sanctions"] == [{"level": "sedang", "count": 1}]
    # a period selects by registration month
    march = stats.tenant_stats(conn, ["35.73"], date(2026, 3, 1), date(2026, 3, 1))
    assert march["total"] == 3 and march["breaches"] == []
    e = stats.tenant_stats(conn, ["36.03"], date(2026, 1, 1), date(2026, 12, 1))["timings"]
    assert (e["acknowledge"]["median_days"], e["verify"]["median_days"]) == (1.0, 2.0)  # the first, accepted
    kab = stats.tenant_stats(conn, ["35.07"], date(2026, 1, 1), date(2026, 12, 1))
    assert kab["total"] == 0 and kab["forwarded"] == [{"destination_kind": "tenant", "destination": "35.73",
                                                         "count": 1}]


def test_province_overview_sums_its_tenants(conn, built):
    p = stats.province_overview(conn, "35", date(2026, 1, 1), date(2026, 12, 1))
    assert p["overall"]["total"] == 10
    assert {t["tenant"]: t["total"] for t in p["tenants"]} == {"35.73": 4, "35.78": 6}  # 35.07 has none left


def test_public_counts_suppress_small_cells_and_publish_no_margins(conn, built):
    counts = stats.public_counts(conn)
    assert {"tenant": "35.78", "year": 2026, "category": "pengadaan", "status": "diterima", "count": 6} in counts
    assert {"tenant": "35.73", "year": 2026, "category": "korupsi", "status": "selesai", "count": "<5"} in counts
    assert all(c["count"] == "<5" or c["count"] >= 5 for c in counts)
    assert all(set(c) == {"tenant", "year", "category", "status", "count"} for c in counts)
    assert stats.public_counts(conn, "35.78", 2025) == []
    assert {c["tenant"] for c in stats.public_counts(conn, "35.78", 2026)} == {"35.78"}


def test_exports_read_back(conn, built):
    s = stats.tenant_stats(conn, ["35.73"], date(2026, 1, 1), date(2026, 12, 1))
    lines = list(csv.reader(io.StringIO(export.to_csv(s).decode("utf-8"))))
    assert lines[0] == ["bagian", "kode", "nilai"]
    assert ["status", "selesai", "1"] in lines and ["sanksi", "sedang", "1"] in lines
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(export.to_xlsx(s, "Inspektorat Kota Malang (35.73)")))
    cells = [tuple(r) for r in wb.active.iter_rows(values_only=True)]
    assert cells[0][0] == export.TITLE and ("kategori", "pungli", 1) in cells
    pdf = export.to_pdf(s, "Inspektorat Kota Malang (35.73)")
    assert pdf.startswith(b"%PDF")
    assert export.TITLE in pdf_text(pdf) and "Kota Malang" in pdf_text(pdf)


def pdf_text(pdf: bytes) -> str:
    """The decompressed content streams (enough to find a Latin-1 title)."""
    import pikepdf

    out = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            for stream in page.obj.Contents.as_list() if isinstance(page.obj.Contents, pikepdf.Array) else [
                    page.obj.Contents]:
                out.append(stream.read_bytes().decode("latin-1"))
    return "".join(out)
