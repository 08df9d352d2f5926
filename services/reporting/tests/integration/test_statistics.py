"""The statistics and exports over the read model of the hand-built log:
values by the definitions, the province overview, public suppression (over
HTTP and over the portal's RPC alike)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import date, datetime, time, timedelta, timezone
from types import SimpleNamespace

import psycopg
import pytest
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_common.testing import pdf_text
from peluit_reporting import export, stats
from peluit_reporting.projection import TIMEZONE
from peluit_reporting.service import ReportingService

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


@pytest.fixture(scope="module")
def published(conn, built):
    """The read model of the log, and its public copy taken."""
    assert stats.publish(conn, stats.publication_due(datetime.now(timezone.utc)), force=True)
    return built


def test_public_counts_suppress_small_cells_and_publish_no_margins(conn, published):
    counts = stats.public_counts(conn)
    assert {"tenant": "35.78", "year": 2026, "category": "pengadaan", "status": "diterima", "count": 6} in counts
    assert {"tenant": "35.73", "year": 2026, "category": "korupsi", "status": "selesai", "count": "<5"} in counts
    assert all(c["count"] == "<5" or c["count"] >= 5 for c in counts)
    assert all(set(c) == {"tenant", "year", "category", "status", "count"} for c in counts)
    assert stats.public_counts(conn, "35.78", 2025) == []
    assert {c["tenant"] for c in stats.public_counts(conn, "35.78", 2026)} == {"35.78"}


def test_the_portal_rpc_answers_what_the_public_endpoint_publishes(conn, published):
    service = worker_factory(ReportingService, db=SimpleNamespace(connection=lambda: contextlib.nullcontext(conn)))
    for query in ({}, {"tenant": "35.78"}, {"tenant": "35.73", "year": 2026}, {"year": 2025}):
        environ = EnvironBuilder(path="/api/v1/public/stats", query_string=query).get_environ()
        served = service.public_stats_http(Request(environ))
        assert served.status_code == 200
        assert service.public_stats(query) == json.loads(served.get_data()) == stats.public_stats(conn, **query)
    published = service.public_stats({"tenant": "35.73"})
    assert published["counts"] == stats.public_counts(conn, "35.73") and published["small_cell_threshold"] == 5
    assert {"tenant": "35.73", "year": 2026, "category": "korupsi", "status": "selesai", "count": "<5"} in (
        published["counts"])
    assert service.public_stats({"year": 2025})["counts"] == []
    assert service.public_stats() == service.public_stats({})
    refused = service.public_stats({"year": "dua", "bogus": "1"})
    assert refused["error"] == "validation_failed" and set(refused["fields"]) == {"year", "bogus"}
    assert all(set(m) == {"id", "en"} for messages in refused["fields"].values() for m in messages)
    assert service.public_stats(["35.73"])["error"] == "validation_failed"


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



def test_the_province_export_reads_back(conn, built):
    p = stats.province_overview(conn, "35", date(2026, 1, 1), date(2026, 12, 1))
    lines = list(csv.reader(io.StringIO(export.province_to_csv(p).decode("utf-8"))))
    assert ["provinsi", "ringkasan", "jumlah_laporan", "10"] in lines
    assert ["35.73", "ringkasan", "jumlah_laporan", "4"] in lines
    assert ["35.78", "ringkasan", "jumlah_laporan", "6"] in lines
    assert ["35.73", "status", "selesai", "1"] in lines and not [line for line in lines if line[0] == "35.07"]
    text = pdf_text(export.province_to_pdf(p, "Jawa Timur (35)", {"35.73": "Inspektorat Kota Malang"}))
    assert "Inspektorat Kota Malang" in text and "35.78" in text.splitlines()


def test_publication_is_due_at_the_fixed_local_time_at_or_before_now():
    at = time(0, 0)
    morning = datetime(2026, 12, 6, 9, 30, tzinfo=TIMEZONE)
    assert stats.publication_due(morning, at) == datetime(2026, 12, 6, 0, 0, tzinfo=TIMEZONE)
    assert stats.publication_due(morning.astimezone(timezone.utc), at) == datetime(2026, 12, 6, 0, 0, tzinfo=TIMEZONE)
    assert stats.publication_due(morning, time(10, 0)) == datetime(2026, 12, 5, 10, 0, tzinfo=TIMEZONE)
    midnight = datetime(2026, 12, 7, 0, 0, tzinfo=TIMEZONE)
    assert stats.publication_due(midnight, at) == midnight


def test_public_statistics_change_at_most_once_a_day_at_the_fixed_time(conn, published):
    """Reports registered during the day reach the public figures only at the next publication time;
    a rebuild keeps the last copy. (Everything here is rolled back: the module's read model stays.)"""
    day = datetime(2026, 12, 6, 9, 0, tzinfo=TIMEZONE)
    with conn.transaction():
        assert stats.publish(conn, stats.publication_due(day), force=True)
        before = stats.public_stats(conn)
        conn.execute("UPDATE public_count SET count = count + 7")  # the day's registrations, applied at once
        conn.execute("INSERT INTO public_count VALUES ('35.73', 2026, 'pengadaan', 'diterima', 9)")
        for hour in (9, 12, 18, 23):
            assert not stats.publish(conn, stats.publication_due(day.replace(hour=hour, minute=59)))
            assert stats.public_stats(conn) == before  # nothing dates a report during the day
        next_day = stats.publication_due(day + timedelta(hours=15, minutes=1))  # 00:01 the next day
        assert next_day == datetime(2026, 12, 7, 0, 0, tzinfo=TIMEZONE)
        assert stats.publish(conn, next_day)
        after = stats.public_counts(conn, "35.73")
        assert {"tenant": "35.73", "year": 2026, "category": "pengadaan", "status": "diterima", "count": 9} in after
        assert stats.public_stats(conn)["counts"] != before["counts"]
        assert not stats.publish(conn, next_day)  # once for that day
        conn.execute("UPDATE tracking SET counts_deferred = true")  # a rebuild: its counts come at the end
        assert not stats.publish(conn, next_day + timedelta(days=1))
        assert stats.public_counts(conn, "35.73") == after  # the last copy stays
        raise psycopg.Rollback()
