"""The example subscribers under examples/ against the running system and its real broker."""

from __future__ import annotations

import json
import secrets

import pytest
import requests
from amqp.exceptions import AccessRefused
from cloudevents.core.bindings import rabbitmq
from kombu import Connection, Queue

from bkpsdm_follower.follower import State, answer, follow
from lapor_mirror import mirror as lapor
from peluit_cases import partners
from peluit_local import stream_readers
from peluit_local.testing import admin_connect, eventually, sample_report

from .test_officer_api import command, get, new_case


@pytest.fixture
def partner(system):
    made = []

    def make(tenant: str) -> tuple[str, str]:
        name = f"bkpsdm-{tenant.replace('.', '')}-{secrets.token_hex(3)}"
        password = stream_readers.add_partner(name, [tenant], system.vhost)
        made.append(name)
        user = stream_readers.PARTNER_PREFIX + name
        return user, f"pyamqp://{user}:{password}@127.0.0.1:5672/{system.vhost}"

    yield make
    for name in made:
        stream_readers.revoke(name, partner=True)


def sanctioned_case(system, staff, login) -> str:
    case_id, _ = new_case(system)
    sari, agus, dewi = login("sari.penelaah"), login("agus.inspektur"), login("dewi.irban")
    for who, name, body in [
        (sari, "start-verification", {}), (sari, "accept", {"note": "Lengkap"}),
        (agus, "start-investigation", {"team": [staff["dewi.irban"]["id"]], "plan": "p", "due_on": "2027-01-31"}),
        (dewi, "record-findings", {"outcome": "terbukti", "summary": "Terbukti", "recommendations": [
            {"kind": "sanksi_disiplin", "sanction": {"level": "sedang", "type": "pemotongan_tukin_25_persen",
                                                     "months": 6}}]}),
    ]:
        assert command(system, who, case_id, name, body, get(system, who, case_id).json()["version"]).status_code == 200
    return case_id


def test_a_bkpsdm_follower_answers_and_cases_shows_the_follow_up(system, staff, login, partner, tmp_path):
    case_id = sanctioned_case(system, staff, login)
    user, uri = partner("35.73")
    state = State(tmp_path / "state.json")
    agus = login("agus.inspektur")

    def followed():
        follow(uri, user, "35.73", state, idle_timeout=0.5)
        history = get(system, agus, case_id).json()["history"]
        return [h for h in history if h["kind"] == "sanction_followed_up"]

    steps = eventually(followed, timeout=30)
    assert steps and steps[0]["actor"] == {"system": user} and steps[0]["decision"] == "imposed"
    assert steps[0]["months"] == 6 and steps[0]["status"] == "tindak_lanjut"
    timeline = requests.get(f"{system.url('cases')}/api/v1/cases/{case_id}/timeline", headers=agus, timeout=10).json()
    assert timeline["events"][-1]["type"] == "Case.SanctionFollowedUp"
    # it resumes from its kept offset: nothing answered twice
    assert follow(uri, user, "35.73", State(tmp_path / "state.json"), idle_timeout=0.5) == 0

    # another tenant's BKPSDM cannot answer for 35.73: the broker refuses the routing key
    other_user, other_uri = partner("35.07")
    reply = rabbitmq.to_binary_event(answer(_recommended(uri, case_id), "bkpsdm/35.07"))
    with Connection(other_uri, transport_options={"confirm_publish": True}) as conn:
        with pytest.raises(AccessRefused):
            conn.Producer().publish(reply.body, exchange="peluit.inbound", routing_key="sanction.followed_up.v1.35.73",
                                    headers=reply.headers, content_type="application/json", user_id=other_user)

    # a follow-up for a recommendation that does not exist is parked with its reason; the case is unchanged
    version = get(system, agus, case_id).json()["version"]
    bad = rabbitmq.to_binary_event(answer(_recommended(uri, case_id, recommendation_id="R7"), "bkpsdm/35.73"))
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(bad.body, exchange="peluit.inbound", routing_key="sanction.followed_up.v1.35.73",
                                headers=bad.headers, content_type="application/json", user_id=user)
    with Connection(system.amqp_uri) as conn:
        dead = Queue("cases.inbound.dead", no_declare=True)(conn.channel())
        parked = eventually(lambda: dead.get(no_ack=True), timeout=15)
    assert parked.headers["x-peluit-reason"] == "unknown_recommendation"
    assert get(system, agus, case_id).json()["version"] == version


def _recommended(uri, case_id, **changes):
    """The v2 recommendation of ``case_id`` as read from the stream (with ``changes`` to its data)."""
    from cloudevents.core.formats.json import JSONFormat

    from peluit_common.streams import read_stream

    for message in read_stream(uri, "first", idle_timeout=0.5):
        body = json.loads(message.body)
        if body["type"] == "case.sanction_recommended" and body["dataversion"] == 2 and body["subject"] == case_id:
            body["data"].update(changes)
            return rabbitmq.from_rabbitmq(rabbitmq.RabbitMQMessage({}, message.content_type, json.dumps(body).encode()),
                                          JSONFormat())
    raise AssertionError("no recommendation on the stream")


def test_a_lapor_mirror_files_a_report_and_mirrors_the_status_of_its_cases(system, login, tmp_path):
    name = f"lapor-{secrets.token_hex(3)}"
    with admin_connect(system, "cases") as conn:
        conn.execute("SET search_path = peluit")
        credential = partners.create(conn, name, ["35.73"])
    password = stream_readers.add(name, system.vhost)
    uri = f"pyamqp://{stream_readers.user_name(name)}:{password}@127.0.0.1:5672/{system.vhost}"
    try:
        vault_key = bytes.fromhex((system.keys_dir / "intake" / "vault-x25519.pub").read_text().strip())
        report = {k: v for k, v in sample_report(tenant="35.73").items() if k != "identity"}
        filed = lapor.file_report(system.url("intake"), credential, vault_key, report, "LAPOR-77",
                                  identity={"name": "Rina Pelapor"})
        number = filed["registration_number"]
        with admin_connect(system, "cases") as conn:
            case_id = str(eventually(lambda: conn.execute(
                "SELECT case_id FROM peluit.case_index WHERE registration_number = %s", (number,)).fetchone())[0])
        sari = login("sari.penelaah")
        assert command(system, sari, case_id, "start-verification", {}, 1).status_code == 200

        mirror = lapor.Mirror(tmp_path / "lapor.json")

        def mirrored():
            lapor.follow(uri, name, mirror, idle_timeout=0.5)
            return mirror.cases.get("LAPOR-77", {}).get("status") == "verifikasi"

        assert eventually(mirrored, timeout=30), mirror.cases
        assert mirror.cases["LAPOR-77"]["registration_number"] == number
        assert set(mirror.cases) == {"LAPOR-77"}  # only its own cases
        resumed = lapor.Mirror(tmp_path / "lapor.json")
        assert resumed.next_offset == mirror.next_offset and lapor.follow(uri, name, resumed, idle_timeout=0.5) == 0
    finally:
        stream_readers.revoke(name)
