"""The broker permissions provisioning gives each service (peluit_local.broker),
checked against the names nameko and peluit_common.amqp really use. RabbitMQ
matches them as PCRE; these patterns use nothing Python's ``re`` reads otherwise.
The broker's own refusals are proved in tests/system/test_broker_walls.py."""

from __future__ import annotations

import re
import uuid

from nameko.rpc import RPC_QUEUE_TEMPLATE, RPC_REPLY_QUEUE_TEMPLATE

from peluit_contracts.topology import RELIABLE_QUEUES, VAULT_CASE_EVENTS, rpc_dead_letter_queue
from peluit_local import broker

REPLY = str(uuid.uuid4())


def allowed(pattern: str, name: str) -> bool:
    return re.search(pattern, name) is not None


def test_intake_publishes_only_the_rpc_methods_it_calls_and_reads_only_its_replies():
    intake = broker.BY_SERVICE["intake"]
    perms, topics = intake.permissions(), intake.topic_permissions()
    rpc = topics[broker.RPC_EXCHANGE]
    assert allowed(rpc["write"], "identity_vault.store_identity")
    assert allowed(rpc["write"], "cases.register_report")
    for forbidden in ("identity_vault.request_disclosure", "identity_vault.view_disclosure", "cases.domain_events",
                      "identity_vault.store_identity.x", REPLY):
        assert not allowed(rpc["write"], forbidden), forbidden
    assert allowed(rpc["read"], REPLY)
    for sniff in ("#", "identity_vault.*", "cases.*", "*.*"):
        assert not allowed(rpc["read"], sniff), sniff
    own_reply = RPC_REPLY_QUEUE_TEMPLATE.format("intake", REPLY)
    assert allowed(perms["read"], own_reply) and allowed(perms["configure"], own_reply)
    for other in ("cases", "identity_vault", "reporting"):
        for queue in (RPC_QUEUE_TEMPLATE.format(other), RPC_REPLY_QUEUE_TEMPLATE.format(other, REPLY)):
            assert not any(allowed(perms[p], queue) for p in ("configure", "write", "read")), queue
    for spec in RELIABLE_QUEUES:
        assert not any(allowed(perms[p], spec.name) for p in ("configure", "write", "read"))
    for exchange in ("peluit.domain", "peluit.integration", "amq.default", VAULT_CASE_EVENTS.retry_exchange):
        assert not allowed(perms["write"], exchange), exchange


def test_only_cases_publishes_domain_events():
    for access in broker.ACCESS:
        may = allowed(access.permissions()["write"], "peluit.domain")
        assert may == (access.service == "cases"), access.service


def test_each_consumer_owns_its_queues_and_binds_only_its_keys():
    for access in broker.ACCESS:
        perms, topics = access.permissions(), access.topic_permissions()
        for spec in RELIABLE_QUEUES:
            mine = spec in access.consumes
            for name in (spec.name, spec.retry_queue(200), spec.dead_letter_queue, spec.retry_exchange):
                assert allowed(perms["configure"], name) == mine, (access.service, name)
                assert allowed(perms["read"], name) == mine, (access.service, name)
            for key in spec.bindings:
                assert allowed(topics[spec.exchange]["read"], key) == mine, (access.service, key)
    vault = broker.BY_SERVICE["identity-vault"].topic_permissions()["peluit.domain"]["read"]
    assert not allowed(vault, "case.#")


def test_servers_bind_their_rpc_queue_and_answer_any_caller():
    for access in broker.ACCESS:
        topics = access.topic_permissions()[broker.RPC_EXCHANGE]
        assert allowed(topics["read"], f"{access.nameko_name}.*") == access.serves_rpc
        assert allowed(topics["write"], REPLY) == access.serves_rpc
        assert allowed(access.permissions()["read"], RPC_QUEUE_TEMPLATE.format(access.nameko_name)) == access.serves_rpc


def test_definitions_hash_passwords_and_declare_the_shared_topology():
    doc = broker.definitions("pfx", "vh", {a.service: f"secret-{a.service}" for a in broker.ACCESS}, admin_user="guest")
    assert "secret-" not in repr(doc)
    assert {u["name"] for u in doc["users"]} == {f"pfx-{a.service}" for a in broker.ACCESS}
    # cases' inbound queue (partner systems) and the integration stream, bound to every integration key
    assert {q["name"] for q in doc["queues"]} == {spec.name for spec in RELIABLE_QUEUES} | {
        "cases.inbound", "peluit.integration.stream"}
    assert {e["name"] for e in doc["exchanges"]} == {"peluit.domain", "peluit.integration", "peluit.inbound"}
    stream = next(q for q in doc["queues"] if q["name"] == "peluit.integration.stream")
    assert stream["arguments"]["x-queue-type"] == "stream" and stream["arguments"]["x-max-age"]
    assert {"source": "peluit.integration", "vhost": "vh", "destination": "peluit.integration.stream",
            "destination_type": "queue", "routing_key": "#", "arguments": {}} in doc["bindings"]


def test_the_management_api_path_posts_the_same_document_and_deletes_users_and_vhost():
    """Where the management plugin runs (compose, Kubernetes): a stand-in HTTP server records the calls."""
    import base64
    import http.server
    import json
    import threading

    calls = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _record(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            calls.append((self.command, self.path, self.headers["Authorization"], body))
            self.send_response(204)
            self.end_headers()

        do_POST = do_DELETE = _record

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://admin:p%40ss@127.0.0.1:{server.server_port}"
        doc = broker.definitions("peluit", "/", {a.service: "x" for a in broker.ACCESS})
        broker.apply(doc, admin_url=url)
        broker.remove("pt1", "peluit-test-1", admin_url=url)
    finally:
        server.shutdown()
    auth = "Basic " + base64.b64encode(b"admin:p@ss").decode()
    assert calls == [("POST", "/api/definitions", auth, doc),
                     ("POST", "/api/users/bulk-delete", auth, {"users": [f"pt1-{a.service}" for a in broker.ACCESS]}),
                     ("DELETE", "/api/vhosts/peluit-test-1", auth, None)]


def test_an_rpc_server_owns_its_parking_queue_and_exchange_and_nobody_elses():
    # the broker lets a queue name a dead-letter exchange only if its declarer may write to it
    for access in broker.ACCESS:
        perms = access.permissions()
        for other in broker.ACCESS:
            dead = rpc_dead_letter_queue(RPC_QUEUE_TEMPLATE.format(other.nameko_name))
            mine = other is access and access.serves_rpc
            for p in ("configure", "write", "read"):
                assert allowed(perms[p], dead) == mine, (access.service, dead, p)
