"""Evidence on a case: the metadata-stripped copies investigators work on.

- intake checks and strips each file, seals the untouched original to the
  identity vault (which answers an opaque ``original_ref``), then calls
  ``add_evidence(receipt_hash, items)`` here with the stripped bytes;
- the bytes go to ``evidence_blob`` (a plain table in the cases database),
  the metadata to the case as a ``Case.EvidenceAdded`` event (never the bytes);
- officers list evidence in the case document and download a copy through the
  same tenant wall and access log as reading the case; the original only
  through the vault's dual-control disclosure (``subject: evidence``).
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from uuid import UUID, uuid5

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from peluit_common.auth import OfficerClaims
from peluit_common.settings import env_int
from peluit_common.web import SECURITY_HEADERS, HttpError
from peluit_contracts.disclosure import DisclosureRequestBody
from peluit_contracts.evidence import EVIDENCE_RPC_VERSION, AddEvidenceCommand
from peluit_contracts.i18n import bilingual_errors

from . import disclosure_api, officer_api
from .domain import TERMINAL, Case, DomainError

NS_EVIDENCE = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f05")
EVIDENCE_NOT_FOUND = {"id": "Bukti tidak ditemukan.", "en": "Evidence not found."}

SCHEMA = """
CREATE TABLE IF NOT EXISTS evidence_blob (
    evidence_id uuid PRIMARY KEY,
    case_id uuid NOT NULL,
    sha256 text NOT NULL,
    mime text NOT NULL,
    size integer NOT NULL,
    bytes bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS evidence_blob_case_idx ON evidence_blob (case_id);
"""


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute(SCHEMA)


def evidence_id(case_id: UUID, sha256: str) -> UUID:
    """Deterministic: the same stripped copy on the same case is one piece of evidence."""
    return uuid5(NS_EVIDENCE, f"{case_id}:{sha256}")


def quota() -> tuple[int, int]:
    """(files, bytes) a case may hold in total."""
    return (env_int("PELUIT_EVIDENCE_MAX_CASE_FILES", 50),
            env_int("PELUIT_EVIDENCE_MAX_CASE_BYTES", 250 * 1000 * 1000))


def _valid_hash(receipt_hash) -> bool:
    return isinstance(receipt_hash, str) and bool(re.fullmatch(r"[0-9a-f]{64}", receipt_hash))


def _usage(case: Case) -> tuple[int, int]:
    items = [e for e in case.evidence if "evidence_id" in e]
    return len(items), sum(e["size"] for e in items)


# -- RPCs from intake -------------------------------------------------------------------

def target(app, receipt_hash) -> dict:
    """``evidence_target``: which case a receipt opens and what room is left
    on it, so intake refuses before it stores anything in the vault."""
    if not _valid_hash(receipt_hash):
        return {"error": "not_found"}
    case = app.case_for_receipt(receipt_hash)
    if case is None:
        return {"error": "not_found"}
    if case.status in TERMINAL:
        return {"error": "case_closed"}
    files, size = _usage(case)
    max_files, max_bytes = quota()
    return {"case_id": str(case.id), "tenant": case.tenant, "files_left": max(0, max_files - files),
            "bytes_left": max(0, max_bytes - size)}


def add(app, pool, receipt_hash, items, version=EVIDENCE_RPC_VERSION) -> dict:
    """``add_evidence``: store the stripped copies, then record them on the case.

    Two writes, in this order on purpose: the blobs first (idempotent, keyed by
    the deterministic evidence_id), the ``EvidenceAdded`` event second. A crash
    in between leaves at worst an orphan blob that a retry adopts (same id) and
    that no event points at; never an event pointing at bytes that do not exist.
    """
    if version != EVIDENCE_RPC_VERSION:
        return {"error": "unsupported_version"}
    try:
        cmd = AddEvidenceCommand().load({"version": version, "receipt_hash": receipt_hash, "items": items})
    except (ValidationError, TypeError, ValueError):
        return {"error": "invalid_command"}
    if any(hashlib.sha256(i["content"]).hexdigest() != i["sha256"] for i in cmd["items"]):
        return {"error": "invalid_command"}
    case = app.case_for_receipt(cmd["receipt_hash"])
    if case is None:
        return {"error": "not_found"}
    if case.status in TERMINAL:
        return {"error": "case_closed"}
    rows, seen = [], set()
    for item in cmd["items"]:
        item["evidence_id"] = str(evidence_id(case.id, item["sha256"]))
        if item["evidence_id"] not in seen:
            seen.add(item["evidence_id"])
            rows.append(item)
    known = {e.get("evidence_id") for e in case.evidence}
    fresh = [i for i in rows if i["evidence_id"] not in known]
    files, size = _usage(case)
    max_files, max_bytes = quota()
    if files + len(fresh) > max_files or size + sum(i["size"] for i in fresh) > max_bytes:
        return {"error": "evidence_quota"}
    # 1) the bytes (committed before the event exists)
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO evidence_blob (evidence_id, case_id, sha256, mime, size, bytes)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (evidence_id) DO NOTHING",
            [(i["evidence_id"], case.id, i["sha256"], i["mime"], i["size"], i["content"]) for i in fresh])
    # 2) the event, metadata only
    try:
        case = app.add_evidence(cmd["receipt_hash"], [{k: v for k, v in i.items() if k != "content"} for i in rows])
    except DomainError as err:
        return {"error": err.code}
    if case is None:
        return {"error": "not_found"}
    return {"status": case.status, "evidence": [
        {"evidence_id": i["evidence_id"], "label": i["label"], "mime": i["mime"], "size": i["size"]} for i in rows]}


# -- officers ---------------------------------------------------------------------------

def listing(case: Case) -> list[dict]:
    """The case document's evidence: metadata and where to download the copy."""
    return [{**{k: e.get(k) for k in ("evidence_id", "label", "mime", "size", "sha256", "original_ref", "added_at")},
             "download": f"/api/v1/cases/{case.id}/evidence/{e['evidence_id']}"}
            for e in case.evidence if "evidence_id" in e]


def _item(case: Case, raw_id: str) -> dict:
    try:
        wanted = str(UUID(raw_id))
    except ValueError:
        raise HttpError(404, "not_found", EVIDENCE_NOT_FOUND) from None
    item = next((e for e in case.evidence if e.get("evidence_id") == wanted), None)
    if item is None:
        raise HttpError(404, "not_found", EVIDENCE_NOT_FOUND)
    return item


def content_disposition(label: str) -> str:
    """``attachment`` with an ASCII fallback and the UTF-8 label (RFC 6266 / 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", label)[:120] or "bukti"
    return f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{urllib.parse.quote(label, safe="")}'


def download(app, conn, claims: OfficerClaims, case_id: str, raw_evidence_id: str) -> Response:
    """The stripped copy, as an attachment the browser will neither sniff nor
    render: ``nosniff``, ``Content-Security-Policy: sandbox``. Reading it is a
    read of the case (tenant wall, access log)."""
    case = officer_api.load_visible_case(app, conn, claims, case_id, action="evidence_download")
    item = _item(case, raw_evidence_id)
    with conn.transaction():
        row = conn.execute("SELECT bytes, sha256, mime FROM evidence_blob WHERE evidence_id = %s AND case_id = %s",
                           (item["evidence_id"], case.id)).fetchone()
    if row is None:
        raise HttpError(404, "not_found", EVIDENCE_NOT_FOUND)
    data, sha256, mime = bytes(row[0]), row[1], row[2]
    if hashlib.sha256(data).hexdigest() != sha256:  # loud: stored bytes changed
        raise RuntimeError("evidence blob does not match its sha256")
    headers = dict(SECURITY_HEADERS)
    headers.update({
        "Content-Disposition": content_disposition(item["label"]),
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
        "ETag": f'"{sha256}"',
    })
    content_type = "text/plain; charset=utf-8" if mime == "text/plain" else mime
    return Response(data, status=200, content_type=content_type, headers=headers)


def request_disclosure(vault, timeout: float, app, db, claims: OfficerClaims, token: str, case_id: str,
                       raw_evidence_id: str, body: dict) -> dict:
    """Ask the vault for the untouched original of one attachment: the same
    dual control as an identity (investigator files, another inspektur approves
    with a fresh TOTP, one sealed view); works for anonymous reports too."""
    with db.connection() as conn:
        case = officer_api.load_visible_case(app, conn, claims, case_id, action="evidence_disclosure_request")
    item = _item(case, raw_evidence_id)
    try:
        args = DisclosureRequestBody().load(body)
    except ValidationError as err:
        raise HttpError(400, "validation_failed", officer_api.INVALID, bilingual_errors(err.messages)) from None
    reply = disclosure_api.call_vault(vault, "request_disclosure", {
        "token": token, "case_id": str(case.id), "reporter_ref": None, "subject": "evidence",
        "original_ref": item["original_ref"], "tenant": case.handling_tenant, "reason": args["reason"],
        "legal_basis": args["legal_basis"]}, timeout)
    return {**disclosure_api._summary(reply), "subject": "evidence", "evidence_id": item["evidence_id"]}


# -- OpenAPI -------------------------------------------------------------------------------

_error = {"$ref": "#/components/schemas/Error"}
_case_and_evidence = [
    {"name": "case_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
    {"name": "evidence_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
]
OPENAPI_PATHS = {
    "/api/v1/cases/{case_id}/evidence/{evidence_id}": {"get": {
        "summary": "Download the metadata-stripped copy of one attachment (recorded in the case's access log). "
                   "Sent as an attachment with nosniff and Content-Security-Policy: sandbox",
        "security": [{"bearer": []}], "parameters": _case_and_evidence,
        "responses": {
            "200": {"description": "The stripped copy; Content-Type is the type detected from its content",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
            "401": {"description": "Missing, invalid or expired token", "content": {"application/json": {"schema": _error}}},
            "404": {"description": "No such case or evidence, or outside your tenant (recorded)",
                    "content": {"application/json": {"schema": _error}}}}}},
    "/api/v1/cases/{case_id}/evidence/{evidence_id}/disclosure-requests": {"post": {
        "summary": "Request the untouched original of one attachment (investigator of the case's tenant); "
                   "then approve/refuse/view as for an identity: the view returns `sealed_original`",
        "security": [{"bearer": []}], "parameters": _case_and_evidence,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": False, "required": ["reason", "legal_basis"],
            "properties": {"reason": {"type": "string", "minLength": 10, "maxLength": 2000},
                           "legal_basis": {"type": "string",
                                           "enum": ["lpsk_protection", "proven_slander", "court_order"]}}}}}},
        "responses": {
            "201": {"description": "Filed", "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Disclosure"}}}},
            "400": {"description": "Invalid fields", "content": {"application/json": {"schema": _error}}},
            "401": {"description": "Missing, invalid or expired token", "content": {"application/json": {"schema": _error}}},
            "403": {"description": "Not an investigator of the case's tenant", "content": {"application/json": {"schema": _error}}},
            "404": {"description": "No such case or evidence", "content": {"application/json": {"schema": _error}}},
            "503": {"description": "The identity vault cannot be reached", "content": {"application/json": {"schema": _error}}}}}},
}
