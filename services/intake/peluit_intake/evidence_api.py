"""Intake entrypoints for evidence upload (content-checked, metadata stripped; originals sealed to the vault).

A mixin of ``IntakeService``: nameko collects its entrypoints and
dependencies with the service's own.

``POST /api/v1/reports/evidence`` (multipart/form-data: ``receipt`` and one
or more ``file`` parts):

1. the body is read bounded, in memory only (intake keeps nothing at rest, not
   even a temporary file): over the limit is a 413 before it is all read;
2. every file is checked by content (``evidence.check_all``); any refusal
   refuses the whole upload, field by field, and nothing is stored anywhere;
3. the receipt opens a case (``cases.evidence_target``), else 404 after the
   same floor delay as every receipt answer;
4. each file is stripped of metadata (``evidence.strip_all``, again all or nothing);
5. each untouched original is sealed to the vault's public key and stored
   there (``identity_vault.store_evidence_original`` -> ``original_ref``);
6. the stripped copies go to cases (``cases.add_evidence``), batched so that
   no RPC message carries more than about one file.

The CPU-heavy steps (parsing, Pillow, pikepdf, sealing) run in eventlet's
thread pool so they never block the hub, at most ``PELUIT_EVIDENCE_CONCURRENCY``
(2) uploads at a time to bound memory (an upload holds its files a few times over).
"""

from __future__ import annotations

import base64
import io
import logging

from eventlet import tpool
from eventlet.semaphore import Semaphore
from marshmallow import ValidationError
from nacl.public import PublicKey, SealedBox
from prometheus_client import Counter
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import MultiPartParser

from peluit_common.settings import env_int
from peluit_common.web import HttpError, http, json_endpoint, json_response
from peluit_contracts.evidence import EVIDENCE_RPC_VERSION
from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.reports import ReceiptSchema

from . import evidence
from .evidence import Limits, Refused

log = logging.getLogger(__name__)

EVIDENCE_ACCEPTED = Counter("peluit_intake_evidence_files_accepted_total", "Evidence files accepted", ["mime"])
EVIDENCE_REFUSED = Counter("peluit_intake_evidence_refused_total", "Evidence uploads refused", ["reason"])

MULTIPART_OVERHEAD = 1_000_000  # boundaries, part headers and the receipt field, above the files themselves
REFUSED = {"id": "Berkas bukti tidak dapat diterima; lihat keterangan tiap berkas. Tidak ada yang disimpan.",
           "en": "The evidence could not be accepted; see the note for each file. Nothing was stored."}
TOO_LARGE = {"id": "Unggahan melebihi batas {mb} MB.", "en": "The upload exceeds the limit of {mb} MB."}
MULTIPART_ONLY = {"id": "Kirim bukti sebagai multipart/form-data.", "en": "Send evidence as multipart/form-data."}
MALFORMED = {"id": "Data unggahan tidak dapat dibaca.", "en": "The upload cannot be read."}
CASE_CLOSED = {"id": "Kasus sudah ditutup; bukti tidak dapat ditambahkan.",
               "en": "The case is closed; evidence can no longer be added."}
QUOTA = {"id": "Kasus ini sudah mencapai batas jumlah atau ukuran bukti.",
         "en": "This case has reached its limit on the number or size of evidence files."}
ACCEPTED = {"id": "Bukti telah diterima Inspektorat. Metadata (lokasi, penulis, perangkat) dihapus dari salinan "
                  "yang dibaca petugas; berkas asli disimpan tersegel.",
            "en": "The Inspektorat received your evidence. Metadata (location, author, device) was removed from the "
                  "copy officers read; the original is kept sealed."}
UNKNOWN_FIELD = {"id": "Kolom tidak dikenal.", "en": "Unknown field."}

_slots: Semaphore | None = None


def _upload_slots() -> Semaphore:
    global _slots
    if _slots is None:
        _slots = Semaphore(max(1, env_int("PELUIT_EVIDENCE_CONCURRENCY", 2)))
    return _slots


def _mb(limit: int) -> str:
    return f"{limit / 1_000_000:g}"


def read_upload(request, limits: Limits) -> tuple[dict, list[tuple[str | None, bytes]]]:
    """(form fields, [(file name, bytes)]) of a multipart body, read bounded and in memory."""
    limit = env_int("PELUIT_EVIDENCE_MAX_BODY_BYTES", limits.max_request_bytes + MULTIPART_OVERHEAD)
    too_large = HttpError(413, "payload_too_large", {k: v.format(mb=_mb(limit)) for k, v in TOO_LARGE.items()})
    length = request.content_length
    if length is not None and length > limit:
        raise too_large
    if request.mimetype != "multipart/form-data":
        raise HttpError(415, "unsupported_media_type", MULTIPART_ONLY)
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise HttpError(400, "malformed_multipart", MALFORMED)
    # werkzeug hides a chunked body (no Content-Length) behind an empty stream; eventlet decodes chunks itself
    stream = request.stream if length is not None else request.environ["wsgi.input"]
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    parser = MultiPartParser(stream_factory=lambda *_args, **_kw: io.BytesIO(),  # never a temporary file
                             max_form_memory_size=64 * 1024, max_form_parts=limits.max_files + 16)
    try:
        # off the hub: parsing megabytes of multipart in Python takes a while
        form, files = tpool.execute(parser.parse, io.BytesIO(raw), boundary.encode("latin-1"), len(raw))
    except RequestEntityTooLarge:
        raise too_large from None
    except (ValueError, UnicodeError):
        raise HttpError(400, "malformed_multipart", MALFORMED) from None
    # a part may come without a usable name (None): still just an unknown field
    unknown = {str(k)[:64] for k in form if k != "receipt"} | {str(k)[:64] for k in files if k != "file"}
    if unknown:
        raise HttpError(400, "validation_failed", REFUSED, {k: [UNKNOWN_FIELD] for k in sorted(unknown)})
    uploads = []
    for part in files.getlist("file"):
        data = part.stream.read()
        if not part.filename and not data:  # a browser's empty file input
            continue
        uploads.append((part.filename, data))
    return {"receipt": form.get("receipt")} if "receipt" in form else {}, uploads


def refused_error(refused: Refused) -> HttpError:
    for refusal in refused.refusals:
        EVIDENCE_REFUSED.labels(refusal.code).inc()
    return HttpError(refused.status, refused.code, REFUSED, refused.fields())


def seal_original(vault_public_key: bytes, original: bytes) -> bytes:
    return SealedBox(PublicKey(vault_public_key)).encrypt(original)


def batches(items: list[dict], max_bytes: int):
    """Consecutive groups of items whose content stays under ``max_bytes`` (at least one item each)."""
    group, size = [], 0
    for item in items:
        if group and size + item["size"] > max_bytes:
            yield group
            group, size = [], 0
        group.append(item)
        size += item["size"]
    if group:
        yield group


def _upload_evidence(self, request):
    """``POST /api/v1/reports/evidence`` (multipart: ``receipt``, ``file``...)."""
    from .service import answer_no_sooner

    with answer_no_sooner():
        limits = Limits.from_env()
        fields, files = read_upload(request, limits)
        return json_response(201, self.accept_evidence(fields, files, limits))


class EvidenceMixin:
    """The evidence entrypoints, attached to the concrete service class only.

    ``nameko run peluit_intake.service`` treats every class in that module's
    namespace that has entrypoints as a service of its own, and refuses one
    without a ``name``: a mixin imported there by name must not carry the
    decorated methods itself (``nameko run peluit_intake.service:IntakeService``
    would avoid that too). ``__init_subclass__`` puts them on ``IntakeService``."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not hasattr(cls, "upload_evidence"):
            cls.upload_evidence = http("POST", "/api/v1/reports/evidence")(json_endpoint(_upload_evidence))

    def accept_evidence(self, fields: dict, files: list[tuple[str | None, bytes]], limits: Limits | None = None) -> dict:
        """One upload for the case the receipt opens: the reporter's reply, or an ``HttpError``."""
        from .service import VALIDATION_FAILED

        limits = limits or Limits.from_env()
        try:
            receipt = ReceiptSchema().load(fields)["receipt"]
        except ValidationError as err:
            raise HttpError(400, "validation_failed", VALIDATION_FAILED, bilingual_errors(err.messages)) from None
        with _upload_slots():
            try:  # the files first: a bad file is refused before the receipt is even looked up
                detected = tpool.execute(evidence.check_all, files, limits)
            except Refused as refused:
                raise refused_error(refused) from None
            receipt_hash = tpool.execute(self.secrets.receipts.lookup_hash, receipt)
            return self._store_evidence_checked(receipt_hash, files, detected, limits)

    def _store_evidence(self, receipt_hash: str, uploads: list, limits: Limits | None = None) -> dict:
        """For the portal, which keeps the receipt's hash in its session: ``uploads``
        are ``(name, bytes)`` pairs or werkzeug ``FileStorage`` parts. Raises
        ``HttpError`` (with ``fields`` file by file) when anything is refused."""
        limits = limits or Limits.from_env()
        files = [u if isinstance(u, tuple) else (u.filename, u.stream.read()) for u in uploads]
        with _upload_slots():
            try:
                detected = tpool.execute(evidence.check_all, files, limits)
            except Refused as refused:
                raise refused_error(refused) from None
            return self._store_evidence_checked(receipt_hash, files, detected, limits)

    def _evidence_target(self, receipt_hash: str) -> dict:
        from .service import NOT_FOUND, UNAVAILABLE, _call

        target = _call(self.cases.evidence_target, receipt_hash)
        if target.get("error") == "not_found":
            raise HttpError(404, "not_found", NOT_FOUND)
        if target.get("error") == "case_closed":
            raise HttpError(409, "case_closed", CASE_CLOSED)
        if target.get("error"):
            log.error("cases refused an evidence lookup: %s", target["error"])
            raise HttpError(500, "internal_error", UNAVAILABLE)
        return target

    def attach_channel_evidence(self, receipt: str, files: list[tuple[str | None, bytes]]) -> list[dict]:
        """Attachments of a report that came by e-mail or WhatsApp, after it was
        registered: the same checks, stripping and sealing as an upload, but a
        refused file never refuses the others (nor the report). Returns the
        refusals (``{"n", "code", "id", "en"}``, by position only); raises
        ``HttpError`` (>= 500: retry the whole delivery) when storing fails."""
        limits = Limits.from_env()
        if not files:
            return []
        with _upload_slots():
            checked, refusals = tpool.execute(evidence.check_each, files, limits)
            if checked:
                receipt = ReceiptSchema().load({"receipt": receipt})["receipt"]  # as the status page normalises it
                receipt_hash = tpool.execute(self.secrets.receipts.lookup_hash, receipt)
                target = self._evidence_target(receipt_hash)
                prepared, failed = tpool.execute(evidence.strip_each, checked, limits)
                refusals += failed
                kept, files_left, bytes_left = [], target["files_left"], target["bytes_left"]
                for p in prepared:
                    if files_left < 1 or len(p.stripped) > bytes_left:
                        refusals.append(evidence.Refusal("evidence_quota", p.index))
                        continue
                    files_left, bytes_left = files_left - 1, bytes_left - len(p.stripped)
                    kept.append(p)
                if kept:
                    self._store_prepared(receipt_hash, target, kept, limits)
        for refusal in refusals:
            EVIDENCE_REFUSED.labels(refusal.code).inc()
        return [{"n": r.index, **r.message()} for r in sorted(refusals, key=lambda r: r.index or 0)]

    def _store_evidence_checked(self, receipt_hash: str, files: list[tuple[str | None, bytes]],
                                detected: list, limits: Limits) -> dict:
        target = self._evidence_target(receipt_hash)
        if len(files) > target["files_left"]:
            EVIDENCE_REFUSED.labels("evidence_quota").inc()
            raise HttpError(413, "evidence_quota", QUOTA)
        try:
            prepared = tpool.execute(evidence.strip_all, files, detected, limits)
        except Refused as refused:
            raise refused_error(refused) from None
        if sum(len(p.stripped) for p in prepared) > target["bytes_left"]:
            EVIDENCE_REFUSED.labels("evidence_quota").inc()
            raise HttpError(413, "evidence_quota", QUOTA)
        self._store_prepared(receipt_hash, target, prepared, limits)
        return {"evidence": [{"label": p.label, "mime": p.mime, "size": len(p.original)} for p in prepared],
                "message": ACCEPTED}

    def _store_prepared(self, receipt_hash: str, target: dict, prepared: list, limits: Limits) -> None:
        from .service import NOT_FOUND, UNAVAILABLE, _call

        # Every file passed: from here on things are stored. The originals first, in the vault
        # (idempotent per case and file), then the stripped copies on the case (idempotent per
        # evidence_id): a failure in between is a 503 or 500 and the same upload can be sent again.
        items = []
        for p in prepared:
            sealed = tpool.execute(seal_original, self.secrets.vault_public_key, p.original)
            stored = _call(self.vault.store_evidence_original, {
                "version": EVIDENCE_RPC_VERSION, "case_id": target["case_id"], "tenant": target["tenant"],
                "mime": p.mime, "sealed_original": base64.b64encode(sealed).decode()})
            del sealed
            if "error" in stored:
                log.error("vault refused an evidence original: %s", stored["error"])
                raise HttpError(500, "internal_error", UNAVAILABLE)
            items.append({"label": p.label, "mime": p.mime, "size": len(p.stripped), "sha256": p.sha256,
                          "original_ref": stored["original_ref"],
                          "content": base64.b64encode(p.stripped).decode()})
        per_call = env_int("PELUIT_EVIDENCE_RPC_BATCH_BYTES", limits.max_file_bytes)
        for batch in batches(items, per_call):
            result = _call(self.cases.add_evidence, receipt_hash, batch, EVIDENCE_RPC_VERSION)
            error = result.get("error")
            if error == "case_closed":
                raise HttpError(409, "case_closed", CASE_CLOSED)
            if error == "evidence_quota":
                raise HttpError(413, "evidence_quota", QUOTA)
            if error == "not_found":
                raise HttpError(404, "not_found", NOT_FOUND)
            if error:
                log.error("cases refused evidence: %s", error)
                raise HttpError(500, "internal_error", UNAVAILABLE)
        for p in prepared:
            EVIDENCE_ACCEPTED.labels(p.mime).inc()
