"""schemathesis against the running officer API (cases :8001): generated and
mutated requests for every documented operation, authenticated, with the
conformance checks (no 5xx, no undocumented status or content type, every
body within its schema).

The path parameters are pinned to a real case with an attachment and a real
disclosure request, so the case document, the timeline, the download and the
disclosure replies are checked against their schemas, not only 404s; the
administration operations act on an officer, a grant and a tenant of this
test's own. One officer holds every officer role (and an audit grant for its
tenant), so one run reaches every operation, except the two that would end
its own session (logout, password change: tests/system/test_officer_accounts.py)."""

from __future__ import annotations

import re
import uuid

import psycopg
import requests

from peluit_cases import catalogue
from peluit_local import bootstrap
from peluit_local.testing import (admin_connect, direct_officer, eventually, put_on_team, run_schemathesis,
                                  sample_report, submit)

EVERY_ROLE = ["penelaah", "investigator", "inspektur", "auditor", "province_admin"]
# they would end the fuzzing officer's own session half-way through the run
SESSION_ENDING = ("/api/v1/officer/logout", "/api/v1/officer/password")


def new_officer(system, tenant: str, roles: list[str]) -> dict:
    """An officer of its own (no other test signs it in), signed in once."""
    return direct_officer(system, tenant, roles, prefix="schema")


def unknown_tenant(system) -> str:
    """A region code no tenant has (other tests add tenants of their own)."""
    with admin_connect(system, "cases") as conn:
        taken = {r[0] for r in conn.execute("SELECT code FROM peluit.tenant").fetchall()}
    return next(code for code in (f"34.{n:02d}" for n in range(1, 100)) if code not in taken)


def case_with_evidence(system, headers) -> tuple[str, str]:
    """A non-anonymous case of 35.73 with one text attachment: (case id, evidence id)."""
    out = submit(system, sample_report(identity={"name": "Pelapor Uji Kontrak"}), key=str(uuid.uuid4()))
    assert out.status_code == 201, out.text
    upload = requests.post(system.url("intake") + "/api/v1/reports/evidence", data={"receipt": out.json()["receipt"]},
                           files=[("file", ("kuitansi.txt", b"Kuitansi pencairan 12 Oktober 2026", "text/plain"))],
                           timeout=60)
    assert upload.status_code == 201, upload.text
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute("SELECT case_id FROM peluit.case_index WHERE registration_number = %s",
                                              (out.json()["registration_number"],)).fetchone())
    case_id = str(row[0])
    document = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=headers, timeout=10).json()
    return case_id, document["evidence"][0]["evidence_id"]


def test_officer_api_keeps_its_contract(system, tmp_path, monkeypatch):
    cases = system.url("cases")
    fuzzer = new_officer(system, "35.73", EVERY_ROLE)
    filer = new_officer(system, "35.73", ["investigator"])
    case_id, evidence_id = case_with_evidence(system, fuzzer["headers"])
    grant = requests.post(cases + "/api/v1/audit-grants", headers=fuzzer["headers"], timeout=10, json={
        "officer_id": fuzzer["id"], "tenant": "35.73", "days": 1, "reason": "Uji kontrak API"})
    assert grant.status_code == 201, grant.text
    put_on_team(system, fuzzer["headers"], case_id, [filer["id"]])  # the case's team requests disclosures
    filed = requests.post(f"{cases}/api/v1/cases/{case_id}/disclosure-requests", headers=filer["headers"], timeout=20,
                          json={"reason": "Permohonan perlindungan saksi ke LPSK", "legal_basis": "lpsk_protection"})
    assert filed.status_code == 201, filed.text
    # administration acts on what is this test's own: an officer, another auditor's grant, a tenant
    subject = new_officer(system, "35.73", ["penelaah"])
    auditor = new_officer(system, "35", ["auditor"])
    other_grant = requests.post(cases + "/api/v1/audit-grants", headers=fuzzer["headers"], timeout=10, json={
        "officer_id": auditor["id"], "tenant": "35.73", "days": 1, "reason": "Uji kontrak pencabutan"})
    assert other_grant.status_code == 201, other_grant.text
    tenant = unknown_tenant(system)
    with psycopg.connect(bootstrap.admin_dsn(system.dbname("cases"))) as conn:
        conn.execute("SET search_path = peluit")
        catalogue.upsert_tenant(conn, tenant, "Inspektorat Uji Kontrak", "35")

    document = requests.get(cases + "/api/v1/openapi.json", timeout=10).json()
    operations = sum(len(methods) for methods in document["paths"].values())
    (tmp_path / "schemathesis.toml").write_text(
        "[parameters]\n"
        f'"path.case_id" = "{case_id}"\n'
        f'"path.evidence_id" = "{evidence_id}"\n'
        f'"path.request_id" = "{filed.json()["request_id"]}"\n'
        f'"path.officer_id" = "{subject["id"]}"\n'
        f'"path.grant_id" = {other_grant.json()["id"]}\n'
        f'"path.code" = "{tenant}"\n'
        '"path.day" = "2026-12-24"\n')
    monkeypatch.chdir(tmp_path)  # schemathesis reads schemathesis.toml from its working directory
    out = run_schemathesis(cases + "/api/v1/openapi.json", headers=fuzzer["headers"],
                           extra=tuple(arg for path in SESSION_ENDING for arg in ("--exclude-path", path)))
    tested = re.search(r"Tested: (\d+)", out.stdout)
    assert tested and int(tested.group(1)) == operations - len(SESSION_ENDING) == 55, out.stdout[-3000:]
    assert out.returncode == 0, out.stdout[-12000:] + out.stderr[-2000:]


def test_what_schemathesis_found_is_a_clear_answer(system):
    """The inputs that gave 500s are bilingual 400s, references are checked,
    and only the documented methods are routed."""
    cases = system.url("cases")
    admin = new_officer(system, "35.73", ["penelaah", "province_admin"])
    auditor = new_officer(system, "35.73", ["auditor"])

    def field_error(resp, field):
        assert resp.status_code == 400, resp.text
        messages = resp.json()["error"]["fields"][field]
        assert messages and all(m["id"] and m["en"] for m in messages)

    listing = cases + "/api/v1/cases"
    field_error(requests.get(listing, params={"page": "1000000000000000000"}, headers=admin["headers"], timeout=10),
                "page")
    field_error(requests.get(listing + "?status=%00", headers=admin["headers"], timeout=10), "status")
    field_error(requests.get(listing, params={"per_page": "1000"}, headers=admin["headers"], timeout=10), "per_page")
    assert requests.get(listing, params={"page": "2", "x": "1"}, headers=admin["headers"], timeout=10).status_code == 200

    grants, nowhere = cases + "/api/v1/audit-grants", unknown_tenant(system)
    grant = {"officer_id": auditor["id"], "tenant": "35.73", "days": 1, "reason": "Uji referensi"}
    field_error(requests.post(grants, json={**grant, "officer_id": "-" * 36}, headers=admin["headers"], timeout=10),
                "officer_id")
    for wrong, code in (({"officer_id": str(uuid.uuid4())}, "unknown_officer"),
                        ({"officer_id": admin["id"]}, "grantee_not_auditor"), ({"tenant": nowhere}, "unknown_tenant")):
        refused = requests.post(grants, json={**grant, **wrong}, headers=admin["headers"], timeout=10)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == code, refused.text
    assert requests.post(grants, json=grant, headers=admin["headers"], timeout=10).status_code == 201
    for_nowhere = requests.post(cases + "/api/v1/officers", headers=admin["headers"], timeout=10, json={
        "tenant": nowhere, "username": f"baru.{uuid.uuid4().hex[:6]}", "display_name": "Petugas", "roles": ["auditor"]})
    assert for_nowhere.status_code == 422 and for_nowhere.json()["error"]["code"] == "unknown_tenant"

    case_id = str(uuid.uuid4())
    for path in ("timeline", "audit-bundle"):
        resp = requests.post(f"{cases}/api/v1/cases/{case_id}/{path}", json={}, headers=admin["headers"], timeout=10)
        assert resp.status_code == 405 and resp.headers["Allow"] == "GET, HEAD", resp.text
    assert requests.post(f"{cases}/api/v1/cases/{case_id}/bogus", json={}, headers=admin["headers"],
                         timeout=10).status_code == 404
