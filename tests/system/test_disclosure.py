"""Disclosure of a reporter's identity under dual control, end to end: cases
forwards, the identity vault decides and records, and the identity reaches
only the requesting officer's client, sealed to its own X25519 key. A random
marker in the identity is then searched in every broker message, every
database (the vault's included: it must hold it only encrypted), every log
and every reply."""

from __future__ import annotations

import base64
import json
import mailbox
import secrets
import uuid

import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.public import PrivateKey, SealedBox

from peluit_local.testing import (
    SERVICES,
    admin_connect,
    encodings,
    eventually,
    hits_outside_the_vault,
    new_case,
    put_on_team,
    table_dump,
)

REASON = "Pelapor mengajukan permohonan perlindungan saksi ke LPSK"


# -- helpers -------------------------------------------------------------------------

def post(system, headers, path, body):
    return requests.post(system.url("cases") + path, json=body, headers=headers, timeout=20)


def team_case(system, staff, login, identity):
    """A case under investigation with dewi on its team (who may request a disclosure)."""
    case_id = new_case(system, identity=identity)[0]
    put_on_team(system, login("agus.inspektur"), case_id, [staff["dewi.irban"]["id"], staff["hadi.kepala"]["id"]])
    return case_id


def file_request(system, headers, case_id, **body):
    return post(system, headers, f"/api/v1/cases/{case_id}/disclosure-requests",
                {"reason": REASON, "legal_basis": "lpsk_protection", **body})


def act(system, headers, request_id, action, body):
    return post(system, headers, f"/api/v1/disclosure-requests/{request_id}/{action}", body)


def error_code(resp) -> str:
    return resp.json()["error"]["code"]


def client_key() -> tuple[PrivateKey, str]:
    key = PrivateKey.generate()
    return key, base64.b64encode(bytes(key.public_key)).decode()


def vault_events(system, request_id: str) -> list[dict]:
    with admin_connect(system, "identity-vault") as conn:
        rows = conn.execute("SELECT topic, convert_from(state, 'UTF8') FROM peluit.vault_events "
                            "WHERE originator_id = %s ORDER BY originator_version", (request_id,)).fetchall()
    return [{"topic": topic.rsplit(".", 1)[-1], **json.loads(state)} for topic, state in rows]


# -- tests ---------------------------------------------------------------------------

def test_dual_control_disclosure_end_to_end_with_the_identity_sealed_to_the_officer(system, staff, login, fresh_totp):
    marker = secrets.token_hex(12)
    identity = {"name": f"Saksi {marker}", "email": f"s{marker}@example.id"}
    case_id = team_case(system, staff, login, identity)
    dewi, agus = login("dewi.irban"), login("agus.inspektur")
    replies: list[bytes] = []

    # an officer who is not an investigator cannot file; the attempt is kept by the vault
    penelaah = file_request(system, login("sari.penelaah"), case_id)
    assert penelaah.status_code == 403 and error_code(penelaah) == "forbidden"
    bad_basis = file_request(system, dewi, case_id, legal_basis="rasa_ingin_tahu")
    assert bad_basis.status_code == 400 and "legal_basis" in bad_basis.json()["error"]["fields"]

    filed = file_request(system, dewi, case_id)
    assert filed.status_code == 201, filed.text
    request_id = filed.json()["request_id"]
    assert filed.json()["status"] == "pending" and filed.json()["case_id"] == case_id
    replies.append(filed.content)

    # a wrong one-time code: refused, and the vault records the attempt without a step-up
    wrong = act(system, agus, request_id, "approve", {"totp": "000000"})
    assert wrong.status_code == 403 and error_code(wrong) == "totp_invalid"
    approved = act(system, agus, request_id, "approve", {"totp": fresh_totp("agus.inspektur")})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["view_until"]
    replies.append(approved.content)
    again = act(system, login("wati.inspektur"), request_id, "approve", {"totp": fresh_totp("wati.inspektur")})
    assert again.status_code == 409 and error_code(again) == "already_decided"

    # only the requester views, once, and only their client's key opens it
    key, public_key = client_key()
    other = act(system, agus, request_id, "view", {"public_key": public_key})
    assert other.status_code == 403 and error_code(other) == "not_requester"
    seen = act(system, dewi, request_id, "view", {"public_key": public_key})
    assert seen.status_code == 200, seen.text
    sealed = base64.b64decode(seen.json()["sealed_identity"])
    assert json.loads(SealedBox(key).decrypt(sealed)) == identity
    second = act(system, dewi, request_id, "view", {"public_key": client_key()[1]})
    assert second.status_code == 409 and error_code(second) == "already_viewed"
    replies += [other.content, second.content, again.content, wrong.content]

    topics = [e["topic"] for e in vault_events(system, request_id)]
    assert topics == ["Requested", "AttemptRefused", "Approved", "AttemptRefused", "AttemptRefused", "Viewed",
                      "AttemptRefused"]
    codes = [e["code"] for e in vault_events(system, request_id) if e["topic"] == "AttemptRefused"]
    assert codes == ["step_up_required", "already_decided", "not_requester", "already_viewed"]

    # the auditor (with a grant) and the tenant's inspektur see the trail, never the identity
    auditor = login("rina.auditor")
    url = system.url("cases") + "/api/v1/disclosure-events"
    assert requests.get(url, params={"tenant": "35.07"}, headers=auditor, timeout=10).status_code == 403
    assert requests.get(url, params={"tenant": "35.73"}, headers=dewi, timeout=10).status_code == 403
    grant = post(system, login("prov.admin"), "/api/v1/audit-grants",
                 {"officer_id": staff["rina.auditor"]["id"], "tenant": "35.73", "days": 7,
                  "reason": "Pemeriksaan pengungkapan identitas"})
    assert grant.status_code == 201
    trail = requests.get(url, params={"tenant": "35.73"}, headers=auditor, timeout=10)
    assert trail.status_code == 200, trail.text
    mine = [e for e in trail.json()["events"] if e["request_id"] == request_id]
    assert [e["type"] for e in mine] == ["requested", "attempt_refused", "approved", "attempt_refused",
                                         "attempt_refused", "viewed", "attempt_refused"]
    assert mine[0]["legal_basis"] == "lpsk_protection" and mine[0]["reason"] == REASON
    assert mine[0]["by"]["officer_id"] == staff["dewi.irban"]["id"]
    assert mine[2]["by"]["officer_id"] == staff["agus.inspektur"]["id"]
    # the penelaah's attempt was refused by cases' need-to-know rule (and logged there): it never reached the vault
    assert not any(e["type"] == "attempt_refused" and e["action"] == "request" and e["case_id"] == case_id
                   for e in trail.json()["events"])
    assert "reporter_ref" not in trail.text
    inspektur = requests.get(url, params={"tenant": "35.73"}, headers=agus, timeout=10)
    assert inspektur.status_code == 200 and request_id in inspektur.text
    replies += [trail.content, inspektur.content]

    # the marker went in (so the search below can find it) ...
    with admin_connect(system, "cases") as conn:
        reporter_ref = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb ->> 'reporter_ref' FROM peluit.cases_events "
            "WHERE originator_id = %s AND originator_version = 1", (case_id,)).fetchone()[0]
    assert reporter_ref and reporter_ref not in trail.text
    # ... and is nowhere in clear: not on the broker, not in any database (the
    # vault's included), log or reply other than the sealed box
    places: dict[str, bytes] = {}
    for service in SERVICES:
        places[f"database {service}"] = table_dump(system, service)
        places[f"log {service}"] = (system.log_dir / f"{service}.log").read_bytes()
    places["broker messages"] = b"\n".join(system.tap.drain())
    places["http replies"] = b"\n".join(replies)
    assert len(places["broker messages"]) > 1000
    assert any(seen.json()["sealed_identity"].encode() in m for m in system.tap.seen)  # the box did cross, sealed
    hits = [(place, needle) for needle in (marker,) for place, blob in places.items()
            for pattern in encodings(needle) if pattern in blob]
    assert hits == []


def test_self_approval_is_refused(system, staff, login, fresh_totp):
    case_id = team_case(system, staff, login, {"name": "Pelapor Satu"})
    hadi = login("hadi.kepala")  # investigator and inspektur at once
    filed = file_request(system, hadi, case_id)
    assert filed.status_code == 201, filed.text
    request_id = filed.json()["request_id"]
    own = act(system, hadi, request_id, "approve", {"totp": fresh_totp("hadi.kepala")})
    assert own.status_code == 403 and error_code(own) == "self_approval"
    own_refusal = act(system, hadi, request_id, "refuse", {"reason": "Ditarik kembali"})
    assert own_refusal.status_code == 403 and error_code(own_refusal) == "self_approval"
    view = act(system, hadi, request_id, "view", {"public_key": client_key()[1]})
    assert view.status_code == 409 and error_code(view) == "not_approved"
    # a second inspektur may refuse; afterwards nothing opens it
    refused = act(system, login("wati.inspektur"), request_id, "refuse", {"reason": "Dasar hukum belum terpenuhi"})
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    assert act(system, hadi, request_id, "view", {"public_key": client_key()[1]}).status_code == 409
    codes = [e["code"] for e in vault_events(system, request_id) if e["topic"] == "AttemptRefused"]
    assert codes == ["self_approval", "self_approval", "not_approved", "refused"]


def test_read_without_approval_is_refused(system, staff, login):
    case_id = team_case(system, staff, login, {"name": "Pelapor Dua"})
    dewi = login("dewi.irban")
    request_id = file_request(system, dewi, case_id).json()["request_id"]
    with admin_connect(system, "cases") as conn:  # as if filed before cases kept which case a request is about
        conn.execute("DELETE FROM peluit.disclosure_case WHERE request_id = %s", (request_id,))
    view = act(system, dewi, request_id, "view", {"public_key": client_key()[1]})
    assert view.status_code == 409 and error_code(view) == "not_approved"  # the vault's list told cases the case
    with admin_connect(system, "cases") as conn:
        assert conn.execute("SELECT case_id::text FROM peluit.disclosure_case WHERE request_id = %s",
                            (request_id,)).fetchone() == (case_id,)
    assert "sealed_identity" not in view.text
    assert act(system, dewi, str(uuid.uuid4()), "view", {"public_key": client_key()[1]}).status_code == 404
    assert act(system, dewi, "not-a-uuid", "view", {"public_key": client_key()[1]}).status_code == 404
    bad_key = act(system, dewi, request_id, "view", {"public_key": base64.b64encode(bytes(32)).decode()})
    assert bad_key.status_code == 400
    assert act(system, {}, request_id, "view", {"public_key": client_key()[1]}).status_code == 401
    assert [e["topic"] for e in vault_events(system, request_id)] == ["Requested", "AttemptRefused"]


def test_approval_from_another_tenant_is_refused(system, staff, login, fresh_totp):
    case_id = team_case(system, staff, login, {"name": "Pelapor Tiga"})
    request_id = file_request(system, login("dewi.irban"), case_id).json()["request_id"]
    budi = login("budi.kabmalang")  # inspektur of Kabupaten Malang, with a right code
    other = act(system, budi, request_id, "approve", {"totp": fresh_totp("budi.kabmalang")})
    # the case is not his to know of: its request is as missing as one that does not exist (logged by cases)
    missing = act(system, budi, str(uuid.uuid4()), "refuse", {"reason": "x"})
    assert other.status_code == 404 and other.json() == missing.json()
    assert act(system, budi, request_id, "refuse", {"reason": "x"}).status_code == 404
    # nor can it file for a case of another tenant: the case wall answers first (and logs it)
    assert file_request(system, login("budi.kabmalang"), case_id).status_code == 404
    assert [e["topic"] for e in vault_events(system, request_id)] == ["Requested"]  # nothing reached the vault


def test_an_anonymous_report_has_nothing_to_disclose(system, staff, login):
    case_id = team_case(system, staff, login, None)
    resp = file_request(system, login("dewi.irban"), case_id)
    assert resp.status_code == 422 and error_code(resp) == "anonymous"
    assert set(resp.json()["error"]["message"]) == {"id", "en"}


def test_openapi_lists_the_disclosure_endpoints(system):
    doc = requests.get(system.url("cases") + "/api/v1/openapi.json", timeout=10).json()
    for path in ("/api/v1/cases/{case_id}/disclosure-requests", "/api/v1/disclosure-requests/{request_id}/approve",
                 "/api/v1/disclosure-requests/{request_id}/refuse", "/api/v1/disclosure-requests/{request_id}/view",
                 "/api/v1/disclosure-events", "/api/v1/disclosure-requests"):
        assert path in doc["paths"]


def test_tenant_policy_tells_the_reporter_of_a_disclosure_request(system, staff, login):
    """With the tenant's disclosure notice on, the reporter reads of the request
    on the status page (legal basis only, never the officer's reason) and hears
    of it through the vault's contact relay; with it off, nothing is said."""
    marker = secrets.token_hex(10)
    address = f"n{marker}@example.id"
    dewi = login("dewi.irban")
    case_id, receipt = new_case(system, identity={"email": address, "name": f"Pelapor {marker}"})
    put_on_team(system, login("agus.inspektur"), case_id, [staff["dewi.irban"]["id"]])
    silent_case = team_case(system, staff, login, {"name": f"Diam {marker}"})

    def status_messages():
        resp = requests.post(system.url("intake") + "/api/v1/reports/status", json={"receipt": receipt}, timeout=15)
        assert resp.status_code == 200, resp.text
        return resp.json()["messages"]

    with admin_connect(system, "cases") as conn:
        # policy off (the default): the request is filed and the reporter is not told
        quiet = file_request(system, dewi, silent_case)
        assert quiet.status_code == 201 and quiet.json()["reporter_notified"] is False
        conn.execute("UPDATE peluit.tenant SET disclosure_notice = true WHERE code = '35.73'")
        conn.commit()
        try:
            filed = file_request(system, dewi, case_id, legal_basis="court_order")
        finally:
            conn.execute("UPDATE peluit.tenant SET disclosure_notice = false WHERE code = '35.73'")
            conn.commit()
    assert filed.status_code == 201, filed.text
    assert filed.json()["reporter_notified"] is True

    notices = [m for m in status_messages() if m["kind"] == "notice"]
    assert len(notices) == 1
    assert "perintah pengadilan" in notices[0]["text"] and "a court order" in notices[0]["text"]
    assert REASON not in notices[0]["text"]

    def delivered():
        box = mailbox.Maildir(str(system.mail_dir), create=False) if system.mail_dir.exists() else []
        return [m for m in box if m["To"] == address]

    mails = eventually(delivered, timeout=20)
    assert len(mails) == 1
    assert "tanda terima" in mails[0].get_payload(decode=True).decode()
    # the contact address stays in the vault and the mailbox only
    assert not any(marker.encode() in blob for blob in system.tap.drain())
    for service in ("cases", "notifications", "reporting"):  # intake has no database
        assert marker.encode() not in table_dump(system, service), service


BROWSER = "x25519-hkdf-sha256-aes-256-gcm"


def open_as_the_browser(key: X25519PrivateKey, reply: dict, request_id: str) -> bytes:
    """The console page's WebCrypto steps: X25519 bits with the ephemeral key, HKDF-SHA256 (salt: ephemeral key
    and own key, info peluit-disclosure-v1) to an AES-256-GCM key, decrypt bound to the request id."""
    ephemeral = base64.b64decode(reply["ephemeral_public_key"])
    salt = ephemeral + key.public_key().public_bytes_raw()
    aes_key = HKDF(hashes.SHA256(), 32, salt, b"peluit-disclosure-v1").derive(
        key.exchange(X25519PublicKey.from_public_bytes(ephemeral)))
    return AESGCM(aes_key).decrypt(base64.b64decode(reply["nonce"]), base64.b64decode(reply["ciphertext"]),
                                   request_id.encode())


def test_the_view_in_the_browser_format_opens_with_webcrypto_steps(system, staff, login, fresh_totp):
    marker = secrets.token_hex(12)
    identity = {"name": f"Saksi {marker}", "phone": "081234567890"}
    case_id = team_case(system, staff, login, identity)
    dewi = login("dewi.irban")
    request_id = file_request(system, dewi, case_id).json()["request_id"]
    assert act(system, login("agus.inspektur"), request_id, "approve",
               {"totp": fresh_totp("agus.inspektur")}).status_code == 200
    key = X25519PrivateKey.generate()
    public_key = base64.b64encode(key.public_key().public_bytes_raw()).decode()

    low_order = base64.b64encode((1).to_bytes(32, "little")).decode()  # anyone knows the secret it agrees
    refused = act(system, dewi, request_id, "view", {"public_key": low_order, "format": BROWSER})
    assert refused.status_code == 422 and error_code(refused) == "invalid_public_key"
    unknown = act(system, dewi, request_id, "view", {"public_key": public_key, "format": "rot13"})
    assert unknown.status_code == 400 and "format" in unknown.json()["error"]["fields"]

    seen = act(system, dewi, request_id, "view", {"public_key": public_key, "format": BROWSER})
    assert seen.status_code == 200, seen.text
    assert set(seen.json()) == {"request_id", "format", "ephemeral_public_key", "nonce", "ciphertext"}
    assert seen.json()["format"] == BROWSER
    assert json.loads(open_as_the_browser(key, seen.json(), request_id)) == identity
    again = act(system, dewi, request_id, "view", {"public_key": public_key, "format": BROWSER})
    assert again.status_code == 409 and error_code(again) == "already_viewed"
    codes = [e["code"] for e in vault_events(system, request_id) if e["topic"] == "AttemptRefused"]
    assert codes == ["invalid_public_key", "already_viewed"]
    assert hits_outside_the_vault(system, [marker], b"\n".join(r.content for r in (refused, seen, again))) == []


def test_disclosure_lists_show_each_officer_what_is_theirs(system, staff, login):
    case_id = team_case(system, staff, login, {"name": "Pelapor Daftar"})
    with admin_connect(system, "cases") as conn:
        number = conn.execute("SELECT registration_number FROM peluit.case_index WHERE case_id = %s",
                              (case_id,)).fetchone()[0]
    request_id = file_request(system, login("dewi.irban"), case_id).json()["request_id"]
    url = system.url("cases") + "/api/v1/disclosure-requests"

    def listed(who, **params):
        resp = requests.get(url, params=params, headers=login(who), timeout=15)
        assert resp.status_code == 200, resp.text
        assert "reporter_ref" not in resp.text and "Pelapor Daftar" not in resp.text
        return {item["request_id"]: item for item in resp.json()["items"]}

    seen = listed("agus.inspektur")[request_id]
    assert (seen["case_id"], seen["registration_number"], seen["status"], seen["reason"]) == (
        case_id, number, "pending", REASON)
    assert seen["requested_by"]["officer_id"] == staff["dewi.irban"]["id"] and seen["subject"] == "identity"
    own = listed("dewi.irban")
    assert request_id in own and all("reason" not in item for item in own.values())
    assert all(item["requested_by"]["officer_id"] == staff["dewi.irban"]["id"] for item in own.values())
    assert request_id not in listed("hadi.kepala", mine="true") and request_id in listed("hadi.kepala")
    assert request_id not in listed("agus.inspektur", status="approved")
    assert request_id not in listed("budi.kabmalang")  # its own tenant's list

    for who, params in (("budi.kabmalang", {"tenant": "35.73"}), ("sari.penelaah", {}),
                        ("rina.auditor", {"tenant": "35.07"})):  # no grant for that tenant
        refused = requests.get(url, params=params, headers=login(who), timeout=15)
        assert refused.status_code == 403 and error_code(refused) == "forbidden", who
    grant = post(system, login("prov.admin"), "/api/v1/audit-grants",
                 {"officer_id": staff["rina.auditor"]["id"], "tenant": "35.73", "days": 7,
                  "reason": "Pemeriksaan daftar pengungkapan"})
    assert grant.status_code == 201
    assert listed("rina.auditor", tenant="35.73")[request_id]["reason"] == REASON
