"""Bad input: a clear bilingual 4xx, never a 500, and nothing written anywhere."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from peluit_local.testing import admin_connect, sample_report, submit


def snapshot(system) -> tuple:
    with admin_connect(system, "cases") as c:
        cases = c.execute("SELECT count(*) FROM peluit.cases_events").fetchone()[0]
    with admin_connect(system, "identity-vault") as v:
        vault = v.execute("SELECT count(*) FROM peluit.reporter").fetchone()[0]
    return cases, vault


def post_raw(system, data: bytes, content_type="application/json", headers=None):
    h = {"Content-Type": content_type, **(headers or {})}
    return requests.post(system.url("intake") + "/api/v1/reports", data=data, headers=h, timeout=15)


def assert_bilingual(resp, status: int, code: str):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code
    assert err["message"]["id"] and err["message"]["en"]
    for messages in err.get("fields", {}).values():
        for m in messages:
            assert m["id"] and m["en"] and m["id"] != m["en"]
    return err


CASES = {
    "missing_required": ({"tenant": "35.73", "category": "korupsi"}, {"what", "where", "when"}),
    "wrong_types": (sample_report(what=12345, when=["x"]), {"what", "when"}),
    "too_short": (sample_report(what="pendek"), {"what"}),
    "too_long": (sample_report(where="x" * 501), {"where"}),
    "nul_byte": (sample_report(who="Kepala\u0000Bidang"), {"who"}),
    "bad_tenant_code": (sample_report(tenant="../35"), {"tenant"}),
    "bad_identity": (sample_report(identity={"nik": "123", "email": "not-an-email", "phone": "call me"}),
                     {"identity.nik", "identity.email", "identity.phone"}),
    "empty_identity": (sample_report(identity={}), {"identity"}),
    "unknown_field": (sample_report(password="x"), {"password"}),
    "identity_not_object": (sample_report(identity="Budi"), {"identity"}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_invalid_fields_get_a_field_by_field_400_and_write_nothing(system, name):
    body, fields = CASES[name]
    before = snapshot(system)
    err = assert_bilingual(submit(system, body, key=str(uuid.uuid4())), 400, "validation_failed")
    assert fields <= set(err["fields"]), err["fields"]
    assert snapshot(system) == before


@pytest.mark.parametrize("raw", [b'{"tenant": "35.73"', b"[1, 2, 3]", b"\xff\xfe", b"", b"null", b'"text"'])
def test_malformed_json_is_400(system, raw):
    before = snapshot(system)
    assert_bilingual(post_raw(system, raw), 400, "malformed_json")
    assert snapshot(system) == before


def test_body_over_the_limit_is_413(system):
    before = snapshot(system)
    big = json.dumps(sample_report(what="x" * (70 * 1024))).encode()
    assert_bilingual(post_raw(system, big), 413, "payload_too_large")
    # also when the client does not announce the length (chunked)
    chunked = requests.post(system.url("intake") + "/api/v1/reports", data=iter([big[:40000], big[40000:]]),
                            headers={"Content-Type": "application/json"}, timeout=15)
    assert_bilingual(chunked, 413, "payload_too_large")
    assert snapshot(system) == before


def test_wrong_content_type_is_415(system):
    assert_bilingual(post_raw(system, b"tenant=35.73", "application/x-www-form-urlencoded"),
                     415, "unsupported_media_type")


def test_unknown_tenant_and_category_are_422(system):
    before = snapshot(system)
    assert_bilingual(submit(system, sample_report(tenant="99.99")), 422, "unknown_tenant")
    err = assert_bilingual(submit(system, sample_report(category="tidak-ada")), 422, "unknown_category")
    assert set(err["fields"]) == {"category"}
    # with identity too: the vault must not keep an orphan identity
    assert_bilingual(submit(system, sample_report(tenant="99.99", identity={"name": "Orphan"})), 422,
                     "unknown_tenant")
    assert snapshot(system) == before


def test_bad_idempotency_key_is_400(system):
    before = snapshot(system)
    err = assert_bilingual(submit(system, sample_report(), key="short"), 400, "validation_failed")
    assert "Idempotency-Key" in err["fields"]
    assert snapshot(system) == before


def test_html_in_text_is_stored_as_text_and_returned_as_json(system):
    resp = submit(system, sample_report(what="<script>alert(1)</script> pungli di loket"), key=str(uuid.uuid4()))
    assert resp.status_code == 201
    assert resp.headers["Content-Type"].startswith("application/json")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"


def test_bad_status_requests(system):
    url = system.url("intake") + "/api/v1/reports/status"
    assert_bilingual(requests.post(url, json={"receipt": "1234"}, timeout=10), 400, "validation_failed")
    assert_bilingual(requests.post(url, json={}, timeout=10), 400, "validation_failed")
    assert_bilingual(requests.post(url, data=b"{", headers={"Content-Type": "application/json"}, timeout=10),
                     400, "malformed_json")
