"""Integration stream benchmark (part m of ``make bench``): figures, never assertions.

(i)  outbox -> stream: the cases relay (``relay_once``) drains a notification
     log of closed cases with sanctions into a real RabbitMQ stream, with
     publisher confirms: integration events/s (and all envelopes/s), beside
     the limit it chases, a raw confirmed publish of the same bodies;
(ii) a late subscriber replays the stream from offset 0, parsing each message
     with the CloudEvents SDK and Peluit's contract: events/s, beside the raw
     stream read (bytes only) on the same stream.

Own throwaway database and vhost; ``.venv/bin/python -m peluit_local.bench_stream``
(``PELUIT_BENCH_RUNS`` runs each, ``PELUIT_BENCH_STREAM_CASES`` cases, default 400).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import date

import psycopg
from cloudevents.core.bindings import rabbitmq
from cloudevents.core.formats.json import JSONFormat
from psycopg_pool import ConnectionPool

from peluit_cases import catalogue, envelope_log
from peluit_cases.application import CasesApplication
from peluit_common.keyring import Keyring
from peluit_cases.relay import relay_once
from peluit_common.amqp import ConfirmedPublisher, declare_topology
from peluit_common.streams import declare_stream, read_stream
from peluit_common.testing import dsn_for, eventsourcing_env_for, throwaway_database, throwaway_vhost
from peluit_contracts.events import INTEGRATION_TYPES, load_envelope
from peluit_contracts.integration import CLOUDEVENTS_CONTENT_TYPE, STREAM

RUNS = int(os.environ.get("PELUIT_BENCH_RUNS", "3"))
CASES = int(os.environ.get("PELUIT_BENCH_STREAM_CASES", "400"))
PENELAAH = {"officer_id": "o-p", "username": "p", "roles": ["penelaah"], "tenant": "35.73"}
INSPEKTUR = {"officer_id": "o-i", "username": "i", "roles": ["inspektur"], "tenant": "35.73"}
IRBAN = {"officer_id": "o-irban", "username": "d", "roles": ["investigator"], "tenant": "35.73"}
WORKFLOW = [
    ("start_verification", PENELAAH, {}), ("accept", PENELAAH, {}),
    ("start_investigation", INSPEKTUR, {"team": ["o-irban"], "plan": "p", "due_on": date(2027, 1, 31)}),
    ("record_findings", IRBAN, {"outcome": "terbukti", "summary": "s", "recommendations": [
        {"kind": "sanksi_disiplin", "sanction": {"level": "sedang", "type": "pemotongan_tukin_25_persen",
                                                 "months": 6}}]}),
    ("complete_recommendation", INSPEKTUR, {"recommendation_id": "R1", "note": "SK terbit"}),
    ("close", INSPEKTUR, {"reason": "Tuntas", "feedback": "Terima kasih."}),
]


def _command(n: int) -> dict:
    import hashlib

    h = lambda s: hashlib.sha256(f"{s}-{n}".encode()).hexdigest()  # noqa: E731
    return {"version": 1, "submission_id": h("sub"), "fingerprint": h("fp"), "receipt_hash": h("rcpt"),
            "tenant": "35.73", "category": "korupsi", "channel": "web", "reporter_ref": None, "anonymous": True,
            "report": {"what": "Dana hibah dipotong", "where": "Dinas Sosial", "when": "Oktober 2026"}}


def build_log(app) -> None:
    for n in range(CASES):
        case_id = app.register_report(_command(n)).case_id
        for name, actor, args in WORKFLOW:
            case = app.get_case(case_id)
            app.execute(case_id, case.version, name, actor, **args)


def one_run(dbname: str, uri: str) -> dict:
    with psycopg.connect(dsn_for(dbname), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA peluit")
    app = CasesApplication(env=eventsourcing_env_for(dbname, schema="peluit"),
                           content_keyring=Keyring([os.urandom(32)]))  # the throwaway store's own KEK
    try:
        with ConnectionPool(f"{dsn_for(dbname)} options='-c search_path=peluit'", min_size=1, max_size=2) as pool:
            with pool.connection() as conn:
                catalogue.migrate(conn)
                envelope_log.migrate(conn)
            build_log(app)
            while envelope_log.follow_once(pool, app) > 0:  # kept, as in the service: the relay reads, not derives
                pass
            declare_topology(uri, delays=())
            declare_stream(uri)
            publisher = ConfirmedPublisher(uri)
            envelopes = len(app.domain_events(after=0, limit=10**6)["events"])
            t0 = time.perf_counter()
            while relay_once(pool, app, publisher) > 0:
                pass
            relay_s = time.perf_counter() - t0
    finally:
        app.close()
    t0 = time.perf_counter()
    raw = [m.body for m in read_stream(uri, 0, idle_timeout=0.5)]
    raw_s = time.perf_counter() - t0 - 0.5
    integration = len(raw)
    t0 = time.perf_counter()
    for message in read_stream(uri, 0, idle_timeout=0.5):
        event = rabbitmq.from_rabbitmq(rabbitmq.RabbitMQMessage({}, message.content_type, message.body), JSONFormat())
        load_envelope(json.loads(message.body))
        assert event.get_type() in INTEGRATION_TYPES
    replay_s = time.perf_counter() - t0 - 0.5
    publisher = ConfirmedPublisher(uri)
    t0 = time.perf_counter()
    for body in raw:  # the limit: the same bodies, confirmed one by one, to a plain queue
        publisher.publish(body, exchange_name="", routing_key=STREAM, content_type=CLOUDEVENTS_CONTENT_TYPE,
                          content_encoding="utf-8")
    publish_s = time.perf_counter() - t0
    return {"integration": integration, "envelopes": envelopes, "relay": integration / relay_s,
            "all": envelopes / relay_s, "publish": integration / publish_s, "replay": integration / replay_s,
            "raw": integration / raw_s}


def bench_stream(runs: int = RUNS) -> None:
    print(f"(m) integration stream: {CASES} closed cases with a sanction each ({runs} runs, medians)")
    results = []
    for _ in range(runs):
        with throwaway_database("pt_bench_stream") as dbname, throwaway_vhost("peluit-bench") as uri:
            results.append(one_run(dbname, uri))
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(f"    outbox -> stream: {med['relay']:,.0f} integration events/s ({med['integration']:.0f} events; "
          f"{med['all']:,.0f} envelopes/s of all {med['envelopes']:.0f}, internal ones to peluit.domain)")
    print(f"      limit: raw confirmed publish of the same bodies {med['publish']:,.0f} msg/s "
          f"(ratio {med['relay'] / med['publish']:.2f})")
    print(f"    late subscriber replay from offset 0 (CloudEvents SDK + contract): {med['replay']:,.0f} events/s")
    print(f"      beside the raw stream read (bytes only): {med['raw']:,.0f} events/s "
          f"(ratio {med['replay'] / med['raw']:.2f})")


if __name__ == "__main__":
    bench_stream()
