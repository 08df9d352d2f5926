"""The officer API on cases (:8001) against the running services: sign-in
with TOTP, tenant walls with access logging, roles, If-Match, the anonymous
dialogue through intake, and concurrent conflicting commands."""

from __future__ import annotations

import json
import uuid

import eventlet
import requests

from peluit_local.testing import admin_connect, enrol, eventually, sample_report, submit

PASSWORD = "kata-sandi-yang-panjang-sekali"


def new_case(system, tenant="35.73") -> tuple[str, str]:
    out = submit(system, sample_report(tenant=tenant), key=str(uuid.uuid4())).json()
    with admin_connect(system, "cases") as conn:
        case_id = eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
            (out["registration_number"],)).fetchone())
    assert case_id, "the case index follows the log"
    return str(case_id[0]), out["receipt"]


def get(system, headers, case_id):
    return requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=headers, timeout=10)


def command(system, headers, case_id, name, body, version):
    h = dict(headers)
    if version is not None:
        h["If-Match"] = f'"{version}"'
    return requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/{name}", json=body, headers=h, timeout=15)


def test_login_needs_password_and_a_fresh_totp(system, staff, login):
    with admin_connect(system, "cases") as conn:
        username = conn.execute("SELECT username FROM peluit.officer WHERE id = %s",
                                (staff["sari.penelaah"]["id"],)).fetchone()[0]
    url = system.url("cases") + "/api/v1/officer/login"
    bad = requests.post(url, json={"username": username, "password": "salah-salah-salah", "totp": "000000"}, timeout=10)
    unknown = requests.post(url, json={"username": "tidak.ada", "password": PASSWORD, "totp": "123456"}, timeout=10)
    assert bad.status_code == unknown.status_code == 401
    assert bad.json() == unknown.json()  # nothing tells which part was wrong
    assert requests.get(system.url("cases") + "/api/v1/cases", timeout=10).status_code == 401
    assert requests.get(system.url("cases") + "/api/v1/cases", headers={"Authorization": "Bearer x.y.z"},
                        timeout=10).status_code == 401


def test_tenant_walls_answer_404_and_are_recorded(system, staff, login):
    case_id, _ = new_case(system, "35.73")
    own = get(system, login("sari.penelaah"), case_id)
    assert own.status_code == 200 and own.headers["ETag"] == '"1"'
    assert own.json()["report"]["what"].startswith("Dana hibah")
    other = get(system, login("budi.kabmalang"), case_id)
    missing = get(system, login("budi.kabmalang"), str(uuid.uuid4()))
    assert other.status_code == missing.status_code == 404
    assert other.json() == missing.json()
    listing = requests.get(system.url("cases") + "/api/v1/cases", headers=login("budi.kabmalang"),
                           timeout=10).json()
    assert case_id not in {c["case_id"] for c in listing["items"]}
    # the auditor sees nothing without a grant, then the tenant it was granted
    auditor = login("yuni.auditor")  # an auditor no other test grants anything
    assert get(system, auditor, case_id).status_code == 404
    grant = requests.post(system.url("cases") + "/api/v1/audit-grants", headers=login("prov.admin"),
                          json={"officer_id": staff["yuni.auditor"]["id"], "tenant": "35.73", "days": 7,
                                "reason": "Pemeriksaan BPKP 2026"}, timeout=10)
    assert grant.status_code == 201
    assert get(system, auditor, case_id).status_code == 200
    assert command(system, auditor, case_id, "add-note", {"text": "x"}, 1).status_code == 403  # read-only
    with admin_connect(system, "cases") as conn:
        rows = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb FROM peluit.cases_events WHERE topic LIKE %s",
            ("%AccessLog.Accessed",)).fetchall()
    entries = [r[0] for r in rows]
    assert any(e["officer_id"] == staff["budi.kabmalang"]["id"] and e["allowed"] is False for e in entries)
    assert any(e["officer_id"] == staff["sari.penelaah"]["id"] and e["allowed"] is True for e in entries)


def test_workflow_over_http_with_if_match_roles_and_the_reporters_answer(system, staff, login):
    case_id, receipt = new_case(system)
    sari, agus = login("sari.penelaah"), login("agus.inspektur")
    assert command(system, sari, case_id, "start-verification", {}, None).status_code == 428
    assert command(system, sari, case_id, "start-verification", {}, 7).status_code == 409
    assert command(system, sari, case_id, "start-investigation",
                   {"team": [staff["dewi.irban"]["id"]], "plan": "p", "due_on": "2026-12-31"}, 1).status_code == 403
    ok = command(system, sari, case_id, "start-verification", {}, 1)
    assert ok.status_code == 200 and ok.json() == {"case_id": case_id, "version": 2, "status": "verifikasi"}
    refused = command(system, sari, case_id, "reject", {"reason": ""}, 2)
    assert refused.status_code == 400 and "reason" in refused.json()["error"]["fields"]
    illegal = command(system, agus, case_id, "close", {"reason": "x", "feedback": "y"}, 2)
    assert illegal.status_code == 422 and illegal.json()["error"]["code"] == "illegal_transition"
    assert command(system, sari, case_id, "request-information",
                   {"question": "Mohon lampirkan bukti kuitansi.", "due_on": "2026-12-07"}, 2).status_code == 200

    status = requests.post(system.url("intake") + "/api/v1/reports/status", json={"receipt": receipt}, timeout=10)
    view = status.json()
    assert view["status"]["code"] == "menunggu_informasi"
    assert view["messages"][-1]["text"] == "Mohon lampirkan bukti kuitansi."
    assert "sari" not in status.text
    answer = requests.post(system.url("intake") + "/api/v1/reports/messages",
                           json={"receipt": receipt, "text": "Kuitansi ada pada saya, tertanggal 12 Oktober."},
                           timeout=10)
    assert answer.status_code == 201 and answer.json()["status"] == "verifikasi"
    wrong = requests.post(system.url("intake") + "/api/v1/reports/messages",
                          json={"receipt": "0000-0000-0000-0000", "text": "halo"}, timeout=10)
    assert wrong.status_code == 404

    doc = get(system, sari, case_id).json()
    assert doc["status"]["code"] == "verifikasi"
    assert [m["from"] for m in doc["messages"]] == ["inspektorat", "pelapor"]
    v = doc["version"]
    assert command(system, sari, case_id, "accept", {"note": "Lengkap"}, v).status_code == 200
    team = {"team": [staff["dewi.irban"]["id"]], "plan": "Audit dokumen pencairan", "due_on": "2027-01-31"}
    assert command(system, agus, case_id, "start-investigation", {**team, "team": [staff["budi.kabmalang"]["id"]]},
                   v + 1).json()["error"]["code"] == "team_required"  # not an investigator of this tenant
    assert command(system, agus, case_id, "start-investigation", team, v + 1).status_code == 200
    dewi = login("dewi.irban")
    findings = {"outcome": "terbukti", "summary": "Pemotongan terbukti",
                "recommendations": [{"kind": "sanksi_disiplin",
                                     "sanction": {"level": "berat", "type": "pembebasan_dari_jabatan"}}]}
    assert command(system, dewi, case_id, "record-findings", findings, v + 2).status_code == 200
    assert command(system, agus, case_id, "complete-recommendation",
                   {"recommendation_id": "R1", "note": "SK Wali Kota terbit"}, v + 3).status_code == 200
    closed = command(system, agus, case_id, "close", {"reason": "Tuntas", "feedback": "Terima kasih atas laporan Anda."},
                     v + 4)
    assert closed.status_code == 200 and closed.json()["status"] == "selesai"
    with admin_connect(system, "cases") as conn:
        assert eventually(lambda: conn.execute("SELECT status FROM peluit.case_index WHERE case_id = %s",
                                               (case_id,)).fetchone() == ("selesai",))


def test_concurrent_conflicting_commands_have_one_winner_each(system, staff, login):
    case_id, _ = new_case(system)
    officers_ = [login("sari.penelaah"), login("agus.inspektur")]
    version = get(system, officers_[0], case_id).json()["version"]
    start = version
    outcomes = {200: 0, 409: 0}
    rounds = 150  # each a real race of two green threads; 500 took a minute and found nothing more
    for n in range(rounds):
        pool = eventlet.GreenPool(2)
        results = list(pool.imap(
            lambda h: command(system, h, case_id, "add-note", {"text": f"catatan {n}"}, version).status_code,
            officers_))
        assert sorted(results) == [200, 409], results
        for r in results:
            outcomes[r] += 1
        version += 1
    final = get(system, officers_[0], case_id).json()["version"]
    assert outcomes == {200: rounds, 409: rounds}
    assert final == start + outcomes[200]


def test_openapi_lists_every_command(system):
    doc = requests.get(system.url("cases") + "/api/v1/openapi.json", timeout=10).json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/cases/{case_id}/close" in doc["paths"]
    assert "/api/v1/officer/login" in doc["paths"]


def test_workflow_events_reach_reporting_and_the_integration_exchange(system, staff, login):
    from kombu import Connection, Exchange, Queue

    with Connection(system.amqp_uri) as conn:
        tap = Queue(f"test.lapor.{uuid.uuid4().hex[:6]}", exchange=Exchange("peluit.integration", "topic",
                                                                            durable=True),
                    routing_key="case.#", durable=True)
        tap(conn.channel()).declare()
        case_id, _ = new_case(system)
        sari = login("sari.penelaah")
        assert command(system, sari, case_id, "start-verification", {}, 1).status_code == 200
        assert command(system, sari, case_id, "forward", {"destination_kind": "external", "destination": "kpk",
                                                          "reason": "Kewenangan KPK"}, 2).status_code == 200
        with admin_connect(system, "reporting") as db:
            assert eventually(lambda: db.execute("SELECT status FROM peluit.case_summary WHERE case_id = %s",
                                                 (case_id,)).fetchone() == ("dilimpahkan",))
            per_status = dict(db.execute("SELECT status, sum(count) FROM peluit.tenant_status_count"
                                         " WHERE tenant = '35.73' GROUP BY status").fetchall())
            actual = dict(db.execute("SELECT status, count(*) FROM peluit.case_summary WHERE tenant = '35.73'"
                                     " GROUP BY status").fetchall())
            assert {k: v for k, v in per_status.items() if v} == actual
        bound = tap(conn.channel())
        msg = eventually(lambda: bound.get(no_ack=True))
        assert msg is not None
        assert msg.content_type == "application/cloudevents+json"  # a CloudEvent in structured mode
        body = json.loads(msg.body)
        assert body["type"] == "case.forwarded" and body["dataversion"] == 1
        assert body["data"]["destination"] == "kpk" and body["data"]["case_id"] == case_id
        assert "what" not in repr(body) and "Dana hibah" not in repr(body)
        bound.delete()


def test_assisted_intake_by_a_penerima_with_a_printable_slip(system, staff, login):
    url = system.url("intake") + "/api/v1/assisted-reports"
    body = {**sample_report(), "channel": "walk_in", "identity": {"name": "Pelapor Datang Langsung"}}
    tono = login("tono.penerima")
    assert requests.post(url, json=body, timeout=15).status_code == 401
    assert requests.post(url, json=body, headers=login("sari.penelaah"), timeout=15).status_code == 403
    other_tenant = requests.post(url, json={**body, "tenant": "35.07"}, headers=tono, timeout=15)
    assert other_tenant.status_code == 422
    slip = requests.post(url + "?format=html", json=body,
                         headers={**tono, "Idempotency-Key": str(uuid.uuid4())}, timeout=15)
    assert slip.status_code == 201 and slip.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in slip.headers["Content-Security-Policy"]
    assert "<script" not in slip.text
    import re

    receipt = re.search(r"\d{4}-\d{4}-\d{4}-\d{4}", slip.text).group(0)
    number = re.search(r"WBS/35\.73/\d{4}/\d{6}", slip.text).group(0)
    status = requests.post(system.url("intake") + "/api/v1/reports/status", json={"receipt": receipt}, timeout=10)
    assert status.json()["registration_number"] == number
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute(
            "SELECT case_id, channel FROM peluit.case_index WHERE registration_number = %s", (number,)).fetchone())
    assert row[1] == "walk_in"
    doc = get(system, login("sari.penelaah"), str(row[0])).json()
    assert doc["channel"] == "walk_in"
    assert "Pelapor Datang Langsung" not in repr(doc)


def test_a_report_against_the_inspektorat_itself_is_handled_by_the_province(system, staff, login):
    out = submit(system, sample_report(terlapor_inspektorat=True), key=str(uuid.uuid4())).json()
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute(
            "SELECT case_id, handling_tenant FROM peluit.case_index WHERE registration_number = %s",
            (out["registration_number"],)).fetchone())
    assert row[1] == "35"
    assert get(system, login("sari.penelaah"), str(row[0])).status_code == 404  # not Kota Malang's any more
    assert get(system, login("prov.admin"), str(row[0])).status_code == 200


def test_admins_staff_their_own_tenant_only(system, staff, login):
    url = system.url("cases") + "/api/v1/officers"
    name = f"baru.{uuid.uuid4().hex[:6]}"
    new = {"tenant": "35.73", "username": name, "display_name": "Petugas Baru", "roles": ["penelaah"]}
    assert requests.post(url, json=new, headers=login("sari.penelaah"), timeout=10).status_code == 403
    created = requests.post(url, json=new, headers=login("prov.admin"), timeout=15)
    assert created.status_code == 201
    out = created.json()
    # an enrolment code, never a password or a TOTP secret: the officer chooses both
    assert set(out) == {"officer_id", "username", "tenant", "roles", "enrolment_code", "enrolment_expires_at"}
    signin = enrol(system, name, out["enrolment_code"])
    me = requests.get(system.url("cases") + "/api/v1/officer/me", headers=signin["headers"], timeout=10)
    assert me.status_code == 200 and me.json()["roles"] == ["penelaah"] and me.json()["id"] == out["officer_id"]
    # a kota's penelaah cannot make admins anywhere
    assert requests.post(url, json={**new, "username": name + "x", "roles": ["province_admin"]},
                         headers=signin["headers"], timeout=10).status_code == 403
