"""Disclosure of a reporter's identity, the officer-facing half (cases :8001).

The identity vault decides and records everything; cases only:
- adds what the officer must not see (the case's reporter_ref) when forwarding
  a request, after the usual tenant wall and access log;
- checks the fresh TOTP code of an approval (the secrets live here) and hands
  the vault a 60-second step-up token instead of the officer's own;
- forwards the officer's bearer token, so the vault verifies who acts itself;
- passes the identity through only as the sealed box the vault made for the
  requester's own X25519 key.

Arguments arrive validated (``peluit_contracts.disclosure``); refusals are
``CasesError``s that the HTTP edge translates.
"""

from __future__ import annotations

import logging
from uuid import UUID

from peluit_contracts.disclosure import BROWSER_FORMAT, SEALED_BOX

from . import case_index, catalogue, officers
from .access import Access, Actor, PgDirectory
from .vault import VaultClient, VaultRefused, summary

log = logging.getLogger(__name__)

STEP_UP_TTL_SECONDS = 60
STEP_UP_CLAIMS = {"amr": ["pwd", "otp"], "step_up": True}
SEALED_IDENTITY = "libsodium sealed box (X25519, XSalsa20-Poly1305) of the identity as JSON"
SEALED_ORIGINAL = "libsodium sealed box (X25519, XSalsa20-Poly1305) of the original file's bytes"


def request_id_of(raw: str) -> str:
    """A request id from a path: anything but a UUID is a request that does not exist."""
    try:
        return str(UUID(raw))
    except ValueError:
        raise VaultRefused("not_found", text="disclosure_request_not_found") from None


def request_disclosure(vault: VaultClient, app, db, actor: Actor, token: str, case_id: str, args: dict) -> dict:
    """File a request for one case; the tenant wall and access log as for a read.
    ``db`` is the pool: no connection is held while the vault answers."""
    with db.connection() as conn:
        case = Access(app, PgDirectory(conn)).case(actor, case_id, action="disclosure_request")
    if case.anonymous or not case.reporter_ref:
        raise VaultRefused("anonymous")
    out = summary(vault.request_disclosure(token, case_id=str(case.id), reporter_ref=case.reporter_ref,
                                           tenant=case.handling_tenant, reason=args["reason"],
                                           legal_basis=args["legal_basis"]))
    out["reporter_notified"] = _notify_reporter(app, db, case, out)
    return out


def _notify_reporter(app, db, case, request: dict) -> bool:
    """Per tenant policy, the reporter reads of the request in the case's
    anonymous dialogue (and hears of it through the vault's contact relay).
    The request is already on record in the vault, so a failure here is
    reported in the reply, not raised."""
    with db.connection() as conn:
        if not catalogue.disclosure_notice(conn, case.handling_tenant):
            return False
    try:
        app.notice_disclosure_requested(case.id, request["request_id"], request["legal_basis"])
    except Exception as exc:  # noqa: BLE001 - the officer must still learn the request id
        # by type only, as everywhere: a traceback may quote case data
        log.error("disclosure notice to the reporter failed for request %s: %s", request["request_id"],
                  type(exc).__name__)
        return False
    return True


def approve(vault: VaultClient, db, keys, actor: Actor, token: str, request_id: str, totp: str) -> dict:
    """Approve with a fresh TOTP code: checked here (replay rule and lockout as
    at login), then the vault gets a 60-second step-up token. A wrong code is
    still forwarded with the plain token, so the vault records the attempt."""
    request_id = request_id_of(request_id)
    with db.connection() as conn:
        fresh = officers.verify_totp(conn, keys.totp_key, actor.officer_id, totp)
    if fresh:
        token = keys.issuer.issue(actor.officer_id, actor.tenant, actor.roles, actor.username,
                                  ttl_seconds=STEP_UP_TTL_SECONDS, extra_claims=STEP_UP_CLAIMS)
    try:
        reply = vault.approve(token, request_id)
    except VaultRefused as err:
        if not fresh and err.code == "step_up_required":
            raise VaultRefused("totp_invalid") from None
        raise
    return summary(reply)


def refuse(vault: VaultClient, token: str, request_id: str, reason: str) -> dict:
    return summary(vault.refuse(token, request_id_of(request_id), reason))


def view(vault: VaultClient, token: str, request_id: str, public_key: str, format: str = SEALED_BOX) -> dict:
    """The identity sealed to the key the officer's client sent; cases cannot open it.
    ``format``: a sealed box, or what a browser opens with WebCrypto (passed through)."""
    request_id = request_id_of(request_id)
    reply = vault.view(token, request_id, public_key, None if format == SEALED_BOX else format)
    if format == BROWSER_FORMAT:
        return {"request_id": request_id, "format": BROWSER_FORMAT,
                **{k: reply[k] for k in ("subject", "original_ref", "name") if k in reply},
                **{k: reply[k] for k in ("ephemeral_public_key", "nonce", "ciphertext")}}
    if reply.get("subject") == "evidence":  # an attachment's original, byte for byte, and its own file name
        return {"request_id": request_id, "subject": "evidence", "original_ref": reply["original_ref"],
                "sealed_original": reply["sealed_original"], "format": SEALED_ORIGINAL,
                **{k: reply[k] for k in ("sealed_name",) if k in reply}}
    return {"request_id": request_id, "sealed_identity": reply["sealed_identity"], "format": SEALED_IDENTITY}


def events(vault: VaultClient, app, db, actor: Actor, token: str, tenant: str) -> dict:
    """The vault's disclosure trail of one tenant, never an identity. Auditors
    need a live grant for the tenant (grants live here, so this is checked
    here); an inspektur sees their own tenant."""
    with db.connection() as conn:
        Access(app, PgDirectory(conn)).require_disclosure_trail(actor, tenant)
    reply = vault.disclosure_events(token, tenant)
    return {"tenant": reply["tenant"], "events": reply["events"]}


def listing(vault: VaultClient, app, db, actor: Actor, token: str, query: dict) -> dict:
    """``GET /api/v1/disclosure-requests``: the vault decides who sees which
    requests (and their reasons); cases checks an auditor's grant (grants live
    here), forwards the token and adds each case's registration number."""
    tenant = query.get("tenant") or actor.tenant
    with db.connection() as conn:
        audited = Access(app, PgDirectory(conn)).disclosure_list_scope(actor, tenant)
    reply = vault.list_disclosures(token, tenant, status=query.get("status"), mine=query["mine"], audited=audited)
    with db.connection() as conn:
        numbers = case_index.registration_numbers(conn, [item["case_id"] for item in reply["items"]])
    return {"items": [{**item, "registration_number": numbers.get(item["case_id"])} for item in reply["items"]]}
