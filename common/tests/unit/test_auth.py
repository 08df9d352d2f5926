"""Officer tokens: what verifies, and every way a token must be refused."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_common import auth
from peluit_common.auth import AuthError, TokenIssuer, TokenVerifier, bearer_token

OFFICER = "6f1c2a4e-8a53-4c1e-9a0b-2b6f1f3f0c11"


def _keypair() -> tuple[bytes, bytes]:
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private, public


@pytest.fixture(scope="module")
def keys():
    return _keypair()


@pytest.fixture
def issuer(keys):
    return TokenIssuer(keys[0])


@pytest.fixture
def verifier(keys):
    return TokenVerifier(keys[1])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides) -> dict:
    now = int(time.time())
    claims = {"iss": auth.ISSUER, "aud": auth.AUDIENCE, "sub": OFFICER, "tenant": "35.73",
              "roles": ["penelaah"], "username": "siti", "iat": now, "nbf": now, "exp": now + 600,
              "jti": "abc123"}
    claims.update(overrides)
    return claims


def _refused(verifier, token, code="invalid_token"):
    with pytest.raises(AuthError) as info:
        verifier.verify(token)
    assert info.value.code == code
    assert info.value.status == 401
    # the message names the code only, never the token or a claim value
    assert str(info.value) == code
    assert not token or token not in repr(info.value.args)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    return info.value


def test_round_trip(issuer, verifier):
    before = datetime.now(timezone.utc)
    token = issuer.issue(OFFICER, "35.73", ["penelaah", "investigator"], "siti")
    claims = verifier.verify(token)
    assert claims.officer_id == OFFICER and claims.tenant == "35.73" and claims.username == "siti"
    assert claims.roles == ("penelaah", "investigator")
    assert claims.has_role("investigator") and claims.has_role("auditor", "penelaah")
    assert not claims.has_role("inspektur")
    assert timedelta(seconds=890) <= claims.expires_at - before <= timedelta(seconds=905)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == "peluit/cases" and payload["aud"] == "peluit-officer"
    assert {"iat", "nbf", "exp", "jti"} <= set(payload)
    # every token is distinct, even for the same officer in the same second
    assert verifier.verify(issuer.issue(OFFICER, "35.73", ["penelaah"], "siti")).token_id != claims.token_id


def test_expired_token(issuer, verifier):
    token = issuer.issue(OFFICER, "35", ["auditor"], "siti", ttl_seconds=60,
                         now=datetime.now(timezone.utc) - timedelta(minutes=5))
    _refused(verifier, token, "expired_token")


def test_leeway_tolerates_small_clock_skew(issuer, verifier):
    token = issuer.issue(OFFICER, "35", ["auditor"], "siti", ttl_seconds=60,
                         now=datetime.now(timezone.utc) + timedelta(seconds=2))
    assert verifier.verify(token).officer_id == OFFICER
    future = issuer.issue(OFFICER, "35", ["auditor"], "siti", ttl_seconds=60,
                          now=datetime.now(timezone.utc) + timedelta(minutes=2))
    _refused(verifier, future)


def test_tampered_signature_and_payload(issuer, verifier):
    token = issuer.issue(OFFICER, "35.73", ["penerima"], "siti")
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[0] ^= 1
    _refused(verifier, f"{head}.{body}.{_b64(bytes(raw))}")
    # a payload raised to province_admin keeps the old signature: refused
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["roles"] = ["province_admin"]
    _refused(verifier, f"{head}.{_b64(json.dumps(claims).encode())}.{sig}")


def test_token_signed_by_another_key(verifier):
    other = TokenIssuer(_keypair()[0])
    _refused(verifier, other.issue(OFFICER, "35.73", ["penerima"], "siti"))


def test_alg_none_refused(verifier):
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims()).encode())
    _refused(verifier, f"{header}.{body}.")
    # and with the header lying about the algorithm on top
    header = _b64(json.dumps({"alg": "None", "typ": "JWT"}).encode())
    _refused(verifier, f"{header}.{body}.")


def test_hs256_with_the_public_key_as_secret_refused(keys, verifier):
    # the classic confusion: the public key is known, so an HMAC "signed" with it
    token = jwt.encode(_claims(roles=["province_admin"]), keys[1], algorithm="HS256")
    _refused(verifier, token)
    token = jwt.encode(_claims(), keys[1].hex(), algorithm="HS256")
    _refused(verifier, token)


def test_wrong_audience_and_issuer(keys, verifier):
    private = Ed25519PrivateKey.from_private_bytes(keys[0])
    _refused(verifier, jwt.encode(_claims(aud="peluit-reporter"), private, algorithm="EdDSA"))
    _refused(verifier, jwt.encode(_claims(iss="someone-else"), private, algorithm="EdDSA"))
    missing = _claims()
    del missing["jti"]
    _refused(verifier, jwt.encode(missing, private, algorithm="EdDSA"))


def test_unknown_role_refused(keys, issuer, verifier):
    private = Ed25519PrivateKey.from_private_bytes(keys[0])
    _refused(verifier, jwt.encode(_claims(roles=["penelaah", "superuser"]), private, algorithm="EdDSA"))
    _refused(verifier, jwt.encode(_claims(roles=[]), private, algorithm="EdDSA"))
    _refused(verifier, jwt.encode(_claims(roles="penelaah"), private, algorithm="EdDSA"))
    _refused(verifier, jwt.encode(_claims(tenant="Jawa Timur"), private, algorithm="EdDSA"))
    with pytest.raises(ValueError):
        issuer.issue(OFFICER, "35.73", ["superuser"], "siti")


def test_garbage_refused(verifier):
    for token in ("abc", "a.b.c", "x" * 5000, "eyJhbGciOiJFZERTQSJ9.e30.AAAA"):
        _refused(verifier, token)
    _refused(verifier, "", "missing_token")


def _request(headers: dict) -> Request:
    return Request(EnvironBuilder(path="/", headers=headers).get_environ())


def test_bearer_token(issuer, verifier):
    token = issuer.issue(OFFICER, "35.73", ["penerima"], "siti")
    assert bearer_token(_request({"Authorization": f"Bearer {token}"})) == token
    assert bearer_token(_request({"Authorization": f"bearer {token}"})) == token
    for headers in ({}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                    {"Authorization": f"Basic {token}"}, {"Authorization": "Bearer not a token"}):
        with pytest.raises(AuthError) as info:
            bearer_token(_request(headers))
        assert info.value.code == "missing_token"


def test_keys_load_from_hex_files(tmp_path, monkeypatch, keys):
    (tmp_path / "officer-token.key").write_text(keys[0].hex() + "\n")
    (tmp_path / "officer-token.pub").write_text(keys[1].hex() + "\n")
    monkeypatch.delenv("PELUIT_OFFICER_TOKEN_KEY_FILE", raising=False)
    monkeypatch.delenv("PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE", raising=False)
    monkeypatch.setenv("PELUIT_KEYS_DIR", str(tmp_path))
    token = TokenIssuer(auth.load_signing_key()).issue(OFFICER, "35", ["auditor"], "siti")
    assert TokenVerifier(auth.load_verify_key()).verify(token).officer_id == OFFICER
    (tmp_path / "short.pub").write_text("abcd")
    monkeypatch.setenv("PELUIT_OFFICER_TOKEN_PUBLIC_KEY_FILE", str(tmp_path / "short.pub"))
    with pytest.raises(auth.ConfigError):
        auth.load_verify_key()
