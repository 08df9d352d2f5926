"""The partner API: a partner's own credential and tenants, the identity sealed
by the partner (never in clear), idempotent per (system, source_id)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from nacl.public import SealedBox

from peluit_contracts.partner import seal_identity
from peluit_intake import partner_api

from .conftest import VAULT
from .test_api import BODY, answer, post

SECRET = "s3cret-of-lapor"
REPORT = {**BODY, "source_id": "LAPOR-2026-000123"}


@pytest.fixture
def partner(backend):
    def check(name, secret_sha256):
        backend.calls.append("partner_check")
        ok = name == "lapor-3573" and secret_sha256 == hashlib.sha256(SECRET.encode()).hexdigest()
        return {"name": name, "tenants": ["35.73"]} if ok else None

    backend.partner_check = check
    return {"Authorization": f"Bearer lapor-3573.{SECRET}"}


def submit(intake, body, headers):
    return answer(partner_api.submit_partner_report, post("/api/v1/partner/reports", body=body, headers=headers),
                  intake)


def test_a_partner_report_is_registered_once_with_its_source_and_a_sealed_identity(intake, backend, partner):
    sealed = seal_identity(bytes(VAULT.public_key), {"name": "Siti Pelapor", "email": "siti@example.id"})
    status, body, response = submit(intake, {**REPORT, "sealed_identity": sealed}, partner)
    assert status == 201 and body["source_id"] == "LAPOR-2026-000123" and body["anonymous"] is False
    assert "receipt" not in body
    command = backend.commands[-1]
    assert command["channel"] == "integration"
    assert command["source"] == {"system": "lapor-3573", "source_id": "LAPOR-2026-000123"}
    stored = backend.identities[command["submission_id"]]
    assert stored == base64.b64decode(sealed)  # passed on as the partner sealed it
    assert b"Siti" in SealedBox(VAULT).decrypt(stored)  # and only the vault's key opens it
    status, again, response = submit(intake, {**REPORT, "sealed_identity": sealed}, partner)
    assert status == 201 and again["registration_number"] == body["registration_number"]
    assert response.headers["Idempotent-Replayed"] == "true"
    changed = submit(intake, {**REPORT, "what": "Laporan lain dengan nomor sumber yang sama"}, partner)
    assert changed[0] == 422 and changed[1]["error"]["code"] == "idempotency_key_reused"


def test_an_identity_in_clear_is_refused_before_anything_else(intake, backend, partner):
    status, body, _ = submit(intake, {**REPORT, "identity": {"name": "Siti Pelapor"}}, partner)
    assert status == 422 and body["error"]["code"] == "identity_in_clear" and "identity" in body["error"]["fields"]
    assert "Siti" not in repr(body)
    assert not backend.commands and not backend.identities


@pytest.mark.parametrize("headers, status, code", [
    ({}, 401, "partner_unauthorized"),
    ({"Authorization": "Bearer lapor-3573.wrong"}, 401, "partner_unauthorized"),
    ({"Authorization": f"Bearer other.{SECRET}"}, 401, "partner_unauthorized"),
    ({"Authorization": f"Basic lapor-3573.{SECRET}"}, 401, "partner_unauthorized"),
])
def test_without_a_live_credential_nothing_is_recorded(intake, backend, partner, headers, status, code):
    result = submit(intake, REPORT, headers)
    assert (result[0], result[1]["error"]["code"]) == (status, code)
    assert not backend.commands


def test_another_tenant_or_bad_fields_are_refused_field_by_field(intake, backend, partner):
    assert submit(intake, {**REPORT, "tenant": "35"}, partner)[0] == 403
    status, body, _ = submit(intake, {**REPORT, "source_id": "no spaces allowed"}, partner)
    assert status == 400 and "source_id" in body["error"]["fields"]
    status, body, _ = submit(intake, {**REPORT, "sealed_identity": "%%%"}, partner)
    assert status == 400 and "sealed_identity" in body["error"]["fields"]
    backend.refuse["store_identity"] = "invalid_sealed_identity"
    status, body, _ = submit(intake, {**REPORT, "sealed_identity": base64.b64encode(b"x" * 64).decode()}, partner)
    assert status == 422 and body["error"]["code"] == "invalid_sealed_identity"
    assert not backend.commands
