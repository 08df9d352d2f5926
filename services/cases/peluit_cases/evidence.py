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
from dataclasses import dataclass
from uuid import UUID, uuid5

from marshmallow import ValidationError

from peluit_common.db import apply_schema
from peluit_common.settings import env_int
from peluit_contracts.evidence import EVIDENCE_RPC_VERSION, AddEvidenceCommand

from . import content
from .access import Access, AccessDenied, Actor, PgDirectory
from .disclosure_api import remember, requester_context
from .domain import TERMINAL, Case, DomainError
from .vault import VaultClient, summary

NS_EVIDENCE = UUID("5c0d8a4e-3f6b-4d59-9a57-8a3e7c1b2f05")

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
-- the bytes sealed under this item key of the case (``content.seal_blob``); null: stored in clear before that
ALTER TABLE evidence_blob ADD COLUMN IF NOT EXISTS item_id text;
"""


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


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
    # "files": how many it holds, so intake numbers the next labels on (lampiran-<files + 1>...)
    return {"case_id": str(case.id), "tenant": case.tenant, "files_left": max(0, max_files - files),
            "bytes_left": max(0, max_bytes - size), "files": files}


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
    # 1) the bytes, sealed under the case's content keys (committed before the event exists)
    try:
        sealed = [(i, *content.seal_blob(app, case.id, i["evidence_id"], i["content"])) for i in fresh]
    except content.ContentEnded:
        return {"error": "case_closed"}
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO evidence_blob (evidence_id, case_id, sha256, mime, size, bytes, item_id)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (evidence_id) DO NOTHING",
            [(i["evidence_id"], case.id, i["sha256"], i["mime"], i["size"], data, item_id)
             for i, item_id, data in sealed])
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


def _not_found() -> AccessDenied:
    return AccessDenied("not_found", text="evidence_not_found")


def _item(case: Case, raw_id: str) -> dict:
    try:
        wanted = str(UUID(raw_id))
    except ValueError:
        raise _not_found() from None
    item = next((e for e in case.evidence if e.get("evidence_id") == wanted), None)
    if item is None:
        raise _not_found()
    return item


@dataclass(frozen=True)
class StoredCopy:
    label: str
    mime: str
    sha256: str
    data: bytes


def stored_copy(access: Access, conn, actor: Actor, case_id: str, raw_evidence_id: str) -> StoredCopy:
    """The stripped copy of one attachment; reading it is a read of the case
    (tenant wall, access log)."""
    case = access.case(actor, case_id, action="evidence_download")
    item = _item(case, raw_evidence_id)
    with conn.transaction():
        row = conn.execute("SELECT bytes, sha256, mime, item_id FROM evidence_blob"
                           " WHERE evidence_id = %s AND case_id = %s", (item["evidence_id"], case.id)).fetchone()
    if row is None:
        raise _not_found()
    data, sha256, mime, item_id = bytes(row[0]), row[1], row[2], row[3]
    if item_id is not None:
        data = content.open_blob(access.app, case.id, item["evidence_id"], item_id, data)
    if data is None or (item_id is None and not data):  # its key is gone (retention, redaction)
        raise AccessDenied("content_ended")
    if hashlib.sha256(data).hexdigest() != sha256:  # loud: stored bytes changed
        raise RuntimeError("evidence blob does not match its sha256")
    return StoredCopy(label=item["label"], mime=mime, sha256=sha256, data=data)


def request_disclosure(vault: VaultClient, app, db, actor: Actor, case_id: str, raw_evidence_id: str,
                       args: dict) -> dict:
    """Ask the vault for the untouched original of one attachment: the same
    dual control as an identity (the case's team or inspektur files, k other
    inspekturs approve with a fresh TOTP, one sealed view); works for
    anonymous reports too."""
    with db.connection() as conn:
        case = Access(app, PgDirectory(conn)).case(actor, case_id, action="evidence_disclosure_request",
                                                      require=Access.require_disclosure_requester)
        context = requester_context(conn, actor, case.handling_tenant)
    item = _item(case, raw_evidence_id)
    reply = vault.request_disclosure(actor, case_id=str(case.id), original_ref=item["original_ref"],
                                     tenant=case.handling_tenant, reason=args["reason"],
                                     legal_basis=args["legal_basis"], context=context)
    remember(db, reply)
    return {**summary(reply), "subject": "evidence", "evidence_id": item["evidence_id"]}
