"""Reporting (:8004) against the running services: statistics for a known
set of cases in a fresh tenant, the province overview, exports read back,
public small-cell suppression, access control, rebuild identical to the
incremental build, and no report text or identity in any of it."""

from __future__ import annotations

import csv
import io
import secrets
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import psycopg
import pyotp
import pytest
import requests

from peluit_cases import catalogue, officers
from peluit_local import bootstrap
from peluit_common.testing import pdf_text
from peluit_local.testing import (admin_connect, encodings, eventually, publish_statistics, sample_report, submit,
                                  table_dump)

PASSWORD = "kata-sandi-uji-statistik-panjang"
TITLE = "Laporan Berkala Whistleblowing System"


class Fresh:
    """A tenant of its own, so counts are exact although the system is shared."""

    def __init__(self, system):
        self.system = system
        self.marker_identity = secrets.token_hex(10)
        self.marker_text = secrets.token_hex(10)
        self.people: dict[str, dict] = {}
        with psycopg.connect(bootstrap.admin_dsn(system.dbname("cases"))) as conn:
            conn.execute("SET search_path = peluit")
            taken = {r[0] for r in conn.execute("SELECT code FROM tenant").fetchall()}
            self.tenant = next(f"35.{n}" for n in range(99, 79, -1) if f"35.{n}" not in taken)
            self.name = f"Inspektorat Uji Statistik {self.tenant}"
            conn.commit()
            catalogue.upsert_tenant(conn, self.tenant, self.name, "35")
            totp_key = bytes.fromhex((system.keys_dir / "cases" / "officer-totp.key").read_text().strip())
            for who, roles in [("inspektur", ["inspektur"]), ("penelaah", ["penelaah"]),
                               ("irban", ["investigator"])]:
                username = f"stat.{who}.{uuid.uuid4().hex[:6]}"
                officer_id, secret = officers.create_officer(
                    conn, totp_key, tenant=self.tenant, username=username, display_name=who, password=PASSWORD,
                    roles=roles)
                self.people[who] = {"id": str(officer_id), "username": username, "secret": secret}
            conn.commit()

    def login(self, who: str) -> dict:
        person = self.people[who]
        if "headers" not in person:
            resp = requests.post(self.system.url("cases") + "/api/v1/officer/login", timeout=10, json={
                "username": person["username"], "password": PASSWORD, "totp": pyotp.TOTP(person["secret"]).now()})
            assert resp.status_code == 200, resp.text
            person["headers"] = {"Authorization": f"Bearer {resp.json()['token']}"}
        return person["headers"]

    def report(self, category="korupsi") -> str:
        body = sample_report(tenant=self.tenant, category=category,
                             what=f"Dana hibah dipotong {self.marker_text}", how=f"Tunai {self.marker_text}",
                             identity={"name": f"Saksi {self.marker_identity}"})
        key = str(uuid.uuid4())
        # intake re-reads the catalogue on a miss at most every 2 s: a tenant made a moment ago may need one retry
        # (a Response is falsy on 4xx/5xx; the idempotency key makes the retry safe)
        out = eventually(lambda: submit(self.system, body, key=key), timeout=10, interval=0.5)
        assert out.status_code == 201, out.text
        with admin_connect(self.system, "cases") as conn:
            row = eventually(lambda: conn.execute("SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
                                                  (out.json()["registration_number"],)).fetchone())
        return str(row[0])

    def command(self, who, case_id, name, body=None):
        url = f"{self.system.url('cases')}/api/v1/cases/{case_id}"
        headers = self.login(who)
        version = requests.get(url, headers=headers, timeout=10).json()["version"]
        resp = requests.post(f"{url}/{name}", json=body or {}, timeout=15,
                             headers={**headers, "If-Match": f'"{version}"'})
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def fresh(system, staff):
    f = Fresh(system)
    closed = f.report()
    f.command("penelaah", closed, "start-verification")
    f.command("penelaah", closed, "accept", {"note": "Lengkap"})
    f.command("inspektur", closed, "start-investigation",
              {"team": [f.people["irban"]["id"]], "plan": "Audit dokumen", "due_on": "2027-12-31"})
    f.command("irban", closed, "record-findings", {
        "outcome": "terbukti", "summary": "Terbukti",
        "recommendations": [{"kind": "sanksi_disiplin", "sanction": {"level": "ringan", "type": "teguran_tertulis"}}]})
    f.command("inspektur", closed, "complete-recommendation", {"recommendation_id": "R1", "note": "SK terbit"})
    f.command("inspektur", closed, "close", {"reason": "Tuntas", "feedback": "Terima kasih atas laporan Anda."})
    external = f.report()
    f.command("penelaah", external, "start-verification")
    f.command("penelaah", external, "forward", {"destination_kind": "external", "destination": "kejaksaan",
                                                "reason": "Pidana"})
    rejected = f.report()
    f.command("penelaah", rejected, "start-verification")
    f.command("penelaah", rejected, "reject", {"reason": "Tidak berkadar pengawasan"})
    moved = f.report()  # forwarded to Kabupaten Malang: from then on it counts there
    f.command("penelaah", moved, "forward", {"destination_kind": "tenant", "destination": "35.07",
                                             "reason": "Lokasi di Kabupaten Malang"})
    for _ in range(6):
        f.report()  # korupsi, diterima: one public cell of 6
    f.report("pungli")
    f.cases = {"closed": closed, "external": external, "rejected": rejected, "moved": moved}
    return f


def stats(system, headers, path="/api/v1/stats", **params):
    return requests.get(system.url("reporting") + path, params=params, headers=headers, timeout=20)


def year_params(fresh) -> dict:
    year = datetime.now(ZoneInfo("Asia/Jakarta")).year
    return {"tenant": fresh.tenant, "from": f"{year}-01", "to": f"{year}-12"}


def settled(system, fresh) -> dict:
    """The tenant's statistics once reporting has applied every step above."""
    def ready():
        body = stats(system, fresh.login("inspektur"), **year_params(fresh)).json()
        return body if body.get("by_status", {}).get("selesai") == 1 and body["total"] == 10 \
            and len(body["forwarded"]) == 2 else None
    body = eventually(ready, timeout=30)
    assert body, "reporting caught up with the log"
    return body


def test_tenant_statistics_for_a_known_set_of_cases(system, fresh):
    s = settled(system, fresh)
    assert s["tenant"] == fresh.tenant
    assert s["by_status"] == {"diterima": 7, "dilimpahkan": 1, "ditolak": 1, "selesai": 1}
    assert s["by_category"] == {"korupsi": 9, "pungli": 1}
    assert s["by_channel"] == {"web": 10}
    assert sum(s["by_month"].values()) == 10
    t = s["timings"]
    assert t["acknowledge"]["count"] == 3 and t["verify"]["count"] == 3 and t["close"]["count"] == 1
    assert 0 <= t["close"]["median_days"] < 1
    assert s["forwarded"] == [{"destination_kind": "external", "destination": "kejaksaan", "count": 1},
                              {"destination_kind": "tenant", "destination": "35.07", "count": 1}]
    assert s["sanctions"] == [{"level": "ringan", "count": 1}]
    # every case that ended here (closed, forwarded to the kejaksaan, rejected) met every deadline of its
    # tenant's pack (lapor) that had started; the one moved to 35.07 ended nothing
    assert {(d["pack"], d["rule"], d["met"], d["missed"]) for d in s["deadlines"]} == {
        ("lapor", "first_response", 3, 0), ("lapor", "verification", 3, 0), ("lapor", "investigation", 1, 0)}


def test_the_service_keeps_the_statistics_part_of_each_changed_tenant_month(system, fresh):
    settled(system, fresh)
    month = datetime.now(ZoneInfo("Asia/Jakarta")).date().replace(day=1)
    with admin_connect(system, "reporting") as conn:
        # the parts kept by the statistics queries above dropped: the timer, not a query, computes them again
        assert conn.execute("DELETE FROM peluit.stats_month WHERE tenant = %s", (fresh.tenant,)).rowcount
        assert eventually(lambda: conn.execute(  # the year and quarters, once the timer has merged them
            "SELECT count(*) FROM peluit.stats_block WHERE tenant = %s AND month <= %s",
            (fresh.tenant, month)).fetchone()[0] >= 2, timeout=30)
        conn.execute("DELETE FROM peluit.stats_block WHERE tenant = %s", (fresh.tenant,))

        def kept():  # every month of the tenant marked changed has its part kept at or after the change (autocommit)
            stale = conn.execute(
                "SELECT count(*) FROM peluit.stats_changed s LEFT JOIN peluit.stats_month m USING (tenant, month) WHERE "
                "s.tenant = %s AND (m.position IS NULL OR m.position < s.position)", (fresh.tenant,)).fetchone()[0]
            part = conn.execute("SELECT counts FROM peluit.stats_month WHERE tenant = %s AND month = %s",
                                (fresh.tenant, month)).fetchone()
            # and its year, merged again from its months' parts
            year = conn.execute(
                "SELECT counts FROM peluit.stats_block WHERE tenant = %s AND month = %s AND months = 12",
                (fresh.tenant, month.replace(month=1))).fetchone()
            return (stale == 0 and part is not None and sum(part[0]["by_status"].values()) == 10
                    and year is not None and year[0]["by_status"] == part[0]["by_status"])
        assert eventually(kept, timeout=30), "the keep_statistics timer computed the tenant's part and year"


def test_province_overview(system, fresh, login):
    settled(system, fresh)
    params = {k: v for k, v in year_params(fresh).items() if k != "tenant"}
    with admin_connect(system, "reporting") as conn:
        conn.execute("DELETE FROM peluit.stats_report WHERE key LIKE %s", ('["province"%',))
        resp = stats(system, login("prov.admin"), "/api/v1/stats/province", **params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        # kept by the service after the response was sent, as it was served (unless a change came meanwhile)
        kept = eventually(lambda: conn.execute("SELECT result FROM peluit.stats_report WHERE key LIKE %s",
                                               ('["province"%',)).fetchone(), timeout=10)
        assert kept and kept[0]["overall"]["total"] == body["overall"]["total"]
    line = next(t for t in body["tenants"] if t["tenant"] == fresh.tenant)
    assert line["total"] == 10 and line["by_status"]["selesai"] == 1
    assert body["overall"]["total"] == sum(t["total"] for t in body["tenants"])
    # the province's inspektur may open any of its tenants
    assert stats(system, login("prov.admin"), **year_params(fresh)).json()["total"] == 10


def test_access_control_and_bad_parameters(system, fresh, login):
    params = year_params(fresh)
    assert stats(system, {}, **params).status_code == 401
    assert stats(system, {"Authorization": "Bearer x.y.z"}, **params).status_code == 401
    for who in (login("budi.kabmalang"), login("rina.auditor"), fresh.login("irban"), login("sari.penelaah")):
        denied = stats(system, who, **params)
        assert denied.status_code == 403
        assert set(denied.json()["error"]["message"]) == {"id", "en"}
    assert stats(system, fresh.login("penelaah"), **params).status_code == 200
    assert stats(system, login("agus.inspektur"), "/api/v1/stats/province").status_code == 403
    for path in ("/api/v1/stats/export.csv", "/api/v1/stats/export.pdf"):
        assert stats(system, login("budi.kabmalang"), path, tenant=fresh.tenant).status_code == 403
        assert stats(system, {}, path, tenant=fresh.tenant).status_code == 401
    bad = stats(system, fresh.login("inspektur"), tenant="35.7x", **{"from": "2026-13"})
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]
    assert set(fields) == {"tenant", "from"} and all(set(m) == {"id", "en"} for ms in fields.values() for m in ms)
    assert stats(system, fresh.login("inspektur"), "/api/v1/stats/export.csv", year="dua").status_code == 400
    assert stats(system, fresh.login("inspektur"), "/api/v1/stats/export.doc").status_code == 404
    assert requests.get(system.url("reporting") + "/api/v1/public/stats", params={"year": "x"},
                        timeout=10).status_code == 400


def export(system, fresh, fmt) -> requests.Response:
    year = datetime.now(ZoneInfo("Asia/Jakarta")).year
    resp = stats(system, fresh.login("inspektur"), f"/api/v1/stats/export.{fmt}", tenant=fresh.tenant, year=year)
    assert resp.status_code == 200, resp.text
    assert f"laporan-berkala-{fresh.tenant}-{year}.{fmt}" in resp.headers["Content-Disposition"]
    return resp


def xlsx_text(content: bytes) -> str:
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(content))
    return "\n".join(" ".join(str(c) for c in row if c is not None) for row in wb.active.iter_rows(values_only=True))


def test_exports_parse_back(system, fresh):
    settled(system, fresh)
    rows = list(csv.reader(io.StringIO(export(system, fresh, "csv").content.decode("utf-8"))))
    assert rows[0] == ["bagian", "kode", "nilai"]
    assert ["ringkasan", "jumlah_laporan", "10"] in rows and ["status", "selesai", "1"] in rows
    assert ["pelimpahan", "external/kejaksaan", "1"] in rows
    xlsx = export(system, fresh, "xlsx")
    assert xlsx.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    text = xlsx_text(xlsx.content)
    assert TITLE in text and fresh.name in text and "sanksi ringan 1" in text
    pdf = export(system, fresh, "pdf")
    assert pdf.content.startswith(b"%PDF") and pdf.headers["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    assert TITLE in text and fresh.name in text and "Periode" in text


def test_the_province_export_is_for_the_province_alone(system, fresh, login):
    settled(system, fresh)
    year = datetime.now(ZoneInfo("Asia/Jakarta")).year
    path = "/api/v1/stats/province/export.{}"
    got = {}
    for fmt in ("csv", "xlsx", "pdf"):
        resp = stats(system, login("prov.admin"), path.format(fmt), year=year, province="35")
        assert resp.status_code == 200, resp.text
        assert f'filename="laporan-berkala-provinsi-35-{year}.{fmt}"' in resp.headers["Content-Disposition"]
        got[fmt] = resp
    rows = list(csv.reader(io.StringIO(got["csv"].content.decode("utf-8"))))
    assert rows[0] == ["lingkup", "bagian", "kode", "nilai"]
    assert [fresh.tenant, "ringkasan", "jumlah_laporan", "10"] in rows
    assert [fresh.tenant, "status", "selesai", "1"] in rows
    total = next(int(r[3]) for r in rows if r[:3] == ["provinsi", "ringkasan", "jumlah_laporan"])
    assert total == sum(int(r[3]) for r in rows if r[0] != "provinsi" and r[1:3] == ["ringkasan", "jumlah_laporan"])
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(got["xlsx"].content))
    assert wb.sheetnames == ["Ringkasan", "Per Inspektorat"]
    line = next(r for r in wb["Per Inspektorat"].iter_rows(values_only=True) if r[0] == fresh.tenant)
    assert line[1:3] == (fresh.name, 10)
    text = pdf_text(got["pdf"].content)
    assert TITLE in text and fresh.name in text and "Per Inspektorat" in text
    # a kota's officers, the province's auditor, another province: 403; no token: 401; a bad year: 400
    for who in (fresh.login("inspektur"), login("agus.inspektur"), login("budi.kabmalang"), login("rina.auditor")):
        denied = stats(system, who, path.format("csv"), year=year)
        assert denied.status_code == 403 and set(denied.json()["error"]["message"]) == {"id", "en"}
    assert stats(system, login("prov.admin"), path.format("pdf"), province="36").status_code == 403
    assert stats(system, {}, path.format("xlsx")).status_code == 401
    assert stats(system, login("prov.admin"), path.format("csv"), year="dua").status_code == 400
    assert stats(system, login("prov.admin"), path.format("doc")).status_code == 404


def test_public_statistics_suppress_small_cells(system, fresh):
    settled(system, fresh)
    publish_statistics(system)  # published once a day otherwise
    resp = requests.get(system.url("reporting") + "/api/v1/public/stats", params={"tenant": fresh.tenant},
                        timeout=10)
    assert resp.status_code == 200 and "Authorization" not in resp.request.headers
    body = resp.json()
    cells = {(c["category"], c["status"]): c["count"] for c in body["counts"]}
    assert cells[("korupsi", "diterima")] == 6
    assert cells[("korupsi", "selesai")] == cells[("pungli", "diterima")] == "<5"
    assert all(c["count"] == "<5" or c["count"] >= 5 for c in body["counts"])
    assert body["small_cell_threshold"] == 5 and set(body["rule"]) == {"id", "en"}
    # no margins: nothing but the cross-classified cells
    assert set(body) == {"counts", "small_cell_threshold", "rule"}
    assert all(set(c) == {"tenant", "year", "category", "status", "count"} for c in body["counts"])


def _head(system) -> int:
    with admin_connect(system, "cases") as conn:
        return conn.execute("SELECT coalesce(max(notification_id), 0) FROM peluit.cases_events").fetchone()[0]


def _snapshot(system) -> tuple[int, dict]:
    from peluit_reporting import projection

    with admin_connect(system, "reporting") as conn:
        conn.execute("SET search_path = peluit")
        with conn.transaction():
            position = conn.execute("SELECT position FROM tracking").fetchone()[0]
            tables = projection.dump(conn)
    return position, tables


def test_rebuild_gives_identical_read_models(system, fresh):
    settled(system, fresh)
    for _attempt in range(3):
        head = _head(system)
        assert eventually(lambda: _snapshot(system)[0] == head, timeout=30)
        position, before = _snapshot(system)
        assert before["case_summary"] and before["deadline_outcome"] and before["sanction"]
        rebuilt_at = datetime.now(timezone.utc)
        subprocess.run([sys.executable, "-m", "peluit_reporting.admin", "rebuild"], env=system.env("reporting"),
                       check=True, capture_output=True, timeout=60)
        assert eventually(lambda: _snapshot(system)[0] >= head, timeout=60), "the follower replays the log"
        after_position, after = _snapshot(system)
        if _head(system) == head == after_position:  # nothing was written meanwhile
            break
    assert after_position == position
    assert after == before
    metrics = requests.get(system.ops_url("reporting") + "/metrics", timeout=5).text
    assert 'peluit_projection_lag_seconds{projection="case_summary"} 0.0' in metrics
    assert 'peluit_projection_progress_ratio{projection="case_summary"} 1.0' in metrics
    # the follower refreshes planner statistics once it has caught up after the rebuild
    with admin_connect(system, "reporting") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT last_analyze > %s FROM pg_stat_user_tables WHERE relname = 'case_summary'",
            (rebuilt_at,)).fetchone()[0], timeout=20)


def test_no_report_text_or_identity_in_reporting(system, fresh, login):
    settled(system, fresh)
    needles = [fresh.marker_identity, fresh.marker_text, "Dana hibah", "Saksi "]
    year = datetime.now(ZoneInfo("Asia/Jakarta")).year
    places = {
        "reporting database": table_dump(system, "reporting"),
        "tenant stats": stats(system, fresh.login("inspektur"), **year_params(fresh)).content,
        "province stats": stats(system, login("prov.admin"), "/api/v1/stats/province").content,
        "public stats": requests.get(system.url("reporting") + "/api/v1/public/stats", timeout=10).content,
        "csv": export(system, fresh, "csv").content,
        "xlsx": xlsx_text(export(system, fresh, "xlsx").content).encode(),
        "pdf": pdf_text(export(system, fresh, "pdf").content).encode(),
        "province csv": stats(system, login("prov.admin"), "/api/v1/stats/province/export.csv", year=year).content,
        "province pdf": pdf_text(stats(system, login("prov.admin"), "/api/v1/stats/province/export.pdf",
                                       year=year).content).encode(),
        "metrics": requests.get(system.ops_url("reporting") + "/metrics", timeout=5).content,
        "reporting log": (system.log_dir / "reporting.log").read_bytes(),
    }
    assert year and places["reporting database"]
    for needle in needles:
        for where, content in places.items():
            hits = [enc for enc in encodings(needle) if enc in content]
            assert not hits, f"{needle!r} found in {where}"


def test_the_operator_resets_the_kept_envelopes_and_cases_derives_them_again(system, fresh):
    """After a release that changes how envelopes are derived, ``peluit-cases
    reset-envelopes`` forgets the kept ones; the running service keeps them
    again from position 0 with its own code."""
    settled(system, fresh)
    with admin_connect(system, "cases") as conn:
        position, kept = conn.execute(
            "SELECT position, envelopes::text FROM peluit.envelope_log ORDER BY position DESC LIMIT 1").fetchone()
        # as an older release would have left it
        conn.execute("UPDATE peluit.envelope_log SET envelopes = '[]' WHERE position = %s", (position,))
        done = subprocess.run([sys.executable, "-m", "peluit_cases.admin", "reset-envelopes"],
                              env=system.env("cases"), check=True, timeout=60, capture_output=True, text=True)
        assert "position 0" in done.stdout
        again = eventually(lambda: conn.execute("SELECT envelopes::text FROM peluit.envelope_log WHERE position = %s "
                                                "AND envelopes::text <> '[]'", (position,)).fetchone(), timeout=30)
        assert again and again[0] == kept
