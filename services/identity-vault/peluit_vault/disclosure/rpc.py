"""Disclosure under dual control, the nameko adapter: the provider that holds
the application, and the RPC handlers ``service.py`` delegates to.

The officer is whoever the vault-call token says (``peluit_vault.calls``):
signed by cases for this one command after it checked the officer's session,
verified here with cases' vault-call public key, bound to every field of the
command, taken once; no officer bearer token reaches the vault. Replies are ``{"error": code}`` or a
summary; no reply holds an identity except view's, sealed to the X25519 key
the requester's client chose, so cases and the broker see ciphertext only.
"""

from __future__ import annotations

import base64
import logging
from typing import Callable
from uuid import UUID

from marshmallow import ValidationError
from prometheus_client import Counter

from peluit_common.auth import OfficerClaims
from peluit_common.chain import install
from peluit_common.eventstore import EventStoreApp, eventsourcing_env
from peluit_common.vault_call import VaultCallError
from peluit_common.settings import env_float
from peluit_contracts.disclosure import (
    BROWSER_FORMAT,
    DISCLOSURE_RPC_VERSION,
    ApproveDisclosureCommand,
    DisclosureEventsQuery,
    ListDisclosuresCommand,
    RefuseDisclosureCommand,
    RequestDisclosureCommand,
    ViewDisclosureCommand,
)

from .. import chain
from ..crypto import browser_sealer, seal
from ..records import Erased
from .application import DEFAULT_REQUEST_HOURS, DEFAULT_VIEW_MINUTES, DisclosureApplication, public_officer
from .domain import DisclosureRequest, DomainError

log = logging.getLogger(__name__)

DISCLOSURE_OUTCOMES = Counter("peluit_vault_disclosure_total", "Disclosure commands by action and outcome",
                              ["action", "outcome"])


def officer_of(claims: OfficerClaims) -> dict:
    """Who acts, as recorded in events: from the verified token only."""
    return {"officer_id": claims.officer_id, "username": claims.username, "roles": list(claims.roles),
            "tenant": claims.tenant}


class DisclosureLog(EventStoreApp):
    """Gives each worker the service's ``DisclosureApplication``."""

    def open(self, create_tables: bool) -> DisclosureApplication:
        return DisclosureApplication(
            env=eventsourcing_env(create_tables),
            request_hours=env_float("PELUIT_DISCLOSURE_REQUEST_HOURS", DEFAULT_REQUEST_HOURS),
            view_minutes=env_float("PELUIT_DISCLOSURE_VIEW_MINUTES", DEFAULT_VIEW_MINUTES))

    def after_tables(self) -> None:
        install(chain.migrate)  # the table exists now: hash-chain it before the first insert


# the RPC each action arrives on: a call token names it, so it opens no other
RPC_NAMES = {"request": "request_disclosure", "approve": "approve_disclosure", "refuse": "refuse_disclosure",
             "view": "view_disclosure", "list": "list_disclosures", "events": "disclosure_events"}


def handle(auth, schema, action: str, command, fn) -> dict:
    """One RPC: validate the command, verify its vault-call token with ``auth``
    (``calls.CallChecker``: signature, binding, once), run ``fn(cmd, claims)``.

    Replies are ``{"error": code}`` or what ``fn`` returns; neither ever holds
    an identity except ``view``'s, sealed to the requester's key."""
    try:
        cmd = schema().load(command)
    except (ValidationError, TypeError, ValueError):
        DISCLOSURE_OUTCOMES.labels(action, "invalid_command").inc()
        return {"error": "invalid_command"}
    if cmd["version"] != DISCLOSURE_RPC_VERSION:
        return {"error": "unsupported_version"}
    try:
        claims = auth.verify(RPC_NAMES[action], command)
    except VaultCallError as err:
        DISCLOSURE_OUTCOMES.labels(action, err.code).inc()
        return {"error": err.code}
    try:
        result = fn(cmd, claims)
    except DomainError as err:
        DISCLOSURE_OUTCOMES.labels(action, err.code).inc()
        log.info("disclosure %s refused: %s", action, err.code)
        return {"error": err.code}
    DISCLOSURE_OUTCOMES.labels(action, "ok").inc()
    return result


def _summary(req: DisclosureRequest) -> dict:
    out = {"request_id": str(req.id), "case_id": req.case_id, "tenant": req.tenant, "status": req.status,
           "legal_basis": req.legal_basis, "expires_at": req.expires_at.isoformat(),
           "view_until": req.view_until.isoformat() if req.view_until else None, "subject": req.subject,
           "approvals": len(req.approvals), "approvals_required": req.approvals_required,
           "requested_by": req.requested_by["officer_id"]}  # whom cases has notifications tell of an approval
    if req.subject == "evidence":
        out["original_ref"] = req.original_ref
    return out


def _request_id(cmd: dict) -> UUID:
    return UUID(cmd["request_id"])


def request_disclosure(app: DisclosureApplication, auth, command,
                       original_case: Callable[[str], str | None] | None = None,
                       reporter_case: Callable[[str], str | None] | None = None) -> dict:
    """``original_case(original_ref)`` / ``reporter_case(reporter_ref)``: the case
    id the store holds that original or identity for (None if unknown); the
    request names a case, and is refused (and recorded) unless the record is that
    case's: the caller is not trusted to pair them."""

    def fn(cmd, claims):
        subject, original_ref, reporter_ref = cmd["subject"], cmd["original_ref"], cmd["reporter_ref"]
        owner = original_case(original_ref) if subject == "evidence" and original_ref and original_case else None
        reporter_owner = reporter_case(reporter_ref) if subject == "identity" and reporter_ref and reporter_case else None
        context = claims.context  # what cases vouched for: the tenant's k, the requester's controllers
        return _summary(app.request(officer_of(claims), case_id=cmd["case_id"], reporter_ref=reporter_ref,
                                    tenant=cmd["tenant"], reason=cmd["reason"], legal_basis=cmd["legal_basis"],
                                    subject=subject, original_ref=original_ref, original_case_id=owner,
                                    approvals_required=context.get("approvals_required", 1),
                                    controllers=context.get("controllers", ()), reporter_case_id=reporter_owner))
    return handle(auth, RequestDisclosureCommand, "request", command, fn)


def approve_disclosure(app: DisclosureApplication, auth, command) -> dict:

    def fn(cmd, claims):
        return _summary(app.approve(_request_id(cmd), officer_of(claims), step_up=claims.step_up,
                                    step_up_token_id=claims.token_id,
                                    controllers=claims.context.get("controllers", ())))
    return handle(auth, ApproveDisclosureCommand, "approve", command, fn)


def refuse_disclosure(app: DisclosureApplication, auth, command) -> dict:

    def fn(cmd, claims):
        return _summary(app.refuse(_request_id(cmd), officer_of(claims), cmd["reason"]))
    return handle(auth, RefuseDisclosureCommand, "refuse", command, fn)


def view_disclosure(app: DisclosureApplication, auth, command, read_identity: Callable[[str], bytes | None],
                    read_original: Callable[[str], bytes | None] | None = None,
                    read_original_name: Callable[[str], str | None] | None = None) -> dict:
    """``read_identity(reporter_ref)``: the clear identity from the store (None
    or ``records.Erased`` when it is gone); ``read_original(original_ref)`` the
    same for an evidence original, ``read_original_name`` its own file name
    (None if it had none). Each is sealed at once and dropped, in the
    ``format`` asked for: a sealed box (base64 bytes), or the browser format
    (``crypto.seal_for_browser``, bound to the request id)."""

    def fn(cmd, claims):
        public_key = base64.b64decode(cmd["public_key"])

        def sealing() -> Callable[[bytes], dict]:
            if cmd["format"] == BROWSER_FORMAT:  # the key agreement first: a low-order key reads nothing
                return browser_sealer(public_key, cmd["request_id"].encode())
            return lambda plaintext: {"sealed": base64.b64encode(seal(public_key, plaintext)).decode()}

        def sealer(read: Callable[[str], bytes | None], gone: str) -> Callable[[str], dict]:
            def reveal(ref: str) -> dict:
                try:
                    seal_to = sealing()
                except Exception:
                    raise DomainError("invalid_public_key") from None
                try:
                    plaintext = read(ref)
                except Erased:
                    raise DomainError(gone) from None
                if plaintext is None:
                    raise DomainError(gone)
                try:
                    return seal_to(plaintext)
                except Exception:
                    # e.g. a low-order key libsodium refuses; nothing leaves in clear
                    raise DomainError("invalid_public_key") from None
            return reveal

        def reveal_original(ref: str) -> dict:
            sealed = sealer(read_original, "original_erased")(ref)
            name = read_original_name(ref) if read_original_name else None
            if name:  # the file name the reporter's device gave it, sealed the same way on its own
                sealed["name"] = sealer(lambda _: name.encode(), "original_erased")(ref)
            return sealed

        request_id = _request_id(cmd)
        sealed = app.view(request_id, officer_of(claims), sealer(read_identity, "erased"),
                          reveal_original=reveal_original if read_original else None)
        req = app.get_request(request_id)
        out = {"request_id": cmd["request_id"]}
        if req.subject == "evidence":
            out.update(subject="evidence", original_ref=req.original_ref)
        if cmd["format"] == BROWSER_FORMAT:
            return {**out, "format": BROWSER_FORMAT, **sealed}
        if "name" in sealed:
            out["sealed_name"] = sealed["name"]["sealed"]
        return {**out, "sealed_original" if req.subject == "evidence" else "sealed_identity": sealed["sealed"]}

    return handle(auth, ViewDisclosureCommand, "view", command, fn)


def list_disclosures(app: DisclosureApplication, auth, command) -> dict:
    """A tenant's requests, newest first, never an identity or a reporter_ref.
    Inspektur of the tenant: all, with reasons. Auditor, when cases checked a
    live grant for the tenant (``audited``): all, with reasons. Investigator of
    the tenant: their own, without reasons. ``mine``: the officer's own only."""

    def fn(cmd, claims):
        tenant = cmd["tenant"]
        oversees = (claims.has_role("auditor") and cmd["audited"]) or (
            claims.has_role("inspektur") and claims.tenant == tenant)
        if not oversees and not (claims.has_role("investigator") and claims.tenant == tenant):
            raise DomainError("forbidden")
        mine = cmd["mine"] or not oversees
        items = [_listed(req, oversees) for req in app.requests_of(tenant)
                 if (not mine or req.requested_by["officer_id"] == claims.officer_id)
                 and cmd["status"] in (None, req.status)]
        items.sort(key=lambda item: item["requested_at"], reverse=True)
        return {"tenant": tenant, "items": items}

    return handle(auth, ListDisclosuresCommand, "list", command, fn)


def _listed(req: DisclosureRequest, with_reason: bool) -> dict:
    out = {"request_id": str(req.id), "case_id": req.case_id, "tenant": req.tenant, "subject": req.subject,
           "original_ref": req.original_ref, "legal_basis": req.legal_basis, "status": req.status,
           "requested_by": public_officer(req.requested_by), "requested_at": req.requested_at.isoformat(),
           "expires_at": req.expires_at.isoformat(),
           "view_until": req.view_until.isoformat() if req.view_until else None}
    if with_reason:
        out["reason"] = req.reason
    return out


def disclosure_events(app: DisclosureApplication, auth, command) -> dict:
    """Inspektur: their own tenant. Auditor: the tenant cases checked a live
    audit grant for (grants live in the cases database)."""

    def fn(cmd, claims):
        tenant = cmd["tenant"]
        if not (claims.has_role("auditor") or (claims.has_role("inspektur") and claims.tenant == tenant)):
            raise DomainError("forbidden")
        return {"tenant": tenant, "events": app.trail(tenant)}

    return handle(auth, DisclosureEventsQuery, "events", command, fn)
