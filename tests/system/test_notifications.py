"""Officers' notifications across the real processes: an administrator gives
a penerima an address over the officer API; the local SMTP sink is stopped
during a burst of reports, notifications is killed (-9) and restarted while
the mail waits, the sink is started again; every new case reaches the
penerima exactly once, with its registration number and a console link (and
is in the penerima's list, read over the officer API), and
neither the reporter's identity nor the report's text appears in any mail,
database, log, metric or broker message."""

from __future__ import annotations

import secrets
import time
import signal
import uuid

import requests

from peluit_local.testing import (admin_connect, direct_officer, encodings, eventually, hits_outside_the_vault,
                                  officer_mail, sample_report, submit, table_dump)

BURST = 8


def test_smtp_down_during_a_burst_then_each_case_reaches_the_penerima_once(system):
    admin = direct_officer(system, "35.73", ["tenant_admin"], prefix="notif")
    penerima = direct_officer(system, "35.73", ["penerima"], prefix="notif")
    address = f"penerima.{secrets.token_hex(4)}@pemda.go.id"
    set_email = requests.post(f"{system.url('cases')}/api/v1/officers/{penerima['id']}/email",
                              json={"email": address}, headers=admin["headers"], timeout=10)
    assert set_email.status_code == 200 and set_email.json()["email"] == address
    mine = requests.get(system.url("cases") + "/api/v1/officer/me/notifications", headers=penerima["headers"],
                        timeout=10)
    assert {p["kind"]: p["mode"] for p in mine.json()["preferences"]}["case_new"] == "immediately"
    off = requests.post(system.url("cases") + "/api/v1/officer/me/notifications", headers=penerima["headers"],
                        json={"preferences": {"deadline_breached": "off"}}, timeout=10)
    assert off.status_code == 400 and "preferences.deadline_breached" in off.json()["error"]["fields"]

    sink = system.processes.pop("mail")  # the pemda's mail server goes down
    sink.send_signal(signal.SIGTERM)
    sink.wait(10)
    marker, text = secrets.token_hex(8), secrets.token_hex(8)  # in the identity; in the report's text
    numbers = []
    try:
        for _ in range(BURST):
            out = submit(system, sample_report(what=f"Laporan rahasia {text} tentang pungutan",
                                               identity={"name": f"Pelapor {marker}", "email": f"{marker}@example.id"}),
                         key=str(uuid.uuid4()))
            assert out.status_code == 201, out.text
            numbers.append(out.json()["registration_number"])
        with admin_connect(system, "notifications") as conn:
            failed = eventually(lambda: conn.execute(
                "SELECT count(*) FROM peluit.notification WHERE address = %s AND attempts > 0 AND status = 'pending'",
                (address,)).fetchone()[0] == BURST, timeout=30)
        assert failed  # every one was tried while the server was down, and waits
        system.kill("notifications")  # kill -9 with mail waiting in the outbox: a restart loses nothing
        system.start("notifications")
        system.wait_ready("notifications")
    finally:
        system.start_mail_sink()

    def arrived():
        return [m for m in officer_mail(system) if m["To"] == address]

    assert eventually(lambda: len(arrived()) >= BURST, timeout=30)
    time.sleep(2)  # a moment for any second copy to arrive
    mails = arrived()
    assert len(mails) == BURST and len({m["Message-ID"] for m in mails}) == BURST
    bodies = [m.get_payload(decode=True).decode() for m in mails]
    assert sorted(next(n for n in numbers if n in b) for b in bodies) == sorted(numbers)
    body = bodies[0]
    assert "Laporan baru masuk" in body and "New report received" in body and system.url("console") + "/kasus/" in body
    # the console's list: the penerima's own, over the officer API
    listed = requests.get(system.url("cases") + "/api/v1/officer/me/inbox", params={"unread": "true", "limit": 50},
                          headers=penerima["headers"], timeout=10).json()
    assert listed["unread"] == BURST and sorted(i["registration_number"] for i in listed["items"]) == sorted(numbers)
    read = requests.post(system.url("cases") + "/api/v1/officer/me/inbox/read", json={"all": True},
                         headers=penerima["headers"], timeout=10)
    assert read.json() == {"unread": 0}
    metrics = requests.get(system.ops_url("notifications") + "/metrics", timeout=5).text
    assert 'peluit_notifications_sent_total{channel="email",kind="case_new"}' in metrics
    assert 'peluit_notifications_delivery_lag_seconds_count{channel="email"}' in metrics  # (the failures were
    # counted by the process that was killed; the outbox rows above show them)
    # the report's text lives in cases (and crosses the broker from intake to cases by RPC): never in
    # notifications' tables, log or mail, nor in a domain event
    places = {"database": table_dump(system, "notifications"),
              "log": (system.log_dir / "notifications.log").read_bytes(),
              "mail": b"\n".join(m.as_bytes() for m in officer_mail(system))}
    seen = system.tap.drain()  # body, headers, properties of each message, in turn
    places["domain events on the broker"] = b"\n".join(
        seen[i] for i in range(0, len(seen) - 2, 3) if b"'exchange_name': 'peluit.domain'" in seen[i + 1])
    assert len(places["domain events on the broker"]) > 1000
    assert [p for p, blob in places.items() if any(pattern in blob for pattern in encodings(text))] == []
    assert hits_outside_the_vault(system, [marker, f"Pelapor {marker}"], ) == []


def test_a_reporter_with_only_a_phone_number_hears_by_whatsapp_through_the_vault(system, login):
    digits = "".join(secrets.choice("0123456789") for _ in range(8))
    out = submit(system, sample_report(identity={"phone": f"0812{digits}"}), key=str(uuid.uuid4())).json()
    with admin_connect(system, "cases") as conn:
        case_id = str(eventually(lambda: conn.execute("SELECT case_id FROM peluit.case_index WHERE "
                                                      "registration_number = %s", (out["registration_number"],)
                                                      ).fetchone())[0])
    sari = login("sari.penelaah")
    version = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}", headers=sari, timeout=10).json()["version"]
    sent = requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/message-reporter", timeout=15,
                         json={"text": "Mohon hubungi kami."}, headers={**sari, "If-Match": f'"{version}"'})
    assert sent.status_code == 200, sent.text
    with admin_connect(system, "notifications") as conn:
        assert eventually(lambda: conn.execute("SELECT outcome FROM peluit.reporter_notification WHERE case_id = %s",
                                               (case_id,)).fetchall() == [("sent",)], timeout=20)
    metrics = requests.get(system.ops_url("identity-vault") + "/metrics", timeout=5).text
    assert 'peluit_vault_relays_sent_total{channel="whatsapp"}' in metrics
    assert hits_outside_the_vault(system, [f"0812{digits}", f"62812{digits}"]) == []
