"""nameko entry module of intake, the public edge: ``nameko run peluit_intake.service``.

The reporter's identity is sealed to the vault's public key straight after
validation; from then on intake only holds ciphertext. The 201 and the receipt
go out only after cases has committed the report.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import random
import time

import eventlet
from eventlet import tpool
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from nameko.rpc import RpcProxy
from prometheus_client import Counter

from peluit_common import green  # noqa: F401
from peluit_common.auth import OfficerAuth
from peluit_common.operations import Operations
from peluit_common.rpc import UNAVAILABLE_ERRORS, call
from peluit_common.settings import env_float, env_int, secret_bytes
from peluit_common.web import HttpError, http, json_endpoint, json_response, read_json
from peluit_contracts.i18n import bilingual_errors, text
from peluit_contracts.reports import (
    REGISTER_REPORT_VERSION,
    STORE_IDENTITY_VERSION,
    AssistedReportSchema,
    ReceiptSchema,
    ReporterMessageSchema,
    ReportSubmissionSchema,
)

# the mixins by module, not by class name: `nameko run peluit_intake.service` takes every class in
# this module's namespace that has entrypoints for a service of its own (and refuses one without a name)
from . import channels as _channels
from . import evidence_api as _evidence_api
from . import portal as _portal
from .openapi import OPENAPI
from .receipts import IDEMPOTENCY_KEY, Argon2Params, ReceiptKeys, format_receipt
from .sealing import seal_identity
from .slip import printable_slip

log = logging.getLogger(__name__)

RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)
REPORTS_ACCEPTED = Counter("peluit_intake_reports_accepted_total", "Reports acknowledged with a receipt",
                           ["channel", "replayed"])
REPORTS_REFUSED = Counter("peluit_intake_reports_refused_total", "Reports refused", ["reason"])

VALIDATION_FAILED = {"id": "Periksa kembali isian laporan.", "en": "Please check the report fields."}
UNAVAILABLE = {"id": "Layanan sedang sibuk. Kirim ulang laporan yang sama (dengan Idempotency-Key yang sama).",
               "en": "The service is busy. Send the same report again (with the same Idempotency-Key)."}
NOT_FOUND = {"id": "Tanda terima tidak dikenal.", "en": "Unknown receipt."}


class Secrets(DependencyProvider):
    """Intake's keys: its own derivation secret and the vault's *public* key."""

    def setup(self):
        self.receipts = ReceiptKeys(
            bytes.fromhex(secret_bytes("PELUIT_INTAKE_SECRET_FILE", "intake-secret.key").decode()),
            Argon2Params(
                time_cost=env_int("PELUIT_RECEIPT_ARGON2_TIME", 2),
                memory_kib=env_int("PELUIT_RECEIPT_ARGON2_MEMORY_KIB", 19456),
            ),
        )
        self.vault_public_key = bytes.fromhex(
            secret_bytes("PELUIT_VAULT_PUBLIC_KEY_FILE", "vault-x25519.pub").decode())

    def get_dependency(self, worker_ctx):
        return self


class Catalogue(DependencyProvider):
    """Tenants and categories from cases, cached briefly. Cases re-checks
    authoritatively, so a stale cache can only refuse, never admit wrongly."""

    ttl = 30.0
    miss_refresh = 2.0  # a tenant or category configured a moment ago is accepted after at most this

    def setup(self):
        self.data, self.loaded_at = None, 0.0

    def get_dependency(self, worker_ctx):
        return self

    def get(self, cases, missing: bool = False) -> dict:
        """``missing``: the caller did not find what it looked for; reload unless
        the copy is only seconds old (so a flood of bad codes cannot hammer cases)."""
        age = time.monotonic() - self.loaded_at
        if self.data is None or age > self.ttl or (missing and age > self.miss_refresh):
            data = call(cases.catalogue, timeout=RPC_TIMEOUT)
            self.data = {t["code"]: {c["code"] for c in t["categories"]} for t in data["tenants"]}
            self.loaded_at = time.monotonic()
        return self.data


def _call(method, *args):
    """An RPC with a deadline; any broker-side trouble is a 503 to the reporter."""
    try:
        return call(method, *args, timeout=RPC_TIMEOUT)
    except UNAVAILABLE_ERRORS as exc:
        log.warning("rpc failed: %s", type(exc).__name__)
        raise HttpError(503, "unavailable", UNAVAILABLE) from None


@contextlib.contextmanager
def answer_no_sooner():
    """Receipt-authenticated answers, found or not, take about the same time."""
    started = time.monotonic()
    try:
        yield
    finally:
        floor = env_float("PELUIT_STATUS_MIN_SECONDS", 0.4) + random.uniform(0, 0.05)
        eventlet.sleep(max(0.0, floor - (time.monotonic() - started)))


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.fullmatch(key):
        REPORTS_REFUSED.labels("idempotency_key").inc()
        raise HttpError(400, "validation_failed", VALIDATION_FAILED, {"Idempotency-Key": [{
            "id": "Idempotency-Key harus 16-128 karakter huruf, angka, '-' atau '_'.",
            "en": "Idempotency-Key must be 16-128 letters, digits, '-' or '_'."}]})
    return key


def _field_error(status: int, code: str, field: str, message_code: str) -> HttpError:
    return HttpError(status, code, VALIDATION_FAILED, {field: [text(message_code)]})


class IntakeService(_portal.PortalMixin, _evidence_api.EvidenceMixin, _channels.ChannelsMixin):
    name = "intake"

    ops = Operations()
    secrets = Secrets()
    officer_auth = OfficerAuth()
    catalogue = Catalogue()
    # expiration: a request still queued after the reporter was told to retry is dropped
    cases = RpcProxy("cases", expiration=RPC_TIMEOUT)
    vault = RpcProxy("identity_vault", expiration=RPC_TIMEOUT)

    @http("POST", "/api/v1/reports")
    @json_endpoint
    def submit_report(self, request):
        report = self._load(request, ReportSubmissionSchema)
        return self._register(report, _idempotency_key(request), channel="web", assisted_by=None)

    @http("POST", "/api/v1/assisted-reports")
    @json_endpoint
    def submit_assisted_report(self, request):
        """A penerima registers a walk-in, letter or telephone report on the
        reporter's behalf; same path as the portal, plus a printable slip."""
        claims = self.officer_auth.claims(request)
        if not claims.has_role("penerima"):
            raise HttpError(403, "forbidden", {"id": "Hanya petugas penerima yang dapat mencatat laporan.",
                                               "en": "Only intake officers (penerima) can record reports."})
        report = self._load(request, AssistedReportSchema)
        if report["tenant"] != claims.tenant:
            raise _field_error(422, "unknown_tenant", "tenant", "unknown_tenant")
        channel = report.pop("channel")
        response = self._register(report, _idempotency_key(request), channel=channel,
                                  assisted_by={"officer_id": claims.officer_id, "username": claims.username})
        if request.args.get("format") == "html":
            return printable_slip(json.loads(response.get_data()), response.status_code)
        return response

    def _load(self, request, schema):
        data = read_json(request, env_int("PELUIT_MAX_BODY_BYTES", 64 * 1024))
        try:
            return schema().load(data)
        except ValidationError as err:
            REPORTS_REFUSED.labels("validation").inc()
            raise HttpError(400, "validation_failed", VALIDATION_FAILED, bilingual_errors(err.messages)) from None

    def _register(self, report: dict, idempotency_key: str | None, channel: str, assisted_by: dict | None):
        """Seal, store the identity, register durably, answer with the receipt."""
        identity = report.pop("identity", None)
        sealed = seal_identity(self.secrets.vault_public_key, identity) if identity else None
        del identity  # from here on only ciphertext

        tenant, category = report.pop("tenant"), report.pop("category")
        known = self._catalogue()
        if category not in known.get(tenant, ()):
            known = self._catalogue(missing=True)
        if tenant not in known:
            REPORTS_REFUSED.labels("unknown_tenant").inc()
            raise _field_error(422, "unknown_tenant", "tenant", "unknown_tenant")
        if category not in known[tenant]:
            REPORTS_REFUSED.labels("unknown_category").inc()
            raise _field_error(422, "unknown_category", "category", "unknown_category")

        keys = self.secrets.receipts
        submission_id = keys.submission_id(tenant, idempotency_key)
        receipt = keys.receipt(tenant, idempotency_key)
        receipt_hash = tpool.execute(keys.lookup_hash, receipt)  # Argon2 off the hub

        reporter_ref = None
        if sealed is not None:
            stored = _call(self.vault.store_identity, {
                "version": STORE_IDENTITY_VERSION, "submission_id": submission_id,
                "sealed_identity": base64.b64encode(sealed).decode(), "tenant": tenant})
            if "error" in stored:
                log.error("vault refused a sealed identity: %s", stored["error"])
                raise HttpError(500, "internal_error", UNAVAILABLE)
            reporter_ref = stored["reporter_ref"]

        result = _call(self.cases.register_report, {
            "version": REGISTER_REPORT_VERSION, "submission_id": submission_id,
            "fingerprint": keys.fingerprint({"tenant": tenant, "category": category, **report}),
            "receipt_hash": receipt_hash, "tenant": tenant, "category": category, "channel": channel,
            "report": report, "reporter_ref": reporter_ref, "anonymous": reporter_ref is None,
            "assisted_by": assisted_by,
        })
        error = result.get("error")
        if error in ("unknown_tenant", "unknown_category"):
            field = error.split("_")[1]
            raise _field_error(422, error, field, error)
        if error == "idempotency_key_reused":
            REPORTS_REFUSED.labels("idempotency_key_reused").inc()
            raise HttpError(422, error, {
                "id": "Idempotency-Key ini sudah dipakai untuk laporan lain.",
                "en": "This Idempotency-Key was already used for a different report."})
        if error:
            log.error("cases refused a registration: %s", error)
            raise HttpError(500, "internal_error", UNAVAILABLE)

        replayed = not result["created"]
        REPORTS_ACCEPTED.labels(channel, str(replayed).lower()).inc()
        return json_response(201, {
            "registration_number": result["registration_number"],
            "receipt": format_receipt(receipt),
            "tenant": tenant,
            "status": "diterima",
            "anonymous": reporter_ref is None,
            "message": {
                "id": "Simpan tanda terima ini. Tanda terima tidak dapat dipulihkan jika hilang.",
                "en": "Keep this receipt. It cannot be recovered if lost."},
        }, headers={"Idempotent-Replayed": "true"} if replayed else None)

    @http("POST", "/api/v1/reports/status")
    @json_endpoint
    def report_status(self, request):
        with answer_no_sooner():
            data = read_json(request, 4096)
            try:
                receipt = ReceiptSchema().load(data)["receipt"]
            except ValidationError as err:
                raise HttpError(400, "validation_failed", VALIDATION_FAILED,
                                bilingual_errors(err.messages)) from None
            receipt_hash = tpool.execute(self.secrets.receipts.lookup_hash, receipt)
            view = _call(self.cases.reporter_view, receipt_hash)
            if view is None:
                raise HttpError(404, "not_found", NOT_FOUND)
            return json_response(200, view)

    @http("POST", "/api/v1/reports/messages")
    @json_endpoint
    def reporter_message(self, request):
        """The reporter answers a question or writes to the Inspektorat."""
        with answer_no_sooner():
            data = read_json(request, 16 * 1024)
            try:
                body = ReporterMessageSchema().load(data)
            except ValidationError as err:
                raise HttpError(400, "validation_failed", VALIDATION_FAILED,
                                bilingual_errors(err.messages)) from None
            receipt_hash = tpool.execute(self.secrets.receipts.lookup_hash, body["receipt"])
            result = _call(self.cases.reporter_message, receipt_hash, body["text"])
            if result.get("error") == "not_found":
                raise HttpError(404, "not_found", NOT_FOUND)
            if result.get("error") == "case_closed":
                raise HttpError(409, "case_closed", {"id": "Kasus sudah ditutup.", "en": "The case is closed."})
            if result.get("error"):
                log.error("cases refused a reporter message: %s", result["error"])
                raise HttpError(500, "internal_error", UNAVAILABLE)
            return json_response(201, {"status": result["status"], "message": {
                "id": "Pesan Anda telah diterima Inspektorat.", "en": "The Inspektorat received your message."}})

    @http("GET", "/api/v1/openapi.json")
    def openapi(self, request):
        return json_response(200, OPENAPI)

    @http("GET", "/api/v1/tenants")
    @json_endpoint
    def tenants(self, request):
        try:
            return json_response(200, call(self.cases.catalogue, timeout=RPC_TIMEOUT))
        except UNAVAILABLE_ERRORS:
            raise HttpError(503, "unavailable", UNAVAILABLE) from None

    def _catalogue(self, missing: bool = False) -> dict:
        try:
            return self.catalogue.get(self.cases, missing)
        except UNAVAILABLE_ERRORS:
            raise HttpError(503, "unavailable", UNAVAILABLE) from None



