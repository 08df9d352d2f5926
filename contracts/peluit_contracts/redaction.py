"""Redaction (v1): the officer API's request bodies for masking passages of
a case's text or a region of an evidence copy, and its reply. The passages
themselves never travel back: the vault keeps them, disclosed under dual
control (``disclosure.DisclosureRequestBody`` on the redaction's ``original_ref``)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from .fields import Int, Nested, Pattern, Strict, Text
from .i18n import encode
from .officer_api import int_range as _range

REPORT_FIELDS = ("what", "where", "when", "who", "how")
MAX_SPANS = 50
MAX_OFFSET = 100_000
MAX_PIXELS = 100_000
MAX_PAGE = 10_000


class RedactionTarget(Strict):
    """What holds the text: a report field, or the message or note written by
    the case event of ``version`` (``event_version`` in the case document)."""

    kind = Pattern("report|message|note", "code", required=True, max_len=10)
    field = Pattern("|".join(REPORT_FIELDS), "code", max_len=10)
    version = Int(validate=_range(1, 1_000_000_000))

    @validates_schema
    def _names_one(self, data, **_):
        if data.get("kind") == "report" and "field" not in data:
            raise ValidationError(encode("required"), "field")
        if data.get("kind") in ("message", "note") and "version" not in data:
            raise ValidationError(encode("required"), "version")


class Span(Strict):
    """Code-point offsets into the target's current text, ``end`` exclusive."""

    start = Int(required=True, validate=_range(0, MAX_OFFSET))
    end = Int(required=True, validate=_range(1, MAX_OFFSET))


class Redact(Strict):
    """``POST /api/v1/cases/{case_id}/redactions`` (penerima, penelaah; If-Match):
    ``spans``, or ``passages`` (every occurrence of each exact text), or both."""

    target = Nested(RedactionTarget, required=True)
    spans = fields.List(Nested(Span), validate=validate.Length(max=MAX_SPANS), load_default=list)
    passages = fields.List(Text(max_len=5000), validate=validate.Length(max=MAX_SPANS), load_default=list)
    reason = Text(required=True, max_len=2000)

    @validates_schema
    def _marks_something(self, data, **_):
        if not data.get("spans") and not data.get("passages"):
            raise ValidationError(encode("required"), "passages")


class Region(Strict):
    """A rectangle of an image in pixels from its top left corner (clipped to the image)."""

    x = Int(required=True, validate=_range(0, MAX_PIXELS))
    y = Int(required=True, validate=_range(0, MAX_PIXELS))
    width = Int(required=True, validate=_range(1, MAX_PIXELS))
    height = Int(required=True, validate=_range(1, MAX_PIXELS))


class RedactEvidence(Strict):
    """``POST /api/v1/cases/{case_id}/evidence/{evidence_id}/redactions`` (If-Match):
    black out a ``region`` of an image, or drop a ``page`` (1-based) of a PDF."""

    region = Nested(Region)
    page = Int(validate=_range(1, MAX_PAGE))
    reason = Text(required=True, max_len=2000)

    @validates_schema
    def _one_kind(self, data, **_):
        if ("region" in data) == ("page" in data):
            raise ValidationError(encode("required"), "region")


class RedactedPassage(Strict):
    start = fields.Integer(required=True)
    end = fields.Integer(required=True)
    hmac = fields.String(required=True, metadata={
        "description": "HMAC-SHA256 of the passage keyed by a random salt sealed with it in the vault"})
    original_ref = fields.String(required=True)


class RedactionResult(Strict):
    case_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True)
    passages = fields.List(fields.Dict(), required=True)
