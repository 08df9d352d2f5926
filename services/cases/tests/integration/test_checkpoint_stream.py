"""Signed checkpoints go on the integration stream once each, and what a witness
keeps from there is a ``--since`` checkpoint the verifier accepts."""

from __future__ import annotations

import json

import pytest

from peluit_cases import audit, chain, checkpoint_stream
from peluit_common.amqp import ConfirmedPublisher, declare_topology
from peluit_common.streams import declare_stream, read_stream
from peluit_contracts.events import load_envelope
from peluit_verify.cli import main as verify

from ..support import NOW, PENELAAH, command
from .test_chain import app, connect, dbname, signer  # noqa: F401 - fixtures
from .test_envelope_log import pool  # noqa: F401 - fixtures


@pytest.fixture
def broker(amqp_vhost):
    declare_topology(amqp_vhost, delays=())
    declare_stream(amqp_vhost)
    return amqp_vhost


def checkpoints_on(uri) -> list[dict]:
    out = [json.loads(m.body) for m in read_stream(uri, "first", idle_timeout=0.5)]
    return [load_envelope(e) | {"raw": e} for e in out if e["type"] == "chain.checkpoint"]


def test_each_checkpoint_is_published_once_and_verifies_as_since(dbname, app, pool, broker, tmp_path):  # noqa: F811
    with connect(dbname) as conn:
        chain.migrate(conn)
        conn.execute("INSERT INTO tenant (code, name) VALUES ('35', 'Jawa Timur') ON CONFLICT DO NOTHING")
    with pool.connection() as conn:
        checkpoint_stream.migrate(conn)
    publisher = ConfirmedPublisher(broker)
    key = signer()
    case_id = app.register_report(command(1), now=NOW).case_id
    with connect(dbname) as conn:
        chain.register_key(conn, key)
        first = chain.checkpoint_once(conn, key)
    assert checkpoint_stream.publish_once(pool, publisher) == 1
    assert checkpoint_stream.publish_once(pool, publisher) == 0  # once each
    app.execute(case_id, 1, "start_verification", PENELAAH)
    with connect(dbname) as conn:
        second = chain.checkpoint_once(conn, key)
    assert checkpoint_stream.publish_once(pool, publisher) == 1

    published = checkpoints_on(broker)
    assert [c["position"] for c in published] == [first["position"], second["position"]]
    assert published[0]["id"] == f"checkpoint:{first['position']}" and published[0]["tenant"] == "35"
    with connect(dbname) as conn, conn.transaction():
        stored = audit.bundle(conn)["checkpoints"]
    assert [c["raw"]["data"] for c in published] == stored  # exactly what bundles carry and the key signed

    # a witness kept the first one: the verifier accepts the history that extends it
    bundle, since, pub = tmp_path / "log.json", tmp_path / "since.json", tmp_path / "checkpoint.pub"
    with connect(dbname) as conn, conn.transaction():
        bundle.write_text(json.dumps(audit.bundle(conn)))
    since.write_text(json.dumps(published[0]["raw"]))
    pub.write_text(key.public_key.hex())
    assert verify([str(bundle), "--public-key", str(pub), "--since", str(since)]) == 0
