"""A partner system (LAPOR!-style) files reports over the partner API: its own
revocable credential, the identity sealed by the partner, idempotent per
source reference, channel ``integration``; the privacy canary covers it."""

from __future__ import annotations

import secrets

import requests

from peluit_cases import partners
from peluit_contracts.partner import seal_identity
from peluit_local.testing import admin_connect, count_cases, eventually, hits_outside_the_vault, sample_report


def test_a_partner_report_is_registered_once_and_no_identity_leaks(system):
    name = f"lapor-{secrets.token_hex(3)}"
    with admin_connect(system, "cases") as conn:
        conn.execute("SET search_path = peluit")
        credential = partners.create(conn, name, ["35.73"])
    url, auth = system.url("intake") + "/api/v1/partner/reports", {"Authorization": f"Bearer {credential}"}
    vault_key = bytes.fromhex((system.keys_dir / "intake" / "vault-x25519.pub").read_text().strip())
    marker, clear_marker = secrets.token_hex(12), secrets.token_hex(12)
    report = {k: v for k, v in sample_report(tenant="35.73").items() if k != "identity"}
    body = {**report, "source_id": f"LAPOR-{marker[:6]}",
            "sealed_identity": seal_identity(vault_key, {"name": f"Pelapor {marker}", "email": f"{marker}@example.id"})}
    replies = []

    first = requests.post(url, json=body, headers=auth, timeout=30)
    replies.append(first.content)
    assert first.status_code == 201, first.text
    number = first.json()["registration_number"]
    assert first.json()["anonymous"] is False  # the vault opened the sealed identity and keeps it
    again = requests.post(url, json=body, headers=auth, timeout=30)
    replies.append(again.content)
    assert again.json()["registration_number"] == number and again.headers["Idempotent-Replayed"] == "true"

    before = count_cases(system)
    clear = requests.post(url, json={**report, "source_id": "LAPOR-clear", "identity": {"name": clear_marker}},
                          headers=auth, timeout=30)
    replies.append(clear.content)
    assert clear.status_code == 422 and clear.json()["error"]["code"] == "identity_in_clear"
    other = requests.post(url, json={**body, "source_id": "LAPOR-other", "tenant": "35.07"}, headers=auth, timeout=30)
    assert other.status_code == 403
    with admin_connect(system, "cases") as conn:
        row = eventually(lambda: conn.execute("SELECT channel FROM peluit.case_index WHERE registration_number = %s",
                                              (number,)).fetchone())
        assert row == ("integration",)
        conn.execute("SET search_path = peluit")
        assert partners.revoke(conn, name)
    assert count_cases(system) == before  # the refusals recorded nothing
    revoked = requests.post(url, json={**body, "source_id": "LAPOR-late"}, headers=auth, timeout=30)
    assert revoked.status_code == 401

    assert hits_outside_the_vault(system, [marker, clear_marker], b"\n".join(replies)) == []


def test_a_partner_report_over_the_broker_gets_its_registration_number_on_the_stream(system):
    import json

    from cloudevents.core.bindings import rabbitmq
    from cloudevents.core.v1.event import CloudEvent
    from kombu import Connection, Queue

    from peluit_common.streams import read_stream
    from peluit_local import stream_readers
    from peluit_local.testing import encodings, table_dump

    name = f"lapor-{secrets.token_hex(3)}"
    user = stream_readers.PARTNER_PREFIX + name
    uri = f"pyamqp://{user}:{stream_readers.add_partner(name, ['35.73'], system.vhost)}@127.0.0.1:5672/{system.vhost}"
    vault_key = bytes.fromhex((system.keys_dir / "intake" / "vault-x25519.pub").read_text().strip())
    marker, clear_marker = secrets.token_hex(12), secrets.token_hex(12)
    report = {k: v for k, v in sample_report(tenant="35.73").items() if k != "identity"}

    def publish(data: dict, event_id: str) -> None:
        event = CloudEvent({"id": event_id, "source": name, "type": "report.submitted", "dataversion": 1,
                            "datacontenttype": "application/json"}, data)
        message = rabbitmq.to_binary_event(event)
        with Connection(uri, transport_options={"confirm_publish": True}) as conn:
            conn.Producer().publish(message.body, exchange="peluit.inbound", routing_key="report.submitted.v1.35.73",
                                    headers=message.headers, content_type="application/json", user_id=user)

    try:
        sealed = seal_identity(vault_key, {"name": f"Pelapor {marker}"})
        publish({**report, "source_id": "BRK-1", "sealed_identity": sealed}, "e-1")
        publish({**report, "source_id": "BRK-1", "sealed_identity": sealed}, "e-1")  # sent twice: one case
        publish({**report, "source_id": "BRK-2", "identity": {"name": clear_marker}}, "e-2")

        def reply():
            for message in read_stream(uri, "first", idle_timeout=0.5):
                event = json.loads(message.body)
                if event["type"] == "report.status_changed" and event["data"]["source_id"] == "BRK-1":
                    return event["data"]
            return None

        answered = eventually(reply, timeout=30)
        assert answered and answered["status"] == "diterima" and answered["source_system"] == name
        with admin_connect(system, "cases") as conn:
            assert conn.execute("SELECT count(*) FROM peluit.case_index WHERE registration_number = %s",
                                (answered["registration_number"],)).fetchone() == (1,)
        with Connection(system.amqp_uri) as conn:
            dead = Queue("cases.inbound.dead", no_declare=True)(conn.channel())
            parked = eventually(lambda: dead.get(no_ack=True), timeout=15)
        assert parked.headers["x-peluit-reason"] == "identity_in_clear" and not parked.body
        # the identity in clear went through the broker once (the partner's mistake) and was kept nowhere
        places = [table_dump(system, s) for s in ("cases", "notifications", "reporting", "identity-vault")]
        places += [p.read_bytes() for p in system.log_dir.glob("*.log")]
        assert not [m for m in (marker, clear_marker) for p in encodings(m) for blob in places if p in blob]
    finally:
        stream_readers.revoke(name, partner=True)
