"""Administration over HTTP against the running services: admins act in their
own scope and never on themselves, every change is in the admin change log
with who and when, tenant settings (retention in the vault), audit grants,
the operator's command line and ``make run``'s demo administrator, and a
session check that cannot be answered is a bilingual 503, never a pass."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import psycopg
import requests

from peluit_cases import catalogue
from peluit_local import bootstrap
from peluit_local.system import REPO
from peluit_local.testing import admin_connect, direct_officer, enrol, eventually


def cases(system, path: str) -> str:
    return system.url("cases") + path


def change_count(system) -> int:
    with admin_connect(system, "cases") as conn:
        return conn.execute("SELECT count(*) FROM peluit.admin_change").fetchone()[0]


def own_tenant(system) -> str:
    """A tenant of this test's own, so settings changes touch nobody else."""
    with psycopg.connect(bootstrap.admin_dsn(system.dbname("cases"))) as conn:
        conn.execute("SET search_path = peluit")
        taken = {r[0] for r in conn.execute("SELECT code FROM tenant").fetchall()}
        conn.commit()
        code = next(f"35.{n}" for n in range(60, 79) if f"35.{n}" not in taken)
        catalogue.upsert_tenant(conn, code, f"Inspektorat Uji Pengaturan {code}", "35")
    return code


def test_admins_act_in_their_scope_and_never_on_themselves(system, staff, login):
    kota = direct_officer(system, "35.73", ["tenant_admin"], prefix="kota.admin")
    peer = direct_officer(system, "35.73", ["tenant_admin"], prefix="kota.admin2")
    elsewhere = direct_officer(system, "35.07", ["penelaah"], prefix="kab")
    own = direct_officer(system, "35.73", ["penelaah"], prefix="staf")
    before = change_count(system)
    refused = [
        ("post", f"/api/v1/officers/{kota['id']}/deactivate", None, "not_on_yourself"),
        ("post", f"/api/v1/officers/{kota['id']}/reset-factor", None, "not_on_yourself"),
        ("post", f"/api/v1/officers/{kota['id']}/roles", {"roles": ["tenant_admin", "inspektur"]}, "not_on_yourself"),
        ("post", f"/api/v1/officers/{elsewhere['id']}/deactivate", None, "officer_forbidden"),
        ("post", f"/api/v1/officers/{peer['id']}/reset-factor", None, "officer_forbidden"),
        ("post", f"/api/v1/officers/{own['id']}/roles", {"roles": ["tenant_admin"]}, "officer_forbidden"),
        ("post", "/api/v1/officers", {"tenant": "35.07", "username": f"x.{uuid.uuid4().hex[:6]}",
                                      "display_name": "X", "roles": ["penelaah"]}, "officer_forbidden"),
        ("post", "/api/v1/officers", {"tenant": "35.73", "username": f"x.{uuid.uuid4().hex[:6]}",
                                      "display_name": "X", "roles": ["province_admin"]}, "officer_forbidden"),
        ("get", "/api/v1/officers?tenant=35.07", None, "officer_forbidden"),
        ("get", "/api/v1/tenants/35.07/settings", None, "officer_forbidden"),
        ("post", "/api/v1/audit-grants/1/revoke", None, "officer_forbidden"),
    ]
    for method, path, body, text in refused:
        reply = requests.request(method, cases(system, path), json=body, headers=kota["headers"], timeout=10)
        assert reply.status_code == 403, (path, reply.text)
        error = reply.json()["error"]
        assert error["code"] == "forbidden" and error["message"]["en"], (path, error)
    prov_self = requests.post(cases(system, f"/api/v1/officers/{staff['prov.admin']['id']}/deactivate"),
                              headers=login("prov.admin"), timeout=10)
    assert prov_self.status_code == 403 and "own account" in prov_self.json()["error"]["message"]["en"]
    assert change_count(system) == before  # refusals record nothing and change nothing
    assert requests.get(cases(system, "/api/v1/officer/me"), headers=own["headers"], timeout=10).status_code == 200

    # in scope: the change and who made it, in the log the admin can read
    done = requests.post(cases(system, f"/api/v1/officers/{own['id']}/roles"), headers=kota["headers"], timeout=10,
                         json={"roles": ["penelaah", "investigator"]})
    assert done.status_code == 200 and done.json()["roles"] == ["penelaah", "investigator"]
    log = requests.get(cases(system, "/api/v1/admin-changes"), headers=kota["headers"], timeout=10).json()
    newest = log["items"][0]
    assert (newest["kind"], newest["subject"], newest["officer_id"], newest["username"], newest["tenant"]) == (
        "roles_changed", own["id"], kota["id"], kota["username"], "35.73")
    assert newest["details"]["from"] == ["penelaah"] and newest["at"]
    assert {i["tenant"] for i in log["items"]} == {"35.73"}
    assert requests.get(cases(system, "/api/v1/admin-changes?tenant=35.07"), headers=kota["headers"],
                        timeout=10).status_code == 403
    listing = requests.get(cases(system, "/api/v1/officers"), headers=kota["headers"], params={"per_page": 100},
                           timeout=10).json()
    assert {i["tenant"] for i in listing["items"]} == {"35.73"} and "enrolled" in listing["items"][0]


def test_grants_are_listed_revoked_and_end_the_auditors_reach(system, staff, login):
    auditor = direct_officer(system, "35", ["auditor"], prefix="audit")
    prov = login("prov.admin")
    grant = requests.post(cases(system, "/api/v1/audit-grants"), headers=prov, timeout=10, json={
        "officer_id": auditor["id"], "tenant": "35.73", "days": 3, "reason": "Audit tahunan"})
    assert grant.status_code == 201 and isinstance(grant.json()["id"], int)
    own = requests.get(cases(system, "/api/v1/audit-grants"), headers=auditor["headers"], timeout=10).json()["items"]
    assert [(g["id"], g["username"], g["revoked_at"]) for g in own] == [
        (grant.json()["id"], auditor["username"], None)]
    assert requests.get(cases(system, "/api/v1/admin-changes?tenant=35.73"), headers=auditor["headers"],
                        timeout=10).status_code == 200  # a live grant reads the tenant's change log
    revoked = requests.post(cases(system, f"/api/v1/audit-grants/{grant.json()['id']}/revoke"), headers=prov,
                            timeout=10)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert requests.get(cases(system, "/api/v1/admin-changes?tenant=35.73"), headers=auditor["headers"],
                        timeout=10).status_code == 403
    assert requests.get(cases(system, "/api/v1/cases"), headers=auditor["headers"], timeout=10).json()["items"] == []
    live = requests.get(cases(system, "/api/v1/audit-grants"), params={"active": "true"}, headers=prov,
                        timeout=10).json()["items"]
    assert grant.json()["id"] not in {g["id"] for g in live}
    assert requests.post(cases(system, "/api/v1/audit-grants/999999999/revoke"), headers=prov,
                         timeout=10).status_code == 404
    assert requests.get(cases(system, "/api/v1/audit-grants"), headers=login("sari.penelaah"),
                        timeout=10).status_code == 403


def test_tenant_settings_with_retention_in_the_vault(system, staff, login):
    code = own_tenant(system)
    prov = login("prov.admin")
    url = cases(system, f"/api/v1/tenants/{code}/settings")
    first = requests.get(url, headers=prov, timeout=10)
    assert first.status_code == 200, first.text
    settings = first.json()
    assert (settings["deadline_pack"], settings["retention_years"]) == ("lapor", 5) and "wise" in settings["packs"]
    changed = requests.post(url, headers=prov, timeout=20, json={"deadline_pack": "wise", "retention_years": 8,
                                                                 "information_request_days": 21})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["deadline_pack"], changed.json()["retention_years"]) == ("wise", 8)
    with admin_connect(system, "identity-vault") as vault:
        assert vault.execute("SELECT years FROM peluit.retention_policy WHERE tenant = %s",
                             (code,)).fetchone() == (8,)
    # all or nothing: an unknown pack leaves retention as it was
    bad = requests.post(url, headers=prov, timeout=20, json={"deadline_pack": "tidak_ada", "retention_years": 9})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "unknown_deadline_pack"
    assert requests.get(url, headers=prov, timeout=10).json()["retention_years"] == 8
    invalid = requests.post(url, headers=prov, timeout=10, json={"retention_years": 0, "disclosure_notice": "ya"})
    assert invalid.status_code == 400 and set(invalid.json()["error"]["fields"]) == {"retention_years",
                                                                                   "disclosure_notice"}
    holiday = requests.post(cases(system, f"/api/v1/tenants/{code}/holidays"), headers=prov, timeout=10,
                            json={"date": "2026-12-24", "name": "Cuti bersama"})
    assert {"date": "2026-12-24", "name": "Cuti bersama"} in holiday.json()["holidays"]
    gone = requests.post(cases(system, f"/api/v1/tenants/{code}/holidays/2026-12-24/delete"), headers=prov, timeout=10)
    assert gone.status_code == 200 and gone.json()["holidays"] == []
    category = requests.post(cases(system, f"/api/v1/tenants/{code}/categories"), headers=prov, timeout=10,
                             json={"code": "dana-desa", "label_id": "Dana desa", "label_en": "Village funds"})
    assert {"code": "dana-desa", "label_id": "Dana desa", "label_en": "Village funds",
            "active": True} in category.json()["categories"]
    log = requests.get(cases(system, "/api/v1/admin-changes"), params={"tenant": code}, headers=prov,
                       timeout=10).json()["items"]
    assert [i["kind"] for i in log] == ["category_changed", "holiday_deleted", "holiday_added", "settings_changed"]
    assert log[-1]["details"]["changes"]["retention_years"] == {"from": 5, "to": 8}
    assert all(i["officer_id"] == staff["prov.admin"]["id"] for i in log)
    assert requests.get(cases(system, "/api/v1/tenants/34.99/settings"), headers=prov, timeout=10).status_code == 404


def _cli(system, *argv, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "peluit_cases.admin", *argv], capture_output=True, text=True,
                          env={**system.env("cases"), **(env or {})}, cwd=REPO, timeout=60)


def test_the_command_line_and_the_demo_administrator_hand_out_codes_only(system, staff):
    name = f"cli.{uuid.uuid4().hex[:6]}"
    out = _cli(system, "create-officer", "--tenant", "35.73", "--username", name, "--display-name", "Lewat CLI",
               "--role", "inspektur")
    assert out.returncode == 0, out.stderr
    code = out.stdout.split("): ", 1)[1].split()[0]
    assert len(code) == 20 and "http://127.0.0.1:8007/" in out.stdout and "otpauth" not in out.stdout
    assert enrol(system, name, code)["id"]

    refused = _cli(system, "demo-admin", env={"PELUIT_ENV": "production"})
    assert refused.returncode == 2 and "production" in refused.stderr
    with admin_connect(system, "cases") as conn:
        assert conn.execute("SELECT 1 FROM peluit.officer WHERE username = 'admin.demo'").fetchone() is None
    first, second = _cli(system, "demo-admin"), _cli(system, "demo-admin")
    codes = [run.stdout.split("): ", 1)[1].split()[0] for run in (first, second)]
    assert codes[0] != codes[1]  # a fresh one each run, and only the newest works
    stale = requests.post(cases(system, "/api/v1/officer/enrolment"), timeout=10,
                          json={"username": "admin.demo", "enrolment_code": codes[0]})
    assert stale.status_code == 401
    admin = enrol(system, "admin.demo", codes[1])
    me = requests.get(cases(system, "/api/v1/officer/me"), headers=admin["headers"], timeout=10).json()
    assert (me["tenant"], me["roles"]) == ("35", ["province_admin"])
    third = _cli(system, "demo-admin")
    assert third.returncode == 0 and "): " not in third.stdout and "admin.demo" in third.stdout


def test_an_unanswered_session_check_is_a_bilingual_503(system, staff, login):
    """Last in this module: cases stops for a moment, then starts again."""
    headers = login("agus.inspektur")
    stats = system.url("reporting") + "/api/v1/stats"
    assert requests.get(stats, headers=headers, timeout=10).status_code == 200
    system.stop("cases")
    try:
        time.sleep(1.1)  # past reporting's session cache
        started = time.monotonic()
        reply = requests.get(stats, headers=headers, timeout=20)
        assert reply.status_code == 503, reply.text
        error = reply.json()["error"]
        assert error["code"] == "session_unavailable" and error["message"]["id"] and error["message"]["en"]
        assert time.monotonic() - started < 5  # the 2 s deadline, not the RPC timeout
        slip = requests.post(system.url("intake") + "/api/v1/assisted-reports", json={}, headers=headers, timeout=20)
        assert slip.status_code == 503 and slip.json()["error"]["code"] == "session_unavailable"
    finally:
        system.start("cases")
        system.wait_ready("cases")
    assert eventually(lambda: requests.get(stats, headers=headers, timeout=10).status_code == 200, timeout=30)
