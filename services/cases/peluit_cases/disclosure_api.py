"""Disclosure of a reporter's identity, the officer-facing half (cases :8001).

The identity vault decides and records everything; cases only:
- adds what the officer must not see (the case's reporter_ref) when forwarding
  a request, after the usual tenant wall and access log;
- checks the fresh TOTP code of an approval (the secrets live here) and hands
  the vault a 60-second step-up token instead of the officer's own;
- forwards the officer's bearer token, so the vault verifies who acts itself;
- passes the identity through only as the sealed box the vault made for the
  requester's own X25519 key.
"""

from __future__ import annotations

import logging
from uuid import UUID

from marshmallow import ValidationError

from peluit_common.auth import TENANT_RE, OfficerClaims
from peluit_common.rpc import UNAVAILABLE_ERRORS, call
from peluit_common.web import HttpError
from peluit_contracts.disclosure import (
    DISCLOSURE_RPC_VERSION,
    ApproveBody,
    DisclosureRequestBody,
    RefuseBody,
    ViewBody,
)
from peluit_contracts.i18n import bilingual_errors

from . import catalogue, officer_api, officers

log = logging.getLogger(__name__)

STEP_UP_TTL_SECONDS = 60
STEP_UP_CLAIMS = {"amr": ["pwd", "otp"], "step_up": True}

NOT_FOUND = {"id": "Permintaan pengungkapan tidak ditemukan.", "en": "Disclosure request not found."}
UNAVAILABLE = {"id": "Brankas identitas sedang tidak dapat dihubungi. Silakan coba lagi.",
               "en": "The identity vault cannot be reached right now. Please try again."}

# the vault's refusal codes: HTTP status and the bilingual message officers see
VAULT_ERRORS: dict[str, tuple[int, str, str]] = {
    "missing_token": (401, "Token akses tidak ada. Silakan masuk terlebih dahulu.",
                      "No access token. Please sign in first."),
    "invalid_token": (401, "Token akses tidak sah.", "The access token is invalid."),
    "expired_token": (401, "Token akses sudah kedaluwarsa. Silakan masuk kembali.",
                      "The access token has expired. Please sign in again."),
    "not_investigator": (403, "Hanya investigator yang dapat mengajukan permintaan pengungkapan identitas.",
                         "Only an investigator can request a disclosure."),
    "not_inspektur": (403, "Hanya inspektur yang dapat menyetujui atau menolak permintaan pengungkapan.",
                      "Only an inspektur can approve or refuse a disclosure request."),
    "self_approval": (403, "Permintaan tidak dapat diputuskan oleh pengajunya sendiri.",
                      "A request cannot be decided by the officer who filed it."),
    "other_tenant": (403, "Permintaan ini milik Inspektorat lain.",
                     "This request belongs to another Inspektorat."),
    "not_requester": (403, "Hanya pengaju permintaan yang dapat melihat identitas.",
                      "Only the officer who filed the request can view the identity."),
    "step_up_required": (403, "Persetujuan memerlukan kode OTP yang baru.",
                         "An approval needs a fresh one-time code."),
    "totp_invalid": (403, "Kode OTP salah atau sudah dipakai.", "The one-time code is wrong or already used."),
    "step_up_reused": (403, "Konfirmasi OTP ini sudah dipakai. Masukkan kode yang baru.",
                       "This one-time confirmation was already used. Enter a new code."),
    "forbidden": (403, "Peran Anda tidak berwenang untuk tindakan ini.", "Your role is not allowed to do this."),
    "not_found": (404, NOT_FOUND["id"], NOT_FOUND["en"]),
    "expired": (409, "Permintaan ini sudah kedaluwarsa.", "This request has expired."),
    "already_decided": (409, "Permintaan ini sudah diputuskan.", "This request has already been decided."),
    "not_approved": (409, "Permintaan ini belum disetujui.", "This request has not been approved."),
    "refused": (409, "Permintaan ini ditolak.", "This request was refused."),
    "already_viewed": (409, "Identitas sudah dilihat; persetujuan hanya berlaku untuk satu kali lihat.",
                       "The identity was already viewed; an approval allows one view only."),
    "view_window_closed": (409, "Batas waktu untuk melihat identitas sudah lewat.",
                           "The time allowed for viewing the identity has passed."),
    "contended": (409, "Permintaan sedang diproses oleh orang lain. Coba lagi.",
                  "Someone else is acting on this request. Try again."),
    "anonymous": (422, "Laporan ini anonim: tidak ada identitas yang dapat diungkapkan.",
                  "This report is anonymous: there is no identity to disclose."),
    "erased": (422, "Identitas pelapor sudah dihapus permanen sesuai masa retensi.",
               "The reporter's identity has been permanently erased under the retention policy."),
    "invalid_legal_basis": (422, "Dasar hukum tidak dikenal.", "Unknown legal basis."),
    "reason_required": (422, "Alasan wajib diisi.", "A reason is required."),
    "invalid_public_key": (422, "Kunci publik tidak dapat dipakai.", "The public key cannot be used."),
    # disclosure of an evidence original (subject "evidence")
    "unknown_original": (404, "Berkas asli bukti ini tidak ditemukan pada kasus ini.",
                         "The original of this evidence is not found on this case."),
    "original_erased": (422, "Berkas asli bukti sudah dihapus permanen sesuai masa retensi.",
                        "The original file has been permanently erased under the retention policy."),
}


def vault_error(code: str) -> HttpError:
    if code not in VAULT_ERRORS:
        # invalid_command, unsupported_version: a bug between cases and the vault, not the officer's doing
        return HttpError(500, "internal_error")
    status, id_, en = VAULT_ERRORS[code]
    return HttpError(status, code, {"id": id_, "en": en})


def _load(schema, body: dict) -> dict:
    try:
        return schema().load(body)
    except ValidationError as err:
        raise HttpError(400, "validation_failed", officer_api.INVALID, bilingual_errors(err.messages)) from None


def _request_id(raw: str) -> str:
    try:
        return str(UUID(raw))
    except ValueError:
        raise HttpError(404, "not_found", NOT_FOUND) from None


def call_vault(vault, method: str, command: dict, timeout: float) -> dict:
    """One vault RPC with a deadline; a refusal becomes its HTTP error."""
    try:
        reply = call(getattr(vault, method), {"version": DISCLOSURE_RPC_VERSION, **command}, timeout=timeout)
    except UNAVAILABLE_ERRORS:
        raise HttpError(503, "vault_unavailable", UNAVAILABLE) from None
    if not isinstance(reply, dict):
        raise HttpError(500, "internal_error")
    if "error" in reply:
        raise vault_error(reply["error"])
    return reply


def _summary(reply: dict) -> dict:
    keys = ("request_id", "case_id", "tenant", "status", "legal_basis", "expires_at", "view_until")
    return {k: reply.get(k) for k in keys}


def request_disclosure(vault, timeout: float, app, db, claims: OfficerClaims, token: str, case_id: str,
                       body: dict) -> dict:
    """File a request for one case; the tenant wall and access log as for a read.
    ``db`` is the pool: no connection is held while the vault answers."""
    with db.connection() as conn:
        case = officer_api.load_visible_case(app, conn, claims, case_id, action="disclosure_request")
    args = _load(DisclosureRequestBody, body)
    if case.anonymous or not case.reporter_ref:
        raise vault_error("anonymous")
    summary = _summary(call_vault(vault, "request_disclosure", {
        "token": token, "case_id": str(case.id), "reporter_ref": case.reporter_ref,
        "tenant": case.handling_tenant, "reason": args["reason"], "legal_basis": args["legal_basis"],
    }, timeout))
    summary["reporter_notified"] = _notify_reporter(app, db, case, summary)
    return summary


def _notify_reporter(app, db, case, summary: dict) -> bool:
    """Per tenant policy, the reporter reads of the request in the case's
    anonymous dialogue (and hears of it through the vault's contact relay).
    The request is already on record in the vault, so a failure here is
    reported in the reply, not raised."""
    with db.connection() as conn:
        if not catalogue.disclosure_notice(conn, case.handling_tenant):
            return False
    try:
        app.notice_disclosure_requested(case.id, summary["request_id"], summary["legal_basis"])
    except Exception as exc:  # noqa: BLE001 - the officer must still learn the request id
        # by type only, as everywhere: a traceback may quote case data
        log.error("disclosure notice to the reporter failed for request %s: %s", summary["request_id"],
                  type(exc).__name__)
        return False
    return True


def approve(vault, timeout: float, db, keys, claims: OfficerClaims, token: str, request_id: str,
            body: dict) -> dict:
    """Approve with a fresh TOTP code: checked here (replay rule and lockout as
    at login), then the vault gets a 60-second step-up token. A wrong code is
    still forwarded with the plain token, so the vault records the attempt."""
    request_id = _request_id(request_id)
    args = _load(ApproveBody, body)
    with db.connection() as conn:
        fresh = officers.verify_totp(conn, keys.totp_key, claims.officer_id, args["totp"])
    if fresh:
        token = keys.issuer.issue(claims.officer_id, claims.tenant, claims.roles, claims.username,
                                  ttl_seconds=STEP_UP_TTL_SECONDS, extra_claims=STEP_UP_CLAIMS)
    try:
        reply = call_vault(vault, "approve_disclosure", {"token": token, "request_id": request_id}, timeout)
    except HttpError as err:
        if not fresh and err.code == "step_up_required":
            raise vault_error("totp_invalid") from None
        raise
    return _summary(reply)


def refuse(vault, timeout: float, token: str, request_id: str, body: dict) -> dict:
    request_id = _request_id(request_id)
    args = _load(RefuseBody, body)
    return _summary(call_vault(vault, "refuse_disclosure", {"token": token, "request_id": request_id,
                                                            "reason": args["reason"]}, timeout))


def view(vault, timeout: float, token: str, request_id: str, body: dict) -> dict:
    """The identity sealed to the key the officer's client sent; cases cannot open it."""
    request_id = _request_id(request_id)
    args = _load(ViewBody, body)
    reply = call_vault(vault, "view_disclosure", {"token": token, "request_id": request_id,
                                                  "public_key": args["public_key"]}, timeout)
    if reply.get("subject") == "evidence":  # an attachment's original, byte for byte
        return {"request_id": request_id, "subject": "evidence", "original_ref": reply["original_ref"],
                "sealed_original": reply["sealed_original"],
                "format": "libsodium sealed box (X25519, XSalsa20-Poly1305) of the original file's bytes"}
    return {"request_id": request_id, "sealed_identity": reply["sealed_identity"],
            "format": "libsodium sealed box (X25519, XSalsa20-Poly1305) of the identity as JSON"}


def events(vault, timeout: float, db, claims: OfficerClaims, token: str, tenant: str | None) -> dict:
    """The vault's disclosure trail of one tenant, never an identity. Auditors
    need a live grant for the tenant (grants live here, so this is checked
    here); an inspektur sees their own tenant."""
    if not tenant or not TENANT_RE.fullmatch(tenant):
        raise HttpError(400, "validation_failed", officer_api.INVALID,
                        {"tenant": [{"id": "Kode wilayah tidak valid (contoh: 35.73).",
                                     "en": "Not a valid region code (example: 35.73)."}]})
    with db.connection() as conn:
        audited = claims.has_role("auditor") and tenant in officer_api.visible_tenants(conn, claims)
    own = claims.has_role("inspektur") and tenant == claims.tenant
    if not (audited or own):
        raise HttpError(403, "forbidden", officer_api.FORBIDDEN)
    reply = call_vault(vault, "disclosure_events", {"token": token, "tenant": tenant}, timeout)
    return {"tenant": reply["tenant"], "events": reply["events"]}
