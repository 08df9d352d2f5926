"""The privacy canary: identity markers go in through every path intake has;
afterwards they appear nowhere outside the vault (and not in clear inside it):
no table of any database, no log line, no broker message, no metric, no reply."""

from __future__ import annotations

import secrets
import uuid

import requests

from peluit_local.testing import admin_connect, encodings, eventually, hits_outside_the_vault, sample_report, submit


def test_identity_never_appears_outside_the_vault_in_clear(system, login):
    marker = secrets.token_hex(12)
    nik = "35" + "".join(secrets.choice("0123456789") for _ in range(14))
    nip = "19" + "".join(secrets.choice("0123456789") for _ in range(16))
    phone = "+628" + "".join(secrets.choice("0123456789") for _ in range(10))
    identity = {"name": f"Canary {marker}", "email": f"c{marker}@example.id", "nik": nik, "nip": nip,
                "phone": phone, "address": f"Jalan {marker} No. 7, Malang"}
    needles = [marker, nik, nip, phone.lstrip("+")]

    replies: list[bytes] = []
    key = str(uuid.uuid4())
    first = submit(system, sample_report(identity=identity), key=key)
    assert first.status_code == 201
    again = submit(system, sample_report(identity=identity), key=key)  # the replay path
    assert again.json()["registration_number"] == first.json()["registration_number"]
    other = submit(system, sample_report(tenant="35.78", identity=identity))  # no key: random path
    assert other.status_code == 201
    replies += [first.content, again.content, other.content]
    # error paths must not echo what the reporter typed
    for bad in (
        {**identity, "email": f"{marker}-not-an-email"},
        {**identity, "nik": nik + "9"},
        {**identity, "phone": f"tel {marker}"},
        {**identity, "unexpected": marker},
    ):
        resp = submit(system, sample_report(identity=bad), key=str(uuid.uuid4()))
        assert resp.status_code == 400
        replies.append(resp.content)
    resp = submit(system, sample_report(tenant="99.99", identity=identity))
    assert resp.status_code == 422
    replies.append(resp.content)
    status = requests.post(system.url("intake") + "/api/v1/reports/status",
                           json={"receipt": first.json()["receipt"]}, timeout=10)
    assert status.status_code == 200
    replies.append(status.content)
    # assisted intake by a penerima: same sealing path, plus the printable slip
    assisted = requests.post(system.url("intake") + "/api/v1/assisted-reports?format=html",
                             json={**sample_report(), "channel": "phone", "identity": identity},
                             headers=login("tono.penerima"), timeout=15)
    assert assisted.status_code == 201
    replies.append(assisted.content)
    # what officers see of those cases: the list and each case document
    officer = login("sari.penelaah")
    listing = requests.get(system.url("cases") + "/api/v1/cases?per_page=100", headers=officer, timeout=10)
    replies.append(listing.content)
    for item in listing.json()["items"][:20]:
        replies.append(requests.get(f"{system.url('cases')}/api/v1/cases/{item['case_id']}", headers=officer,
                                    timeout=10).content)

    # the identity did reach the vault, sealed, once per submission
    with admin_connect(system, "identity-vault") as conn:
        assert conn.execute("SELECT count(*) FROM peluit.reporter").fetchone()[0] >= 2
    # and the case travelled on through the bus and the log
    number = first.json()["registration_number"]
    with admin_connect(system, "notifications") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.officer_notification WHERE registration_number = %s",
            (number,)).fetchone()[0] == 1)
    with admin_connect(system, "reporting") as conn:
        assert eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.case_summary WHERE registration_number = %s", (number,)).fetchone()[0])

    assert hits_outside_the_vault(system, needles, b"\n".join(replies)) == []

    # sanity: the search would have found it (the marker really was sent)
    assert any(p in first.request.body for p in encodings(marker))
