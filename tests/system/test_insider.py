"""No single insider unmasks a reporter, end to end and lean: the province
admin sets up two accounts (it holds both enrolment codes) and cannot make
one approve the other's request; the tenant's k = 2 needs two independent
inspekturs; a recused inspektur meets the same 404 as another tenant's; no
officer bearer token crosses the broker, and a sniffed vault call replayed or
altered on the broker is refused and recorded by the vault. The breadth of
each rule is in the unit tests (vault ``test_dual_control``, cases
``test_access``, ``test_dual_control``)."""

from __future__ import annotations

import json
import uuid

import requests
from nameko.standalone.rpc import ClusterRpcProxy

from peluit_local.testing import admin_connect, direct_officer, enrol, new_case, next_totp, put_on_team


def cases(system, path: str) -> str:
    return system.url("cases") + path


def invited(system, prov: dict, roles: list[str]) -> dict:
    username = f"boneka.{uuid.uuid4().hex[:8]}"
    created = requests.post(cases(system, "/api/v1/officers"), headers=prov, timeout=10, json={
        "tenant": "35.78", "username": username, "display_name": "Akun Boneka", "roles": roles})
    assert created.status_code == 201, created.text
    return enrol(system, username, created.json()["enrolment_code"])


def approve(system, officer: dict, request_id: str) -> requests.Response:
    return requests.post(cases(system, f"/api/v1/disclosure-requests/{request_id}/approve"), timeout=15,
                         headers=officer["headers"], json={"totp": next_totp(officer)})


def test_no_single_insider_discloses_and_no_officer_token_crosses_the_broker(system, staff, login):
    prov = login("prov.admin")
    sock, puppet = invited(system, prov, ["investigator"]), invited(system, prov, ["inspektur"])
    honest = [direct_officer(system, "35.78", ["inspektur"]) for _ in range(3)]
    case_id = new_case(system, tenant="35.78", identity={"name": "Saksi Surabaya"})[0]
    put_on_team(system, honest[0]["headers"], case_id, [sock["id"]])
    settings = cases(system, "/api/v1/tenants/35.78/settings")
    assert requests.post(settings, json={"disclosure_approvals": 2}, headers=prov, timeout=15).status_code == 200
    try:
        filed = requests.post(cases(system, f"/api/v1/cases/{case_id}/disclosure-requests"), headers=sock["headers"],
                              json={"reason": "Permohonan perlindungan saksi ke LPSK", "legal_basis": "lpsk_protection"},
                              timeout=15)
        assert filed.status_code == 201, filed.text
        request_id = filed.json()["request_id"]
        assert filed.json()["approvals_required"] == 2

        # two accounts one administrator set up cannot be requester and approver
        puppet_says = approve(system, puppet, request_id)
        assert puppet_says.status_code == 403 and puppet_says.json()["error"]["code"] == "conflicted_approver"
        # a recused inspektur and another tenant's inspektur meet the same 404
        recused = honest[2]
        version = requests.get(cases(system, f"/api/v1/cases/{case_id}"), headers=recused["headers"],
                               timeout=15).json()["version"]
        assert requests.post(cases(system, f"/api/v1/cases/{case_id}/recuse"), json={"reason": "Kerabat terlapor"},
                             headers={**recused["headers"], "If-Match": f'"{version}"'}, timeout=15).status_code == 200
        # (the wall answers before any one-time code is looked at)
        walls = [requests.post(cases(system, f"/api/v1/disclosure-requests/{request_id}/approve"), timeout=15,
                               headers=headers, json={"totp": "000000"})
                 for headers in (recused["headers"], login("budi.kabmalang"))]
        assert [r.status_code for r in walls] == [404, 404] and walls[0].json() == walls[1].json()
        assert walls[0].json()["error"]["code"] == "not_found"
        assert requests.get(cases(system, f"/api/v1/cases/{case_id}"), headers=recused["headers"],
                            timeout=15).status_code == 404

        first = approve(system, honest[0], request_id)
        assert first.status_code == 200 and (first.json()["status"], first.json()["approvals"]) == ("pending", 1)
        twice = approve(system, honest[0], request_id)
        assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_approved"
        second = approve(system, honest[1], request_id)
        assert second.status_code == 200 and second.json()["status"] == "approved", second.text
    finally:
        requests.post(settings, json={"disclosure_approvals": 1}, headers=prov, timeout=15)

    # the broker: no officer bearer token, ever; the vault calls it carried are worth nothing twice
    seen = system.tap.drain()
    tokens = [o["headers"]["Authorization"].split()[1] for o in (sock, puppet, *honest)] + [prov["Authorization"].split()[1]]
    assert not [t for t in tokens if any(t.encode() in m for m in seen)]
    calls = [c for c in (_command(m) for m in seen) if c and c.get("request_id") == request_id
             and set(c) == {"version", "token", "request_id"}]
    assert calls, "the approvals crossed the broker as vault calls"
    with ClusterRpcProxy({"AMQP_URI": system.amqp_uri}, timeout=15) as rpc:
        replayed = rpc.identity_vault.approve_disclosure(calls[-1])
        altered = rpc.identity_vault.approve_disclosure({**calls[-1], "request_id": str(uuid.uuid4())})
    assert (replayed, altered) == ({"error": "call_replayed"}, {"error": "call_mismatch"})
    with admin_connect(system, "identity-vault") as conn:
        kept = conn.execute("SELECT code, officer_id FROM peluit.vault_call_refused ORDER BY id DESC LIMIT 2").fetchall()
    assert sorted(code for code, _ in kept) == ["call_mismatch", "call_replayed"]
    assert {officer for _, officer in kept} == {honest[1]["id"]}


def _command(message: bytes) -> dict | None:
    """The command of a nameko RPC request body, if it is one."""
    try:
        body = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        return None
    args = body.get("args") if isinstance(body, dict) else None
    return args[0] if isinstance(args, list) and args and isinstance(args[0], dict) else None
