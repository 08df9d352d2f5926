"""The ``store_identity`` RPC on the real PostgreSQL: an identity sealed at
intake is unsealed, validated and stored only as ciphertext, once per
submission, under the case id cases derives; a bad command, a box for
another key or a box that holds no identity is refused without detail."""

from __future__ import annotations

import base64
import json
import secrets

from peluit_contracts.reports import STORE_IDENTITY_VERSION, case_id_for
from peluit_vault import identities
from peluit_vault.crypto import generate_keypair, seal
from peluit_vault.keyring import Keyring

KEK = Keyring([secrets.token_bytes(32)])
PRIVATE, PUBLIC = generate_keypair()


def command(identity: dict | bytes, public_key: bytes = PUBLIC, **overrides) -> dict:
    plain = identity if isinstance(identity, bytes) else json.dumps(identity).encode()
    out = {"version": STORE_IDENTITY_VERSION, "submission_id": secrets.token_hex(32), "tenant": "35.73",
           "sealed_identity": base64.b64encode(seal(public_key, plain)).decode()}
    out.update(overrides)
    return out


def test_the_rpc_unseals_validates_and_stores_only_ciphertext_once_per_submission(conn, inspect, canaries):
    marker = canaries.new()
    identity = {"name": f"Siti {marker}", "email": f"{marker.lower()}@example.id"}
    cmd = command(identity)
    out = identities.accept(conn, KEK, PRIVATE, cmd)
    assert set(out) == {"reporter_ref"} and len(out["reporter_ref"]) >= 20
    assert identities.accept(conn, KEK, PRIVATE, {**cmd, "sealed_identity": command(identity)["sealed_identity"]}) \
        == out  # a retry seals anew: same submission, same reference
    rows = inspect.execute("SELECT reporter_ref, case_id, tenant, t::text FROM reporter t WHERE submission_id = %s",
                           (cmd["submission_id"],)).fetchall()
    assert [r[:3] for r in rows] == [(out["reporter_ref"], case_id_for(cmd["submission_id"]), "35.73")]
    assert marker not in rows[0][3] and marker.lower() not in rows[0][3]
    assert json.loads(identities.read_identity(conn, KEK, out["reporter_ref"])) == identity
    assert identities.reporter_of_case(conn, str(case_id_for(cmd["submission_id"]))) == out["reporter_ref"]
    # the case it was registered for, which a disclosure request must name (disclosure.rpc)
    assert identities.case_of(conn, out["reporter_ref"]) == str(case_id_for(cmd["submission_id"]))
    assert identities.case_of(conn, "x" * 32) is None


def test_bad_commands_and_boxes_are_refused_without_detail(conn, inspect):
    before = inspect.execute("SELECT count(*) FROM reporter").fetchone()[0]
    good = {"name": "Budi"}
    assert identities.accept(conn, KEK, PRIVATE, None) == {"error": "invalid_command"}
    assert identities.accept(conn, KEK, PRIVATE, command(good, submission_id="x" * 64)) == {"error": "invalid_command"}
    assert identities.accept(conn, KEK, PRIVATE, command(good, sealed_identity="!!")) == {"error": "invalid_command"}
    assert identities.accept(conn, KEK, PRIVATE, command(good, public_key=generate_keypair()[1])) == {
        "error": "invalid_sealed_identity"}
    for not_an_identity in (b"not json", json.dumps({}).encode(), json.dumps({"nik": "123"}).encode(),
                            json.dumps({"name": "Budi", "role": "admin"}).encode()):
        assert identities.accept(conn, KEK, PRIVATE, command(not_an_identity)) == {"error": "invalid_sealed_identity"}
    assert inspect.execute("SELECT count(*) FROM reporter").fetchone()[0] == before


def test_privacy_no_identity_marker_anywhere_in_the_database(inspect, canaries):
    canaries.assert_absent(inspect, {"reporter", "vault_audit"})
