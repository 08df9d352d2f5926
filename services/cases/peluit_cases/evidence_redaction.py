"""Redacting a stripped evidence copy: black out a region of an image, drop
a page of a PDF. The new copy replaces the old one in ``evidence_blob`` and
the old copy is sealed into the vault (as ``redaction_api`` seals a passage),
so an un-redaction is the same dual-control disclosure. The event records the
old copy's sha256 (already in the history) and the vault's ``original_ref``.
"""

from __future__ import annotations

import hashlib
import io

import pikepdf
from PIL import Image, ImageDraw

from . import content, evidence, redaction
from .access import Access
from .redaction import require
from .redaction_api import walls

IMAGE_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
PDF = "application/pdf"
MAX_PIXELS = 50_000_000


def black_out(data: bytes, mime: str, region: dict) -> bytes:
    """The image with ``region`` (clipped to it) painted black, re-encoded without metadata."""
    fmt = IMAGE_FORMATS[mime]
    with Image.open(io.BytesIO(data), formats=[fmt]) as img:
        require(img.size[0] * img.size[1] <= MAX_PIXELS, "redaction_unsupported")
        img.load()
        width, height = img.size
        box = (region["x"], region["y"], min(width, region["x"] + region["width"]),
               min(height, region["y"] + region["height"]))
        require(box[0] < width and box[1] < height, "region_outside")
        out_img = img.convert("RGB") if img.mode not in ("L", "RGB", "RGBA") else img.copy()
    ImageDraw.Draw(out_img).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill="black")
    out_img.info = {}
    out = io.BytesIO()
    if fmt == "JPEG" and out_img.mode == "RGBA":
        out_img = out_img.convert("RGB")
    out_img.save(out, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return out.getvalue()


def drop_page(data: bytes, page: int) -> bytes:
    """The PDF without its ``page`` (1-based); a single page cannot go (drop the evidence's use instead)."""
    with pikepdf.open(io.BytesIO(data)) as pdf:
        require(1 <= page <= len(pdf.pages) and len(pdf.pages) > 1, "page_outside")
        del pdf.pages[page - 1]
        pdf.remove_unreferenced_resources()
        out = io.BytesIO()
        pdf.save(out, linearize=False)  # a full rewrite: the dropped page's objects are not kept
    return out.getvalue()


def redacted_copy(data: bytes, mime: str, body: dict) -> bytes:
    if "region" in body:
        require(mime in IMAGE_FORMATS, "redaction_unsupported")
        return black_out(data, mime, body["region"])
    require(mime == PDF, "redaction_unsupported")
    return drop_page(data, body["page"])


def redact_evidence(app, pool, directory_of, sealer, actor, case_id: str, raw_evidence_id: str,
                    expected_version: int, body: dict):
    """``POST /api/v1/cases/{case_id}/evidence/{evidence_id}/redactions``: (the case after, the passages)."""
    with pool.connection() as conn:
        directory = directory_of(conn)
        case = walls(app, directory, actor, case_id, expected_version, "redact_evidence")
        redaction.require(bool(body["reason"].strip()), "reason_required")
        evidence_id = evidence._item(case, raw_evidence_id)["evidence_id"]
        old = evidence.stored_copy(Access(app, directory), conn, actor, case_id, evidence_id)
    new = redacted_copy(old.data, old.mime, body)
    ref = sealer.seal(case.id, case.handling_tenant, old.data, mime=old.mime)
    sha256 = hashlib.sha256(new).hexdigest()
    where = {k: body[k] for k in ("region", "page") if k in body}
    passages = [{**where, "sha256": old.sha256, "original_ref": ref}]
    target = {"kind": "evidence", "evidence_id": evidence_id, "sha256": sha256, "size": len(new)}
    _replace(app, pool, case.id, evidence_id, new)
    try:
        case = app.execute(case.id, expected_version, "redact", actor.record(), target=target,
                           reason=body["reason"], passages=passages, text=None)
    except Exception:
        _replace(app, pool, case.id, evidence_id, old.data)  # no event: the old copy again, under a new key
        raise
    return case, passages


def _replace(app, pool, case_id, evidence_id: str, data: bytes) -> None:
    """The stored copy becomes ``data``: the key of the one before is destroyed
    (content.forget_field), so its ciphertext, in backups too, opens nowhere."""
    try:
        content.forget_field(app, case_id, 0, content.evidence_path(evidence_id))
    except content.NotSealed:
        pass  # a copy stored in clear before content encryption: the UPDATE below overwrites it
    item_id, sealed = content.seal_blob(app, case_id, evidence_id, data)
    with pool.connection() as conn, conn.transaction():
        conn.execute("UPDATE evidence_blob SET bytes = %s, sha256 = %s, size = %s, item_id = %s "
                     "WHERE evidence_id = %s AND case_id = %s",
                     (sealed, hashlib.sha256(data).hexdigest(), len(data), item_id, evidence_id, case_id))
