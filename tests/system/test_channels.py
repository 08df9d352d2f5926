"""The e-mail and WhatsApp channels against the running system.

E-mail: a mail sent with smtplib to intake's inbound SMTP port becomes a case
with channel "email" before the 250 comes back; the reply with the receipt
lands in the local mail sink and the receipt opens the status; a retried
delivery (same Message-ID) makes no second case. WhatsApp: a signed guided
conversation ends in a case with channel "whatsapp" and a receipt; unsigned
or wrongly signed calls are refused and change nothing; retried webhooks do
not advance the conversation. The sender address and the phone number appear
nowhere outside the vault (and not in clear inside it)."""

from __future__ import annotations

import json
import mailbox
import re
import secrets
import time
from email.message import EmailMessage
from email.utils import make_msgid

import requests

from peluit_intake.whatsapp import sign
from peluit_local.testing import (admin_connect, count_cases, encodings, eventually, hits_outside_the_vault,
                                  smtp_client)

RECEIPT = re.compile(r"\b\d{4}-\d{4}-\d{4}-\d{4}\b")
NUMBER = re.compile(r"WBS/[\d.]+/\d{4}/\d{6}")
WEBHOOK = "/api/v1/channels/whatsapp/webhook"


# -- helpers ------------------------------------------------------------------------------

def case_row(system, number):
    with admin_connect(system, "cases") as conn:
        return eventually(lambda: conn.execute(
            "SELECT case_id, channel, category FROM peluit.case_index WHERE registration_number = %s",
            (number,)).fetchone())


def status(system, receipt):
    return requests.post(system.url("intake") + "/api/v1/reports/status", json={"receipt": receipt}, timeout=15)


def travelled(system, number) -> bool:
    """The case reached notifications (over the broker) and reporting (over the log)."""
    with admin_connect(system, "notifications") as conn:
        notified = eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.officer_notification WHERE registration_number = %s",
            (number,)).fetchone()[0] == 1)
    with admin_connect(system, "reporting") as conn:
        reported = eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.case_summary WHERE registration_number = %s", (number,)).fetchone()[0])
    return bool(notified and reported)


def wait_for_vault_row(system, case_id):
    with admin_connect(system, "identity-vault") as conn:
        return eventually(lambda: conn.execute(
            "SELECT count(*) FROM peluit.reporter WHERE case_id = %s", (case_id,)).fetchone()[0], timeout=20)


# -- e-mail -------------------------------------------------------------------------------

def delivered_to(system, address):
    if not system.mail_dir.exists():
        return []
    return [m for m in mailbox.Maildir(str(system.mail_dir), create=False) if m["To"] == address]


def test_a_mail_becomes_a_case_and_the_reply_carries_the_receipt(system, login):
    marker = secrets.token_hex(8)
    address = f"m{marker}@example.id"
    msg = EmailMessage()
    msg["From"] = f"Pelapor {marker} <{address}>"
    msg["To"] = "wbs+35.73@peluit.invalid"
    msg["Subject"] = "[pungli] Pungutan liar di loket KTP"
    msg["Message-ID"] = make_msgid(domain="example.id")
    msg.set_content("Petugas loket meminta uang Rp 100.000 agar KTP cepat selesai.\n"
                    "Di mana: Kantor Kecamatan Klojen\n")
    before = count_cases(system)

    with smtp_client(system) as client:
        assert client.send_message(msg) == {}  # 250: the case is durable
    assert count_cases(system) == before + 1

    replies = delivered_to(system, address)  # sent before the 250
    assert len(replies) == 1
    body = replies[0].get_payload(decode=True).decode()
    number, receipt = NUMBER.search(body).group(0), RECEIPT.search(body).group(0)
    assert "Tanda terima" in body and "Receipt" in body and "Rp 100.000" not in body
    case_id, channel, category = case_row(system, number)
    assert (channel, category) == ("email", "pungli")
    view = status(system, receipt)
    assert view.status_code == 200 and view.json()["registration_number"] == number

    document = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=login("sari.penelaah"),
                            timeout=10).json()
    assert document["channel"] == "email" and not document["anonymous"]
    assert document["report"]["where"] == "Kantor Kecamatan Klojen"
    assert document["report"]["when"] == "tidak disebutkan / not stated"
    assert document["report"]["what"].startswith("Pungutan liar di loket KTP")
    assert wait_for_vault_row(system, case_id) == 1

    # the sending server retries the same message: no second case, the same receipt again
    with smtp_client(system) as client:
        assert client.send_message(msg) == {}
    assert count_cases(system) == before + 1
    again = delivered_to(system, address)
    assert len(again) == 2
    assert {RECEIPT.search(m.get_payload(decode=True).decode()).group(0) for m in again} == {receipt}

    # another WBS address of an unknown tenant, and a stranger's domain: refused at RCPT
    with smtp_client(system) as client:
        client.ehlo("test")
        assert client.mail(address)[0] == 250
        assert client.rcpt("wbs+99.99@peluit.invalid")[0] == 250  # syntax fine; the catalogue decides
        code, _ = client.data(msg.as_bytes())
        assert code == 550
        client.rset()
        client.mail(address)
        assert client.rcpt("postmaster@example.org")[0] == 550
    assert count_cases(system) == before + 1

    # the address and the display name: nowhere outside the vault
    assert travelled(system, number)
    assert hits_outside_the_vault(system, [marker, address], replies=view.content) == []
    assert any(p in again[0].as_bytes() for p in encodings(address))  # sanity: the search does find it


# -- WhatsApp -----------------------------------------------------------------------------

def app_secret(system) -> bytes:
    return (system.keys_dir / "intake" / "whatsapp-app-secret.key").read_text().strip().encode()


def notification(phone, text, mid=None):
    mid = mid or "wamid." + secrets.token_urlsafe(24)
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Pelapor"}, "wa_id": phone}],
            "messages": [{"from": phone, "id": mid, "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": text}}]}}]}]}


def post(system, payload, secret=None, signature=None, unsigned=False):
    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if not unsigned:
        headers["X-Hub-Signature-256"] = signature or sign(secret or app_secret(system), raw)
    return requests.post(system.url("intake") + WEBHOOK, data=raw, headers=headers, timeout=30)


def menu_number(text, needle):
    line = next(line for line in text.splitlines() if needle in line)
    return line.split(".", 1)[0]


def test_a_signed_whatsapp_conversation_ends_in_a_case_and_a_receipt(system):
    phone = "628" + "".join(secrets.choice("0123456789") for _ in range(10))
    token = (system.keys_dir / "intake" / "whatsapp-verify-token.key").read_text().strip()
    url = system.url("intake") + WEBHOOK
    ok = requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "8812"},
                      timeout=10)
    assert ok.status_code == 200 and ok.text == "8812"
    assert requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
                        timeout=10).status_code == 403

    before = count_cases(system)

    def say(text, mid=None):
        resp = post(system, notification(phone, text, mid))
        assert resp.status_code == 200, resp.text
        out = resp.json()["outbound"]
        assert all(m["to"] == phone for m in out)
        return [m["text"] for m in out]

    greeting = say("Halo, saya mau lapor")
    tenant = menu_number(greeting[-1], "(35.73)")
    categories = say(tenant)[-1]
    assert "Pungutan liar" in categories
    assert "Apa yang terjadi" in say(menu_number(categories, "Pungutan liar"))[0]

    # refused calls change nothing: a forged "BATAL" does not cancel the conversation
    forged = notification(phone, "BATAL")
    assert post(system, forged, unsigned=True).status_code == 401
    assert post(system, forged, secret=b"not the app secret").status_code == 403
    raw = json.dumps(forged).encode()
    tampered = post(system, {**forged, "object": "whatsapp_business_account "}, signature=sign(app_secret(system), raw))
    assert tampered.status_code == 403 and "outbound" not in tampered.json()

    what_id = "wamid." + secrets.token_urlsafe(24)
    assert "Di mana" in say("Petugas kecamatan meminta uang pelicin Rp 100.000", what_id)[0]
    assert say("Petugas kecamatan meminta uang pelicin Rp 100.000", what_id) == []  # Meta's retry: no step
    assert "Kapan" in say("Kantor Kecamatan Klojen")[0]
    assert "Siapa" in say("Minggu lalu")[0]
    summary = say("-")
    assert "Inspektorat Kota Malang" in summary[0]
    yes_id = "wamid." + secrets.token_urlsafe(24)
    final = say("YA", yes_id)[-1]
    number, receipt = NUMBER.search(final).group(0), RECEIPT.search(final).group(0)
    assert count_cases(system) == before + 1
    assert say("YA", yes_id) == []  # retried webhook: no second case
    assert count_cases(system) == before + 1

    case_id, channel, category = case_row(system, number)
    assert (channel, category) == ("whatsapp", "pungli")
    view = status(system, receipt)
    assert view.status_code == 200 and view.json()["registration_number"] == number
    assert wait_for_vault_row(system, case_id) == 1

    # a fresh conversation starts over after registration
    assert "Pilih Inspektorat" in say("halo lagi")[-1]
    assert say("BATAL") == ["Laporan dibatalkan; tidak ada yang disimpan. / Report cancelled; nothing was stored."]
    assert count_cases(system) == before + 1

    # the phone number: nowhere outside the vault (the webhook's record-mode
    # replies are the faked WhatsApp API itself and are not searched)
    assert travelled(system, number)
    assert hits_outside_the_vault(system, [phone], replies=view.content) == []
