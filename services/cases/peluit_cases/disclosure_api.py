"""Disclosure of a reporter's identity, the officer-facing half (cases :8001).

The identity vault decides and records everything; cases only:
- checks the officer (session, tenant wall, need to know: a request, its
  approval, refusal and view go through the case's wall and access log, so a
  recused officer meets the same 404 as another tenant's) and adds what the
  officer must not see (the case's reporter_ref);
- vouches, inside the vault-call token it signs for each command, for what
  only it knows: the tenant's k (``disclosure_approvals``), each
  participant's controllers (``admin_log.controllers``) and, for an approval,
  a fresh TOTP code it checked (the secrets live here);
- passes the identity through only as the sealed box the vault made for the
  requester's own X25519 key.

Arguments arrive validated (``peluit_contracts.disclosure``); refusals are
``CasesError``s that the HTTP edge translates.
"""

from __future__ import annotations

import logging
from uuid import UUID

from peluit_common.db import apply_schema
from peluit_contracts.disclosure import BROWSER_FORMAT, SEALED_BOX

from . import admin_log, case_index, catalogue, officers
from .access import Access, AccessDenied, Actor, PgDirectory
from .vault import VaultClient, VaultRefused, summary

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS disclosure_case (
    request_id uuid PRIMARY KEY,
    case_id uuid NOT NULL
);
"""
SEALED_IDENTITY = "libsodium sealed box (X25519, XSalsa20-Poly1305) of the identity as JSON"
SEALED_ORIGINAL = "libsodium sealed box (X25519, XSalsa20-Poly1305) of the original file's bytes"


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


def remember(db, request: dict) -> None:
    """Which case a request the vault filed is about (decisions pass its wall)."""
    with db.connection() as conn, conn.transaction():
        conn.execute("INSERT INTO disclosure_case (request_id, case_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                     (request["request_id"], request["case_id"]))


def requester_context(conn, actor: Actor, tenant: str) -> dict:
    return {"approvals_required": catalogue.disclosure_approvals(conn, tenant),
            "controllers": admin_log.controllers(conn, actor.officer_id)}


def through_the_wall(vault: VaultClient, app, db, actor: Actor, request_id: str, action: str) -> str:
    """The request's case as ``actor`` may see it, logged like a read; a request
    on a case outside their reach (another tenant's, or recused) is as missing
    as one that does not exist."""
    missing = VaultRefused("not_found", text="disclosure_request_not_found")
    with db.connection() as conn, conn.transaction():
        row = conn.execute("SELECT case_id FROM disclosure_case WHERE request_id = %s", (request_id,)).fetchone()
    case_id = str(row[0]) if row else _filed_before_the_map(vault, db, actor, request_id)
    if case_id is None:
        raise missing
    with db.connection() as conn:
        try:
            Access(app, PgDirectory(conn)).case(actor, case_id, action=action)
        except AccessDenied:
            raise missing from None
    return case_id


def _filed_before_the_map(vault: VaultClient, db, actor: Actor, request_id: str) -> str | None:
    """A request filed before cases kept ``disclosure_case``: its case as the
    vault lists it to this officer (an inspektur sees the tenant's, a
    requester their own), remembered from then on."""
    if not actor.has_role("inspektur", "investigator"):
        return None
    items = vault.list_disclosures(actor, actor.tenant, status=None, mine=False, audited=False)["items"]
    found = next((item for item in items if item["request_id"] == request_id), None)
    if found is not None:
        remember(db, found)
    return found["case_id"] if found else None


def request_id_of(raw: str) -> str:
    """A request id from a path: anything but a UUID is a request that does not exist."""
    try:
        return str(UUID(raw))
    except ValueError:
        raise VaultRefused("not_found", text="disclosure_request_not_found") from None


def request_disclosure(vault: VaultClient, app, db, actor: Actor, case_id: str, args: dict, told=None) -> dict:
    """File a request for one case: the case's team or the tenant's inspektur
    (the wall and access log as for a read). ``db`` is the pool: no
    connection is held while the vault answers. ``told(reply)``: the officers'
    notifications hear of the filed request."""
    with db.connection() as conn:
        case = Access(app, PgDirectory(conn)).case(actor, case_id, action="disclosure_request",
                                                      require=Access.require_disclosure_requester)
        context = requester_context(conn, actor, case.handling_tenant)
    if case.anonymous or not case.reporter_ref:
        raise VaultRefused("anonymous")
    reply = vault.request_disclosure(actor, case_id=str(case.id), reporter_ref=case.reporter_ref,
                                     tenant=case.handling_tenant, reason=args["reason"],
                                     legal_basis=args["legal_basis"], context=context)
    if told:
        told(reply)
    out = summary(reply)
    remember(db, out)
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


def approve(vault: VaultClient, app, db, keys, actor: Actor, request_id: str, totp: str, told=None) -> dict:
    """Approve with a fresh TOTP code: checked here (replay rule and lockout as
    at login); the call token says ``step_up`` only then. A wrong code still
    reaches the vault, so it records the attempt."""
    request_id = request_id_of(request_id)
    through_the_wall(vault, app, db, actor, request_id, "disclosure_approve")
    with db.connection() as conn:
        fresh = officers.verify_totp(conn, keys.totp_key, actor.officer_id, totp)
        context = {"controllers": admin_log.controllers(conn, actor.officer_id)}
    try:
        reply = vault.approve(actor, request_id, step_up=fresh, context=context)
    except VaultRefused as err:
        if not fresh and err.code == "step_up_required":
            raise VaultRefused("totp_invalid") from None
        raise
    if told:
        told(reply)
    return summary(reply)


def refuse(vault: VaultClient, app, db, actor: Actor, request_id: str, reason: str) -> dict:
    request_id = request_id_of(request_id)
    through_the_wall(vault, app, db, actor, request_id, "disclosure_refuse")
    return summary(vault.refuse(actor, request_id, reason))


def view(vault: VaultClient, app, db, actor: Actor, request_id: str, public_key: str,
         format: str = SEALED_BOX) -> dict:
    """The identity sealed to the key the officer's client sent; cases cannot open it.
    ``format``: a sealed box, or what a browser opens with WebCrypto (passed through)."""
    request_id = request_id_of(request_id)
    through_the_wall(vault, app, db, actor, request_id, "disclosure_view")
    return shown(request_id, vault.view(actor, request_id, public_key, None if format == SEALED_BOX else format),
                 format)


def shown(request_id: str, reply: dict, format: str) -> dict:
    """What the officer's client gets of the vault's view reply: the sealed parts only."""
    if format == BROWSER_FORMAT:
        return {"request_id": request_id, "format": BROWSER_FORMAT,
                **{k: reply[k] for k in ("subject", "original_ref", "name") if k in reply},
                **{k: reply[k] for k in ("ephemeral_public_key", "nonce", "ciphertext")}}
    if reply.get("subject") == "evidence":  # an attachment's original, byte for byte, and its own file name
        return {"request_id": request_id, "subject": "evidence", "original_ref": reply["original_ref"],
                "sealed_original": reply["sealed_original"], "format": SEALED_ORIGINAL,
                **{k: reply[k] for k in ("sealed_name",) if k in reply}}
    return {"request_id": request_id, "sealed_identity": reply["sealed_identity"], "format": SEALED_IDENTITY}


def events(vault: VaultClient, app, db, actor: Actor, tenant: str) -> dict:
    """The vault's disclosure trail of one tenant, never an identity. Auditors
    need a live grant for the tenant (grants live here, so this is checked
    here); an inspektur sees their own tenant."""
    with db.connection() as conn:
        Access(app, PgDirectory(conn)).require_disclosure_trail(actor, tenant)
    reply = vault.disclosure_events(actor, tenant)
    return {"tenant": reply["tenant"], "events": reply["events"]}


def listing(vault: VaultClient, app, db, actor: Actor, query: dict) -> dict:
    """``GET /api/v1/disclosure-requests``: the vault decides who sees which
    requests (and their reasons); cases checks an auditor's grant (grants live
    here) and adds each case's registration number."""
    tenant = query.get("tenant") or actor.tenant
    with db.connection() as conn:
        audited = Access(app, PgDirectory(conn)).disclosure_list_scope(actor, tenant)
    reply = vault.list_disclosures(actor, tenant, status=query.get("status"), mine=query["mine"], audited=audited)
    with db.connection() as conn:
        numbers = case_index.registration_numbers(conn, [item["case_id"] for item in reply["items"]])
    return {"items": [{**item, "registration_number": numbers.get(item["case_id"])} for item in reply["items"]]}
