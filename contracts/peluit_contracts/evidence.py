"""Evidence attachments (v1): the intake -> identity-vault and intake -> cases
RPC payloads, and the types Peluit accepts.

The reporter's *original* file may identify them (EXIF GPS, a PDF's author,
an Office document's ``creator``): it crosses the broker only as a libsodium
sealed box to the vault's public key, and lives only in the vault, encrypted.
Cases receives the metadata-stripped copy investigators work on, plus the
vault's opaque ``original_ref``; no schema here carries an original in clear.

Base64 in an RPC payload: a file is at most 10 MB (``PELUIT_EVIDENCE_MAX_FILE_BYTES``),
about 13.4 MB as base64, under RabbitMQ's ``max_message_size`` (128 MiB in 3.x,
16 MiB by default from 4.0). Intake sends one original per vault call and
batches stripped copies to cases by size, so no message grows past one file.
"""

from __future__ import annotations

import base64
import binascii
import re

from marshmallow import ValidationError, fields, validates_schema

from .fields import Int, Nested, Pattern, Strict, Text
from .i18n import encode
from .reports import tenant_field

EVIDENCE_RPC_VERSION = 1

# detected type -> (MIME type, file extension); decided by content, never by name
TYPES = {
    "jpeg": ("image/jpeg", ".jpg"),
    "png": ("image/png", ".png"),
    "pdf": ("application/pdf", ".pdf"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"),
    "odt": ("application/vnd.oasis.opendocument.text", ".odt"),
    "ods": ("application/vnd.oasis.opendocument.spreadsheet", ".ods"),
    "text": ("text/plain", ".txt"),
    "mp3": ("audio/mpeg", ".mp3"),
    "m4a": ("audio/mp4", ".m4a"),
}
ALLOWED_MIME = tuple(mime for mime, _ in TYPES.values())
EXTENSION_OF = {mime: ext for mime, ext in TYPES.values()}

# contract bounds (the services' own, configurable limits are at most these)
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ITEMS = 20
LABEL_MAX = 120
ORIGINAL_REF_RE = r"[A-Za-z0-9_\-]{20,64}"
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"



class Base64Bytes(fields.String):
    """Standard base64 text of at most ``max_bytes`` decoded bytes; loads as ``bytes``."""

    def __init__(self, *, max_bytes: int = MAX_FILE_BYTES, **kwargs):
        super().__init__(**kwargs)
        self.max_bytes = max_bytes
        self.error_messages = {key: "invalid" for key in self.error_messages}
        self.error_messages["required"] = "required"
        self.error_messages["null"] = "null"

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > 4 * (self.max_bytes // 3 + 1) + 4:
            raise ValidationError(encode("too_long", max=self.max_bytes))
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(encode("base64")) from None
        if not raw:
            raise ValidationError(encode("blank"))
        return raw


def _mime(**kwargs):
    return Pattern("|".join(re.escape(m) for m in ALLOWED_MIME), "mime", max_len=100, **kwargs)


class StoreEvidenceOriginalCommand(Strict):
    """intake -> identity-vault ``store_evidence_original`` (v1).

    ``sealed_original``: the untouched file as a sealed box to the vault's key.
    ``sealed_name`` (optional): the file's own name, sealed to the same key.
    ``case_id``/``tenant``: the case it belongs to (cases resolved the receipt),
    so the original is disclosed only for that case and shredded with it."""

    version = Int(required=True)
    case_id = Pattern(UUID_RE, "code", required=True, max_len=36)
    tenant = tenant_field(required=True)
    mime = _mime(required=True)
    sealed_original = Base64Bytes(required=True, max_bytes=MAX_FILE_BYTES + 48)
    # the reporter's own file name (it may name them: "Laporan_<name>_<NIP>.docx"), sealed the same way;
    # officers see only the generic label "lampiran-<n>.<ext>"
    sealed_name = Base64Bytes(max_bytes=4 * LABEL_MAX + 48)


class EvidenceItem(Strict):
    """One stripped copy for cases. ``content`` is what investigators download."""

    label = Text(required=True, max_len=LABEL_MAX, multiline=False)
    mime = _mime(required=True)
    size = Int(required=True, strict=True)
    sha256 = Pattern(r"[0-9a-f]{64}", "code", required=True, max_len=64)
    original_ref = Pattern(ORIGINAL_REF_RE, "code", required=True, max_len=64)
    content = Base64Bytes(required=True)

    @validates_schema
    def _size(self, data, **_):
        if "content" in data and "size" in data and len(data["content"]) != data["size"]:
            raise ValidationError(encode("size_mismatch"), "size")


class AddEvidenceCommand(Strict):
    """intake -> cases ``add_evidence`` (v1), authenticated by the receipt's hash."""

    version = Int(required=True)
    receipt_hash = Pattern(r"[0-9a-f]{64}", "code", required=True, max_len=64)
    items = fields.List(Nested(EvidenceItem), required=True)

    @validates_schema
    def _count(self, data, **_):
        items = data.get("items") or []
        if not items or len(items) > MAX_ITEMS:
            raise ValidationError(encode("too_many"), "items")
