"""Disclosure of a reporter's identity under dual control (v1).

HTTP bodies of the officer API on cases, and the cases -> identity-vault RPC
commands. Every command carries a vault-call token (``peluit_common.vault_call``)
that cases signs for that one command after checking the officer's session:
never the officer's own bearer token, which does not cross the broker. No
schema here carries an identity; the one reply that does (``view``) carries it
sealed to the requesting officer's X25519 key.
"""

from __future__ import annotations

import base64
import binascii

from marshmallow import ValidationError, fields, validate

from .fields import Bool, Int, Pattern, Strict, Text
from .i18n import encode
from .officer_api import Query, Reply
from .reports import tenant_field

DISCLOSURE_RPC_VERSION = 1

# LPSK protection request, slander proven under the applicable regulation, court order
LEGAL_BASES = ("lpsk_protection", "proven_slander", "court_order")
SUBJECTS = ("identity", "evidence")

# how the one view is sealed to the officer's key: a libsodium sealed box, or an ephemeral X25519 key, HKDF-SHA256
# and AES-256-GCM, which a browser opens with WebCrypto alone (the vault's crypto.seal_for_browser)
SEALED_BOX = "sealed_box"
BROWSER_FORMAT = "x25519-hkdf-sha256-aes-256-gcm"
SEALING_FORMATS = (SEALED_BOX, BROWSER_FORMAT)
DISCLOSURE_STATUSES = ("pending", "approved", "refused", "expired", "viewed")

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
REPORTER_REF_RE = r"[A-Za-z0-9_\-]{20,64}"
TOKEN_RE = r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*"
PUBLIC_KEY_BYTES = 32


class PublicKey(Text):
    """An X25519 public key, standard or URL-safe base64; loads as the base64 text."""

    def __init__(self, **kwargs):
        super().__init__(multiline=False, max_len=64, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            raw = base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(encode("public_key")) from None
        # an all-zero key is a low-order point: a box to it would be readable by anyone
        if len(raw) != PUBLIC_KEY_BYTES or raw == bytes(PUBLIC_KEY_BYTES):
            raise ValidationError(encode("public_key"))
        return base64.b64encode(raw).decode()


def _legal_basis(**kwargs):
    return Pattern("|".join(LEGAL_BASES), "legal_basis", max_len=32, **kwargs)


# -- HTTP bodies (officer API on cases :8001) ---------------------------------

class DisclosureRequestBody(Strict):
    """``POST /api/v1/cases/{case_id}/disclosure-requests`` (investigator)."""

    reason = Text(required=True, min_len=10, max_len=2000)
    legal_basis = _legal_basis(required=True)


class ApproveBody(Strict):
    """``POST /api/v1/disclosure-requests/{id}/approve`` (inspektur): a fresh TOTP code."""

    totp = Pattern(r"\d{6}", "code", required=True, max_len=6)


class RefuseBody(Strict):
    """``POST /api/v1/disclosure-requests/{id}/refuse`` (inspektur)."""

    reason = Text(required=True, max_len=2000)


class DisclosureTrailQuery(Query):
    """``GET /api/v1/disclosure-events?tenant=`` (auditor with a grant, the tenant's inspektur)."""

    tenant = tenant_field(required=True)


def _format(**kwargs):
    return Pattern("|".join(SEALING_FORMATS), "code", load_default=SEALED_BOX, max_len=40, **kwargs)


class ViewBody(Strict):
    """``POST /api/v1/disclosure-requests/{id}/view`` (the requester): the key
    of the officer's own client; the identity comes back sealed to it."""

    public_key = PublicKey(required=True, metadata={"pattern": "^[A-Za-z0-9+/_-]{43}=?$",
                                                     "description": "32-byte X25519 public key, base64"})
    format = _format(metadata={"description": f"{SEALED_BOX}: a libsodium sealed box (the default); {BROWSER_FORMAT}:"
                                              " what a browser opens with WebCrypto alone (docs/officer-api.md)"})


# -- RPC commands (cases -> identity_vault) ------------------------------------

class _Command(Strict):
    version = Int(required=True)
    token = Pattern(TOKEN_RE, "code", required=True, max_len=8192)  # a vault-call token



class RequestDisclosureCommand(_Command):
    """``request_disclosure``: cases adds the case's reporter_ref and handling tenant.

    ``subject`` (added compatibly, default ``identity``): ``evidence`` asks for
    the sealed original of one attachment, named by its ``original_ref``; such
    a request needs no reporter_ref (anonymous reports have originals too)."""

    case_id = Pattern(UUID_RE, "code", required=True, max_len=36)
    reporter_ref = Pattern(REPORTER_REF_RE, "code", allow_none=True, load_default=None, max_len=64)
    subject = Pattern("|".join(SUBJECTS), "code", load_default="identity", max_len=16)
    original_ref = Pattern(REPORTER_REF_RE, "code", allow_none=True, load_default=None, max_len=64)
    tenant = tenant_field(required=True)
    reason = Text(required=True, min_len=10, max_len=2000)
    legal_basis = _legal_basis(required=True)


class ApproveDisclosureCommand(_Command):
    """``approve_disclosure``: the call token must say ``step_up`` (cases checked a fresh TOTP code)."""

    request_id = Pattern(UUID_RE, "code", required=True, max_len=36)


class RefuseDisclosureCommand(_Command):
    request_id = Pattern(UUID_RE, "code", required=True, max_len=36)
    reason = Text(required=True, max_len=2000)


class ViewDisclosureCommand(_Command):
    request_id = Pattern(UUID_RE, "code", required=True, max_len=36)
    public_key = PublicKey(required=True)
    format = _format()


class DisclosureEventsQuery(_Command):
    """``disclosure_events``: the trail of one tenant, never an identity."""

    tenant = tenant_field(required=True)


# -- HTTP replies (documentation of what the officer API answers) ---------------

class DisclosureReply(Reply):
    """A disclosure request as officers see it (never an identity, never the reporter_ref)."""

    request_id = fields.UUID(required=True)
    case_id = fields.UUID(required=True)
    tenant = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(DISCLOSURE_STATUSES))
    legal_basis = fields.String(required=True, validate=validate.OneOf(LEGAL_BASES))
    expires_at = fields.DateTime(required=True)
    view_until = fields.DateTime(required=True, allow_none=True)
    reporter_notified = fields.Boolean(metadata={"description": "identity requests: told in the case's dialogue"})
    subject = fields.String(validate=validate.OneOf(SUBJECTS))
    evidence_id = fields.UUID()


class SealedView(Reply):
    """The one view: the identity (JSON) or an attachment's original, sealed to the requester's key:
    ``sealed_identity`` / ``sealed_original`` (sealed box), or ``ephemeral_public_key``, ``nonce`` and
    ``ciphertext`` (the browser format). An original that had a file name of its own also carries it,
    sealed separately: ``sealed_name`` / ``name``."""

    request_id = fields.UUID(required=True)
    sealed_identity = fields.String(metadata={"contentEncoding": "base64"})
    subject = fields.String(validate=validate.OneOf(["evidence"]))
    original_ref = fields.String()
    sealed_original = fields.String(metadata={"contentEncoding": "base64"})
    sealed_name = fields.String(metadata={"contentEncoding": "base64",
                                          "description": "the original's own file name (UTF-8), sealed the same way"})
    name = fields.Dict(metadata={"description": "browser format: the original's own file name (UTF-8) as its own "
                                                "ephemeral_public_key, nonce and ciphertext"})
    format = fields.String(required=True)
    ephemeral_public_key = fields.String(metadata={"contentEncoding": "base64", "description": "X25519, 32 bytes"})
    nonce = fields.String(metadata={"contentEncoding": "base64", "description": "AES-GCM nonce, 12 bytes"})
    ciphertext = fields.String(metadata={"contentEncoding": "base64",
                                         "description": "AES-256-GCM ciphertext with its 16-byte tag at the end"})


class TrailEvent(Reply):
    type = fields.String(required=True)
    at = fields.DateTime(required=True)
    by = fields.Dict(required=True, allow_none=True)


class DisclosureTrail(Reply):
    tenant = fields.String(required=True)
    events = fields.List(fields.Nested(TrailEvent), required=True)


# -- disclosure lists (the desk) --------------------------------------------------------------

class DisclosureListQuery(Query):
    """``GET /api/v1/disclosure-requests``: an inspektur's tenant, a requester's own, an auditor's granted tenant."""

    tenant = tenant_field(metadata={"description": "default: the officer's own tenant"})
    status = Pattern("|".join(DISCLOSURE_STATUSES), "code", max_len=10)
    mine = Bool(load_default=False, metadata={"description": "only the requests the officer filed"})


class ListDisclosuresCommand(_Command):
    """``list_disclosures``: ``audited`` says cases checked a live audit grant for ``tenant``."""

    tenant = tenant_field(required=True)
    status = Pattern("|".join(DISCLOSURE_STATUSES), "code", allow_none=True, load_default=None, max_len=10)
    mine = Bool(load_default=False)
    audited = Bool(load_default=False)


class DisclosureListItem(Reply):
    """A request as the list shows it: never an identity or a reporter_ref; ``reason`` only to
    inspekturs and auditors."""

    request_id = fields.UUID(required=True)
    case_id = fields.UUID(required=True)
    registration_number = fields.String(required=True, allow_none=True)
    tenant = fields.String(required=True)
    subject = fields.String(required=True, validate=validate.OneOf(SUBJECTS))
    original_ref = fields.String(required=True, allow_none=True)
    legal_basis = fields.String(required=True, validate=validate.OneOf(LEGAL_BASES))
    status = fields.String(required=True, validate=validate.OneOf(DISCLOSURE_STATUSES))
    requested_by = fields.Dict(required=True)
    requested_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    view_until = fields.DateTime(required=True, allow_none=True)
    reason = fields.String(metadata={"description": "inspekturs and auditors only"})


class DisclosureList(Reply):
    items = fields.List(fields.Nested(DisclosureListItem), required=True)
