"""The browser-openable sealing of the one view (``x25519-hkdf-sha256-aes-256-gcm``):
opened here the way the console's page opens it with WebCrypto (X25519, HKDF-SHA256,
AES-256-GCM, written against the ``cryptography`` library, not the vault's code);
refused for low-order keys before anything is consumed; the sealed box stays the default."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from uuid import UUID

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.public import PrivateKey, SealedBox

from peluit_contracts.disclosure import BROWSER_FORMAT, SEALED_BOX, ViewDisclosureCommand
from peluit_vault.crypto import seal_for_browser
from peluit_vault.disclosure import rpc as handlers

from ..support import AGUS, DEWI, ORIGINAL, approve, cmd, file

# X25519 points of small order (RFC 7748 section 6.1 and libsodium's blocklist), little-endian u-coordinates
LOW_ORDER = [bytes(32), (1).to_bytes(32, "little"),
             bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
             bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
             bytes.fromhex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
             bytes.fromhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")]


def browser_key() -> tuple[X25519PrivateKey, bytes]:
    """crypto.subtle.generateKey({name: "X25519"}), exported raw."""
    key = X25519PrivateKey.generate()
    return key, key.public_key().public_bytes_raw()


def browser_opens(private: X25519PrivateKey, reply: dict, request_id: str) -> bytes:
    """What the page does: deriveBits(X25519), importKey + deriveKey(HKDF SHA-256, salt = ephemeral ||
    own public key, info "peluit-disclosure-v1") to AES-GCM 256, decrypt with the request id as additional data."""
    ephemeral = base64.b64decode(reply["ephemeral_public_key"])
    mine = private.public_key().public_bytes_raw()
    bits = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    aes = HKDF(hashes.SHA256(), 32, salt=ephemeral + mine, info=b"peluit-disclosure-v1").derive(bits)
    return AESGCM(aes).decrypt(base64.b64decode(reply["nonce"]), base64.b64decode(reply["ciphertext"]),
                               request_id.encode())


def test_the_browser_opens_it_with_its_own_key_and_the_request_id():
    private, public = browser_key()
    identity = json.dumps({"name": "Siti Aminah", "phone": "081234567890"}).encode()
    reply = seal_for_browser(public, identity, b"4f1c2d3e-0000-4000-8000-000000000001")
    assert set(reply) == {"ephemeral_public_key", "nonce", "ciphertext"}
    raw = {k: base64.b64decode(v) for k, v in reply.items()}
    assert (len(raw["ephemeral_public_key"]), len(raw["nonce"]), len(raw["ciphertext"])) == (32, 12, len(identity) + 16)
    assert b"Siti" not in b"".join(raw.values())
    assert browser_opens(private, reply, "4f1c2d3e-0000-4000-8000-000000000001") == identity
    again = seal_for_browser(public, identity, b"x")
    assert again["ephemeral_public_key"] != reply["ephemeral_public_key"] and again["nonce"] != reply["nonce"]


def test_another_key_another_request_or_a_flipped_byte_does_not_open_it():
    private, public = browser_key()
    reply = seal_for_browser(public, b'{"name": "Siti"}', b"request-1")
    with pytest.raises(InvalidTag):
        browser_opens(X25519PrivateKey.generate(), reply, "request-1")
    with pytest.raises(InvalidTag):
        browser_opens(private, reply, "request-2")  # a box moved to another request
    for part in ("nonce", "ciphertext", "ephemeral_public_key"):
        raw = bytearray(base64.b64decode(reply[part]))
        raw[0] ^= 1
        with pytest.raises((InvalidTag, ValueError)):
            browser_opens(private, {**reply, part: base64.b64encode(bytes(raw)).decode()}, "request-1")


@pytest.mark.parametrize("point", LOW_ORDER, ids=range(len(LOW_ORDER)))
def test_a_low_order_key_is_refused(point):
    with pytest.raises(ValueError):
        seal_for_browser(point, b'{"name": "Siti"}', b"request-1")


def test_the_format_is_asked_for_and_the_sealed_box_stays_the_default():
    base = cmd(token="a.b.c", request_id="4f1c2d3e-0000-4000-8000-000000000001",
               public_key=base64.b64encode(bytes(range(1, 33))).decode())
    assert ViewDisclosureCommand().load(base)["format"] == SEALED_BOX
    assert ViewDisclosureCommand().load({**base, "format": BROWSER_FORMAT})["format"] == BROWSER_FORMAT
    with pytest.raises(Exception):
        ViewDisclosureCommand().load({**base, "format": "rot13"})


def _approved(app):
    now = datetime.now(timezone.utc)  # the RPC path reads the wall clock
    req = file(app, now=now)
    approve(app, req, now=now)
    return str(req.id)


def test_rpc_view_in_the_browser_format(rpc, app):
    identity = json.dumps({"name": "Siti Aminah"}).encode()
    rid = _approved(app)
    private, public = browser_key()
    fields = dict(request_id=rid, public_key=base64.b64encode(public).decode(), format=BROWSER_FORMAT)
    out = handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", **fields), lambda ref: identity)
    assert set(out) == {"request_id", "format", "ephemeral_public_key", "nonce", "ciphertext"}
    assert out["format"] == BROWSER_FORMAT and b"Siti" not in json.dumps(out).encode()
    assert browser_opens(private, out, rid) == identity
    assert handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", **fields),
                                    lambda ref: identity) == {"error": "already_viewed"}


def test_rpc_refuses_a_low_order_key_and_the_view_stays_unused(rpc, app):
    rid = _approved(app)
    read = []
    for point in LOW_ORDER[1:]:  # the all-zero key is refused by the contract already
        bad = rpc.call(DEWI, "view_disclosure", request_id=rid, public_key=base64.b64encode(point).decode(),
                       format=BROWSER_FORMAT)
        assert handlers.view_disclosure(app, rpc.auth, bad, lambda ref: read.append(ref) or b"{}") == {
            "error": "invalid_public_key"}
    assert app.get_request(UUID(rid)).status == "approved" and read == []
    key = PrivateKey.generate()  # a good key still gets the one view, as a sealed box by default
    out = handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", request_id=rid,
                                                      public_key=base64.b64encode(bytes(key.public_key)).decode()),
                                   lambda ref: b'{"name": "Siti"}')
    assert set(out) == {"request_id", "sealed_identity"}
    assert SealedBox(key).decrypt(base64.b64decode(out["sealed_identity"])) == b'{"name": "Siti"}'


def test_an_original_opens_in_the_browser_too(rpc, app):
    now = datetime.now(timezone.utc)
    case_id = "7d0f5a43-1c2b-4e8a-9f00-0000000000aa"
    req = app.request(DEWI, case_id=case_id, reporter_ref=None, tenant="35.73", reason="Perintah pengadilan 12/2026",
                      legal_basis="court_order", now=now, subject="evidence", original_ref=ORIGINAL,
                      original_case_id=case_id)
    approve(app, req, by=AGUS, now=now)
    private, public = browser_key()
    original = b"%PDF-1.7 original with its metadata"
    out = handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", request_id=str(req.id),
                                                      public_key=base64.b64encode(public).decode(),
                                                      format=BROWSER_FORMAT),
                                   lambda ref: pytest.fail("not the identity"),
                                   read_original=lambda ref: original if ref == ORIGINAL else None,
                                   read_original_name=lambda ref: "Laporan_Siti_198701.pdf")
    assert (out["subject"], out["original_ref"], out["format"]) == ("evidence", ORIGINAL, BROWSER_FORMAT)
    assert "sealed_original" not in out and browser_opens(private, out, str(req.id)) == original
    # the file's own name, sealed on its own to the same key (fresh ephemeral key and nonce)
    assert b"Siti" not in json.dumps(out).encode() and out["name"]["nonce"] != out["nonce"]
    assert browser_opens(private, out["name"], str(req.id)) == "Laporan_Siti_198701.pdf".encode()
