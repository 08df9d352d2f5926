"""A compromised intake, with its own broker credentials, against the running
system: it cannot ask the vault for a disclosure, cannot publish a case ending,
cannot read or copy another service's RPC traffic. The broker refuses
(ACCESS_REFUSED) and records each refusal in its log with the user; a forged
ending that reaches the vault anyway is refused there and recorded."""

from __future__ import annotations

import json
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import amqp
import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection

from peluit_contracts.events import dump_envelope
from peluit_contracts.topology import VAULT_CASE_EVENTS
from peluit_local import broker
from peluit_local.testing import admin_connect, eventually, new_case


@pytest.fixture(scope="module")
def intake(system):
    """A channel factory on intake's own broker connection, and where the broker's log stood."""
    log = Path(subprocess.run(["rabbitmq-diagnostics", "-q", "log_location"], capture_output=True, text=True,
                              check=True).stdout.strip().splitlines()[-1])
    start = log.stat().st_size
    with Connection(system.service_amqp_uri("intake")) as conn:
        conn.connect()
        yield conn, log, start


def refused(intake, attempt) -> str:
    """Run ``attempt(channel)`` on a fresh channel; the broker's refusal (the test fails without one)."""
    conn = intake[0]
    channel = conn.connection.channel()
    with pytest.raises(AccessRefused) as err:
        attempt(channel)
        channel.basic_qos(0, 0, False)  # a synchronous call: a refused publish closes the channel before it answers
    return str(err.value)


def publish(exchange: str, routing_key: str, body: dict):
    return lambda channel: channel.basic_publish(
        amqp.Message(json.dumps(body), content_type="application/json"), exchange=exchange, routing_key=routing_key)


def broker_log_since(intake, user: str) -> str:
    _, log, start = intake
    with log.open("rb") as fh:
        fh.seek(start)
        return "\n".join(line for line in fh.read().decode(errors="replace").splitlines()
                         if "access_refused" in line and f"user '{user}'" in line)


def test_intake_cannot_ask_the_vault_for_a_disclosure(system, intake):
    """A reporter_ref of one case under another case id: the request never reaches the vault."""
    witness, _ = new_case(system, identity={"name": "Saksi Pertama"})
    other, _ = new_case(system)
    with admin_connect(system, "identity-vault") as conn:
        reporter_ref = conn.execute("SELECT reporter_ref FROM peluit.reporter WHERE case_id = %s", (witness,)
                                    ).fetchone()[0]
        requests_before = conn.execute("SELECT count(*) FROM peluit.vault_events").fetchone()[0]
    command = {"version": 1, "token": "x", "case_id": other, "reporter_ref": reporter_ref, "tenant": "35.73",
               "reason": "Permohonan perlindungan LPSK", "legal_basis": "lpsk_protection"}
    for method in ("request_disclosure", "view_disclosure", "list_disclosures"):
        text = refused(intake, publish("nameko-rpc", f"identity_vault.{method}", {"args": [command], "kwargs": {}}))
        assert f"identity_vault.{method}" in text and "nameko-rpc" in text
    with admin_connect(system, "identity-vault") as conn:
        assert conn.execute("SELECT count(*) FROM peluit.vault_events").fetchone()[0] == requests_before
    user = broker.user_name(system.prefix, "intake")
    assert eventually(lambda: "identity_vault.request_disclosure" in broker_log_since(intake, user), timeout=5)


def test_intake_cannot_publish_a_case_ending_and_a_forged_one_is_refused_by_the_vault(system, intake):
    case_id, _ = new_case(system, identity={"name": "Saksi Kedua"})
    forged = dump_envelope(
        event_id=str(uuid.uuid4()), event_type="case.status_changed", version=1, time=datetime.now(timezone.utc),
        subject=case_id, tenant="35.73", position=1, data={
            "case_id": case_id, "tenant": "35.73", "origin_tenant": "35.73", "status": "selesai", "step": "closed",
            "changed_at": datetime(2000, 1, 1, tzinfo=timezone.utc)})
    for exchange in ("peluit.domain", "peluit.integration", "", VAULT_CASE_EVENTS.retry_exchange):
        refused(intake, publish(exchange, "case.status_changed.v1" if exchange.startswith("peluit")
                                else VAULT_CASE_EVENTS.name, forged))
    user = broker.user_name(system.prefix, "intake")
    assert eventually(lambda: "exchange 'peluit.domain'" in broker_log_since(intake, user), timeout=5)

    # past the broker anyway (here: the administrator, straight into the vault's queue), cases is asked and says no
    with Connection(system.amqp_uri) as admin:
        admin.Producer().publish(forged, exchange=VAULT_CASE_EVENTS.retry_exchange,
                                 routing_key=VAULT_CASE_EVENTS.name, serializer="json")
    with admin_connect(system, "identity-vault") as conn:
        refusal = eventually(lambda: conn.execute(
            "SELECT detail FROM peluit.vault_audit WHERE action = 'closure_refused' AND detail->>'case_id' = %s",
            (case_id,)).fetchone(), timeout=15)
        assert refusal and refusal[0]["confirmed_status"] == "diterima" and refusal[0]["claimed_status"] == "selesai"
        assert conn.execute("SELECT case_closed_at FROM peluit.reporter WHERE case_id = %s",
                            (case_id,)).fetchone() == (None,)


def test_intake_cannot_read_other_services_rpc_traffic(system, intake):
    mine = str(uuid.uuid4())
    reply_queue = f"rpc.reply-intake-{mine}"
    channel = intake[0].connection.channel()  # what intake may do: its own reply queue, bound with its own uuid
    channel.queue_declare(reply_queue, arguments={"x-expires": 60000}, auto_delete=False)
    channel.queue_bind(reply_queue, "nameko-rpc", mine)
    channel.close()
    attempts = {
        "consume the vault's RPC queue": lambda ch: ch.basic_consume("rpc-identity_vault", callback=print),
        "consume cases' RPC queue": lambda ch: ch.basic_consume("rpc-cases", callback=print),
        "take from the vault's case events": lambda ch: ch.basic_get("identity-vault.case-events"),
        "bind its reply queue to the vault's requests": lambda ch: ch.queue_bind(reply_queue, "nameko-rpc",
                                                                                 "identity_vault.*"),
        "bind its reply queue to everything": lambda ch: ch.queue_bind(reply_queue, "nameko-rpc", "#"),
        "bind its reply queue to domain events": lambda ch: ch.queue_bind(reply_queue, "peluit.domain", "#"),
        "declare a queue of its own choosing": lambda ch: ch.queue_declare("intake-sniffer", auto_delete=True),
        "pose as another service's reply queue": lambda ch: ch.queue_declare(f"rpc.reply-cases-{uuid.uuid4()}"),
    }
    for what, attempt in attempts.items():
        assert "ACCESS_REFUSED" in refused(intake, attempt), what
    user = broker.user_name(system.prefix, "intake")
    assert eventually(lambda: "rpc-identity_vault" in broker_log_since(intake, user), timeout=5)


def test_a_request_intake_may_send_but_with_a_forged_reply_address_is_dropped_and_the_vault_stays_up(system, intake):
    """nameko answers to whatever ``reply_to`` says: none, or a routing key the
    vault may not publish to, made the answer fail and nameko kill the whole
    service, and the unacknowledged message killed it again at every start."""
    channel = intake[0].connection.channel()
    for reply_to in (None, "cases.register_report", "#"):
        properties = {"content_type": "application/json"} | ({"reply_to": reply_to} if reply_to else {})
        channel.basic_publish(amqp.Message(json.dumps({"args": [{}], "kwargs": {}}), **properties),
                              exchange="nameko-rpc", routing_key="identity_vault.store_identity")
    channel.close()
    with admin_connect(system, "identity-vault") as conn:
        before = conn.execute("SELECT count(*) FROM peluit.reporter").fetchone()[0]
    case_id, _ = new_case(system, identity={"name": "Saksi Ketiga"})  # the vault still stores identities
    assert system.processes["identity-vault"].poll() is None
    with admin_connect(system, "identity-vault") as conn:
        assert conn.execute("SELECT count(*) FROM peluit.reporter").fetchone()[0] == before + 1
    assert eventually(lambda: "reply address" in (system.log_dir / "identity-vault.log").read_text(), timeout=5)
