"""WhatsApp behind a load balancer that is not sticky: two intake instances,
the webhook calls of one conversation alternating between them, one of them
killed (kill -9) while it registers the report, Meta's retry on the other.
The report lands once, with every answer given on either instance; the
phone number and a draft left unfinished appear in clear in no database
(intake's sealed drafts included), log or broker message."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from peluit_intake.keys import IntakeKeys
from peluit_intake.whatsapp import sign
from peluit_intake.whatsapp_store import ConversationStore
from peluit_local import bootstrap
from peluit_local.testing import (_free_base_port, admin_connect, count_cases, eventually, hits_outside_the_vault,
                                  table_dump)

WEBHOOK = "/api/v1/channels/whatsapp/webhook"


@pytest.fixture
def second_intake(system):
    """One more intake process started by the harness's own ``start``: the same databases, broker
    user, keys and log file, its own ports."""
    twin = dataclasses.replace(system, base_port=_free_base_port(), processes={})
    twin.start("intake")
    twin.wait_ready("intake")
    yield twin
    twin.stop("intake")


def phone_number() -> str:
    return "628" + "".join(secrets.choice("0123456789") for _ in range(10))


def notification(phone: str, text: str, mid: str) -> dict:
    return {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp", "messages": [
            {"from": phone, "id": mid, "timestamp": str(int(time.time())), "type": "text",
             "text": {"body": text}}]}}]}]}


def webhook(instance, phone: str, text: str, mid: str | None = None) -> requests.Response:
    raw = json.dumps(notification(phone, text, mid or "wamid." + secrets.token_urlsafe(24))).encode()
    secret = (instance.keys_dir / "intake" / "whatsapp-app-secret.key").read_text().strip().encode()
    return requests.post(instance.url("intake") + WEBHOOK, data=raw, timeout=30,
                         headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, raw)})


def replies(resp: requests.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [m["text"] for m in resp.json()["outbound"]]


def choice(menu: str, needle: str) -> str:
    return next(line for line in menu.splitlines() if needle in line).split(".", 1)[0]


def cases_requests(system) -> int:
    """Requests in cases' RPC queue, waiting or handed to its (paused) consumer."""
    out = bootstrap.rabbitmqctl("list_queues", "-p", system.vhost, "name", "messages")
    return sum(int(n) for name, n in (line.split() for line in out.splitlines() if line.strip())
               if name == "rpc-cases")


def test_a_conversation_goes_on_across_two_instances_and_survives_losing_one(system, second_intake, login):
    a, b = system, second_intake
    phone, other = phone_number(), phone_number()
    marker = "Kanari" + secrets.token_hex(8)
    what = f"Pungutan liar {marker} saat pengurusan izin usaha"
    unfinished = "Draf" + secrets.token_hex(8) + " dana desa dipotong kepala seksi"
    before = count_cases(system)

    # one message on each instance in turn: each carries on where the other left off
    tenant = choice(replies(webhook(a, phone, "Halo, saya mau lapor"))[-1], "(35.73)")
    categories = replies(webhook(b, phone, tenant))[-1]
    assert "Pungutan liar" in categories
    assert "Apa yang terjadi" in replies(webhook(a, phone, choice(categories, "Pungutan liar")))[0]
    what_id = "wamid." + secrets.token_urlsafe(24)
    assert "Di mana" in replies(webhook(b, phone, what, what_id))[0]
    assert replies(webhook(a, phone, what, what_id)) == []  # Meta's retry to the other instance: no step
    assert "Kapan" in replies(webhook(a, phone, "Mal Pelayanan Publik Kota Malang"))[0]
    assert "Siapa" in replies(webhook(b, phone, "Senin pekan lalu"))[0]
    summary = replies(webhook(a, phone, "Kepala seksi perizinan"))
    assert "Inspektorat Kota Malang" in summary[0] and marker in summary[0]

    # another reporter leaves a draft unfinished (it stays sealed in intake's database)
    webhook(b, other, "Halo")
    webhook(a, other, tenant)
    webhook(b, other, choice(categories, "Korupsi"))
    webhook(a, other, unfinished)

    # at rest in intake: sealed drafts under hashed numbers, nothing in clear
    stored = table_dump(system, "intake")
    assert len(stored) > 0  # the rows are there
    for needle in (phone, other, marker, unfinished, "Mal Pelayanan", "Kepala seksi"):
        assert needle.encode() not in stored, needle
    key = IntakeKeys.derive(bytes.fromhex((system.keys_dir / "intake" / "intake-secret.key").read_text().strip()),
                            b"\0" * 32).whatsapp_state
    with admin_connect(system, "intake") as conn:
        senders = {r[0] for r in conn.execute("SELECT sender FROM peluit.whatsapp_conversation "
                                              "WHERE sealed IS NOT NULL").fetchall()}
    hashed = ConversationStore(None, key)
    assert {hashed.sender(phone), hashed.sender(other)} <= senders

    # the confirmation reaches B while cases is paused: B has sealed the identity and waits on cases;
    # then B is killed, as in a crash, and cases goes on
    yes_id = "wamid." + secrets.token_urlsafe(24)
    cases = system.processes["cases"]
    os.kill(cases.pid, signal.SIGSTOP)
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(webhook, b, phone, "YA", yes_id)
            assert eventually(lambda: cases_requests(system) >= 1, timeout=15), "B did not reach cases"
            b.kill("intake")
            with pytest.raises(requests.ConnectionError):
                pending.result(timeout=15)
    finally:
        os.kill(cases.pid, signal.SIGCONT)

    # Meta retries the same message; the balancer sends it to the instance still alive
    final = replies(webhook(a, phone, "YA", yes_id))
    number = next(word for word in final[0].split() if word.startswith("WBS/"))
    assert "Tanda terima" in final[0]
    assert replies(webhook(a, phone, "YA", yes_id)) == []  # and once more: nothing new
    time.sleep(2)  # whatever B left queued has been answered by now
    assert count_cases(system) == before + 1

    with admin_connect(system, "cases") as conn:
        case_id = eventually(lambda: conn.execute(
            "SELECT case_id FROM peluit.case_index WHERE registration_number = %s", (number,)).fetchone())[0]
    doc = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=login("sari.penelaah"), timeout=10)
    assert doc.status_code == 200, doc.text
    text = json.dumps(doc.json(), ensure_ascii=False)
    for part in (what, "Mal Pelayanan Publik Kota Malang", "Senin pekan lalu", "Kepala seksi perizinan"):
        assert part in text, part  # every answer, whichever instance took it
    assert doc.json()["channel"] == "whatsapp"
    with admin_connect(system, "identity-vault") as conn:
        assert eventually(lambda: conn.execute("SELECT count(*) FROM peluit.reporter WHERE case_id = %s",
                                               (case_id,)).fetchone()[0]) == 1

    # the conversation ended: a new message starts a new one (on the instance left)
    assert "Pilih Inspektorat" in replies(webhook(a, phone, "halo lagi"))[-1]

    assert hits_outside_the_vault(system, [phone, other, unfinished], replies=doc.content) == []
