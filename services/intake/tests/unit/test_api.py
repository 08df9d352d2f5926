"""The reporter API as a translation: requests in, the application (with a
fake port to cases and the vault), HTTP statuses and bilingual JSON out; the
wire stays what the OpenAPI document and the system tests say."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from nacl.public import SealedBox
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_common.auth import OfficerClaims
from peluit_common.web import HttpError, json_endpoint
from peluit_contracts.i18n import message
from peluit_intake import api, errors
from peluit_intake.evidence_checks import Limits, Refusal, Refused

from .conftest import VAULT

BODY = {"tenant": "35.73", "category": "korupsi", "what": "Dana hibah dipotong dua puluh persen",
        "where": "Dinas Sosial", "when": "Oktober 2026"}
KEY = "3f1c5c9e-7d3a-4c1b-9a55-2b8f0e6d4a11"


@pytest.fixture(autouse=True)
def no_floor(monkeypatch):
    monkeypatch.setenv("PELUIT_STATUS_MIN_SECONDS", "0")


def post(path="/api/v1/reports", body=None, headers=None, **kwargs) -> Request:
    if body is not None:
        kwargs.update(data=json.dumps(body), content_type="application/json")
    return Request(EnvironBuilder(path=path, method="POST", headers=headers or {}, **kwargs).get_environ())


def answer(handler, *args):
    """What the service's entrypoint answers (``json_endpoint`` turns an ``HttpError`` into JSON)."""
    response = json_endpoint(lambda _self, *a: handler(*a))(None, *args)
    return response.status_code, (json.loads(response.get_data()) if response.mimetype == "application/json"
                                  else response.get_data(as_text=True)), response


def register(intake, body=BODY, key=None):
    return answer(api.submit_report, post(body=body, headers={"Idempotency-Key": key} if key else None), intake)


def test_a_report_is_answered_201_with_the_receipt_and_a_replay_says_so(intake):
    status, body, response = register(intake, key=KEY)
    assert status == 201 and "Idempotent-Replayed" not in response.headers
    assert set(body) == {"registration_number", "receipt", "tenant", "status", "anonymous", "message"}
    assert body["status"] == "diterima" and body["anonymous"] is True and body["tenant"] == "35.73"
    assert body["message"] == message("keep_receipt")
    status, again, response = register(intake, key=KEY)
    assert status == 201 and response.headers["Idempotent-Replayed"] == "true" and again == body


@pytest.mark.parametrize("error,status,code,text", [
    (errors.UnknownTenant(), 422, "unknown_tenant", "report_fields_invalid"),
    (errors.UnknownCategory(), 422, "unknown_category", "report_fields_invalid"),
    (errors.IdempotencyKeyReused(), 422, "idempotency_key_reused", "idempotency_key_reused"),
    (errors.ReceiptNotFound(), 404, "not_found", "unknown_receipt"),
    (errors.CaseClosed(), 409, "case_closed", "case_closed"),
    (errors.CaseClosed("case_closed_evidence"), 409, "case_closed", "case_closed_evidence"),
    (errors.EvidenceQuota(), 413, "evidence_quota", "case_evidence_quota"),
    (errors.Unavailable(), 503, "unavailable", "unavailable"),
    (errors.BackendRefused(), 500, "internal_error", "unavailable"),
])
def test_every_typed_error_has_one_http_answer(error, status, code, text):
    err = api.http_error(error)
    assert (err.status, err.code, err.message) == (status, code, message(text))
    if isinstance(error, (errors.UnknownTenant, errors.UnknownCategory)):
        assert err.fields == {error.field: [message(error.code)]}


def test_refused_files_are_answered_field_by_field_with_the_strongest_status():
    refused = Refused([Refusal("unsupported_type", 1), Refusal("file_too_large", 2, mb="10")])
    err = api.http_error(errors.EvidenceRefused(refused))
    assert (err.status, err.code, err.message) == (413, "file_too_large", message("evidence_refused"))
    assert set(err.fields) == {"file.1", "file.2"} and err.fields["file.2"][0]["code"] == "file_too_large"


def test_bad_input_is_a_bilingual_400_and_reaches_no_back_end(intake, backend):
    status, body, _ = register(intake, body={**BODY, "what": "short", "extra": 1})
    assert status == 400 and body["error"]["code"] == "validation_failed"
    assert body["error"]["message"] == message("report_fields_invalid")
    assert set(body["error"]["fields"]) == {"what", "extra"}
    status, body, _ = register(intake, key="short")
    assert status == 400 and body["error"]["fields"] == {"Idempotency-Key": [message("idempotency_key_format")]}
    status, body, _ = answer(api.submit_report, post(data="{", content_type="application/json"), intake)
    assert (status, body["error"]["code"]) == (400, "malformed_json")
    status, body, _ = answer(api.submit_report, post(data="x", content_type="text/plain"), intake)
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    assert backend.calls == []


def test_registration_errors_keep_their_wire_codes(intake, backend):
    status, body, _ = register(intake, body={**BODY, "tenant": "35.99"})
    assert (status, body["error"]["code"]) == (422, "unknown_tenant")
    assert body["error"]["fields"] == {"tenant": [message("unknown_tenant")]}
    register(intake, key=KEY)
    status, body, _ = register(intake, body={**BODY, "what": "Sesuatu yang lain sekali"}, key=KEY)
    assert (status, body["error"]) == (422, {"code": "idempotency_key_reused",
                                             "message": message("idempotency_key_reused")})
    backend.down = {"register_report"}
    status, body, _ = register(intake)
    assert (status, body["error"]["code"], body["error"]["message"]) == (503, "unavailable", message("unavailable"))
    backend.down, backend.refuse = set(), {"register_report": "boom"}
    status, body, _ = register(intake)
    assert (status, body["error"]["code"]) == (500, "internal_error") and "boom" not in json.dumps(body)


def claims(*roles, tenant="35.73"):
    return OfficerClaims("0f8fad5b-d9cb-469f-a165-70867728950e", tenant, roles, "rina.penerima", "jti",
                         dt.datetime.now(dt.timezone.utc))


def test_assisted_reports_are_for_a_penerima_of_the_same_tenant_and_can_print_a_slip(intake, backend):
    body = {**BODY, "channel": "walk_in"}
    status, reply, _ = answer(api.submit_assisted_report, post("/api/v1/assisted-reports", body), intake,
                              claims("penelaah"))
    assert (status, reply["error"]["code"], reply["error"]["message"]) == (403, "forbidden", message("penerima_only"))
    status, reply, _ = answer(api.submit_assisted_report, post("/api/v1/assisted-reports", body), intake,
                              claims("penerima", tenant="35"))
    assert (status, reply["error"]["code"]) == (422, "unknown_tenant") and backend.calls == []
    status, reply, response = answer(api.submit_assisted_report,
                                     post("/api/v1/assisted-reports", body, query_string={"format": "html"}),
                                     intake, claims("penerima"))
    assert status == 201 and response.mimetype == "text/html"
    assert "WBS/35.73/2026/000001" in reply and "<script" not in reply
    assert backend.commands[0]["channel"] == "walk_in"
    assert backend.commands[0]["assisted_by"] == {"officer_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
                                                  "username": "rina.penerima"}


def test_status_and_messages_by_receipt(intake, backend):
    _, body, _ = register(intake)
    receipt = body["receipt"]
    status, view, _ = answer(api.report_status, post("/api/v1/reports/status", {"receipt": receipt}), intake)
    assert status == 200 and view["registration_number"] == body["registration_number"]
    status, reply, _ = answer(api.report_status, post("/api/v1/reports/status", {"receipt": "0" * 16}), intake)
    assert (status, reply["error"]["code"], reply["error"]["message"]) == (404, "not_found", message("unknown_receipt"))
    status, reply, _ = answer(api.report_status, post("/api/v1/reports/status", {"receipt": "x"}), intake)
    assert status == 400 and list(reply["error"]["fields"]) == ["receipt"]
    status, reply, _ = answer(api.reporter_message, post("/api/v1/reports/messages",
                                                         {"receipt": receipt, "text": "Jawaban saya."}), intake)
    assert status == 201 and reply == {"status": "diterima", "message": message("message_received")}
    backend.closed = True
    status, reply, _ = answer(api.reporter_message, post("/api/v1/reports/messages",
                                                         {"receipt": receipt, "text": "Lagi."}), intake)
    assert (status, reply["error"]["code"], reply["error"]["message"]) == (409, "case_closed", message("case_closed"))


def test_an_unknown_receipt_takes_as_long_as_a_known_one(intake, monkeypatch):
    monkeypatch.setenv("PELUIT_STATUS_MIN_SECONDS", "0.3")
    started = time.monotonic()
    status, _, _ = answer(api.report_status, post("/api/v1/reports/status", {"receipt": "0" * 16}), intake)
    assert status == 404 and time.monotonic() - started >= 0.3
    started = time.monotonic()
    status, _, _ = answer(api.reporter_message, post("/api/v1/reports/messages", {"receipt": "x", "text": "t"}),
                          intake)
    assert status == 400 and time.monotonic() - started >= 0.3  # even a malformed one


def multipart(receipt, *files, boundary="b0undary") -> Request:
    parts = [] if receipt is None else [
        f'--{boundary}\r\nContent-Disposition: form-data; name="receipt"\r\n\r\n{receipt}\r\n'.encode()]
    for name, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                     f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b"\r\n")
    raw = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return post("/api/v1/reports/evidence", data=raw, content_type=f"multipart/form-data; boundary={boundary}")


def test_evidence_uploads_by_receipt(intake, backend):
    _, body, _ = register(intake)
    status, reply, _ = answer(api.upload_evidence, multipart(body["receipt"], ("Laporan_Budi_1987.txt",
                                                                                  b"bukti transfer")), intake)
    # officers see a generic label; the reporter's own file name goes sealed to the vault with the original
    assert status == 201 and reply == {"evidence": [{"label": "lampiran-1.txt", "mime": "text/plain", "size": 14}],
                                       "message": message("evidence_accepted")}
    assert SealedBox(VAULT).decrypt(backend.original_names[0]) == b"Laporan_Budi_1987.txt"
    assert b"Budi" not in json.dumps(backend.evidence, default=repr).encode()
    status, reply, _ = answer(api.upload_evidence, multipart(body["receipt"], ("Laporan_Budi_2.txt", b"lagi")), intake)
    assert reply["evidence"][0]["label"] == "lampiran-2.txt"  # numbered on from what the case holds
    status, reply, _ = answer(api.upload_evidence, multipart(body["receipt"], ("x.jpg", b"<html></html>")), intake)
    assert (status, reply["error"]["code"]) == (415, "unsupported_type")
    assert list(reply["error"]["fields"]) == ["file.1"]
    status, reply, _ = answer(api.upload_evidence, multipart(None, ("a.txt", b"a")), intake)
    assert status == 400 and list(reply["error"]["fields"]) == ["receipt"]
    status, reply, _ = answer(api.upload_evidence, post("/api/v1/reports/evidence", {"receipt": "1"}), intake)
    assert (status, reply["error"]["code"]) == (415, "unsupported_media_type")
    assert reply["error"]["message"] == message("multipart_only")
    backend.files_left = 0
    status, reply, _ = answer(api.upload_evidence, multipart(body["receipt"], ("a.txt", b"a")), intake)
    assert (status, reply["error"]["code"]) == (413, "evidence_quota")
    assert len(backend.evidence) == 2


def test_an_oversized_upload_is_refused_before_it_is_read(monkeypatch, intake):
    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_BODY_BYTES", "1000")
    request = multipart("1234567812345678", ("a.txt", b"a" * 2000))
    status, reply, _ = answer(api.upload_evidence, request, intake)
    assert (status, reply["error"]["code"]) == (413, "payload_too_large")
    assert reply["error"]["message"] == message("upload_too_large", mb="0.001")


def test_multipart_parts_without_a_usable_name_are_unknown_fields_not_a_crash():
    """Found by schemathesis: a part named None next to a named one made sorting fail (500)."""
    b = "b0undary"
    raw = (f'--{b}\r\nContent-Disposition: form-data; name=" \x06\u00bf\\"\r\n\r\n1\r\n'
           f'--{b}\r\nContent-Disposition: form-data; name="other"\r\n\r\n2\r\n--{b}--\r\n').encode()
    with pytest.raises(HttpError) as info:
        api.read_upload(post("/api/v1/reports/evidence", data=raw, content_type=f"multipart/form-data; boundary={b}"),
                        Limits())
    assert info.value.status == 400 and "other" in info.value.fields
    assert info.value.fields["other"] == [message("unknown_field")]


def test_tenants_are_read_from_cases_each_time_and_refresh_the_one_catalogue(intake, backend):
    status, body, _ = answer(api.tenants, intake)
    assert status == 200 and {t["code"] for t in body["tenants"]} == {"35.73", "35"}
    backend.tenants["35.07"] = ["korupsi"]
    assert {t["code"] for t in answer(api.tenants, intake)[1]["tenants"]} == {"35.73", "35", "35.07"}
    assert intake.tenant("35.07") is not None and backend.calls.count("catalogue") == 2
    backend.down = {"catalogue"}
    assert answer(api.tenants, intake)[:2] == (503, {"error": {"code": "unavailable",
                                                               "message": message("unavailable")}})
