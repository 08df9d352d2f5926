"""Disclosure of a reporter's identity under dual control: the vault's own
event-sourced log (application ``vault``, in the vault's database).

- An investigator of the case's tenant files a ``DisclosureRequest`` with a
  reason and a legal basis; it expires after ``request_hours``.
- A *different* officer with the inspektur role in the *same* tenant approves
  (only with a step-up token, i.e. a fresh TOTP code checked by cases) or
  refuses it.
- An approval allows ONE view by the requester within ``view_minutes``; the
  identity leaves this process only sealed to the X25519 key the requester's
  client chose (libsodium sealed box), so cases and the broker see ciphertext.
- A request names its ``subject``: the reporter's ``identity`` (default) or
  one ``evidence`` original (``original_ref``, see evidence.py) of the same
  case; the view then returns that file, byte for byte, sealed the same way.
- Request, approval, refusal, expiry and view are events; so is every refused
  attempt on an existing request (``AttemptRefused``), and a refused attempt to
  file one lands in the tenant's ``DisclosureRegister``. Auditors list these
  events per tenant; no event carries an identity (nor the reporter_ref, in
  the listing).

The officer is whoever the bearer token says, verified here with the officer
token public key: cases forwards the token and cannot speak for anyone else.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from prometheus_client import Counter

from peluit_common.eventstore import eventsourcing_env
from peluit_common.auth import AuthError, OfficerClaims, TokenVerifier, load_verify_key
from peluit_common.settings import env_float
from peluit_contracts.disclosure import (
    DISCLOSURE_RPC_VERSION,
    LEGAL_BASES,
    ApproveDisclosureCommand,
    DisclosureEventsQuery,
    RefuseDisclosureCommand,
    RequestDisclosureCommand,
    ViewDisclosureCommand,
)

from .records import Erased
from .crypto import seal

log = logging.getLogger(__name__)

NS_REGISTER = UUID("7a1f3c2e-9b4d-4e8a-8c61-3d2b5f0e9a01")
NS_STEP_UP = UUID("7a1f3c2e-9b4d-4e8a-8c61-3d2b5f0e9a02")
DEFAULT_REQUEST_HOURS = 72.0
DEFAULT_VIEW_MINUTES = 30.0
MAX_SAVE_ATTEMPTS = 20

DISCLOSURE_OUTCOMES = Counter("peluit_vault_disclosure_total", "Disclosure commands by action and outcome",
                              ["action", "outcome"])


class DomainError(Exception):
    """A disclosure command the vault refuses; ``code`` is stable for clients."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def officer_of(claims: OfficerClaims) -> dict:
    """Who acts, as recorded in events: from the verified token only."""
    return {"officer_id": claims.officer_id, "username": claims.username, "roles": list(claims.roles),
            "tenant": claims.tenant}


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


# -- aggregates -------------------------------------------------------------------

class DisclosureRequest(Aggregate):
    """One request to reveal the reporter of one case (or one evidence
    original of it), from filing to its single view.

    Status: pending -> approved -> viewed, or pending -> refused, or
    pending/approved -> expired. Rule checks run in plain methods before an
    event is triggered; event bodies only apply state (they run on replay)."""

    class Requested(Aggregate.Created):
        # v2 added ``subject`` ("identity" | "evidence") and ``original_ref``
        class_version = 2
        case_id: str
        reporter_ref: str | None
        tenant: str
        requested_by: dict
        reason: str
        legal_basis: str
        requested_at: datetime
        expires_at: datetime
        subject: str
        original_ref: str | None

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["subject"] = "identity"
            state["original_ref"] = None

    @event(Requested)
    def __init__(self, case_id: str, reporter_ref: str | None, tenant: str, requested_by: dict, reason: str,
                 legal_basis: str, requested_at: datetime, expires_at: datetime, subject: str = "identity",
                 original_ref: str | None = None):
        self.case_id = case_id
        self.reporter_ref = reporter_ref
        self.subject = subject
        self.original_ref = original_ref
        self.tenant = tenant
        self.requested_by = requested_by
        self.reason = reason
        self.legal_basis = legal_basis
        self.requested_at = requested_at
        self.expires_at = expires_at
        self.status = "pending"
        self.decided_by: dict | None = None
        self.view_until: datetime | None = None

    @event("Approved")
    def _approved(self, by: dict, at: datetime, view_until: datetime, step_up_token_id: str) -> None:
        self.status, self.decided_by, self.view_until = "approved", by, view_until

    @event("Refused")
    def _refused(self, by: dict, reason: str, at: datetime) -> None:
        self.status, self.decided_by = "refused", by

    @event("Expired")
    def _expired(self, at: datetime, stage: str, deadline: datetime) -> None:
        self.status = "expired"

    @event("Viewed")
    def _viewed(self, by: dict, at: datetime) -> None:
        self.status = "viewed"

    @event("AttemptRefused")
    def attempt_refused(self, by: dict, action: str, code: str, at: datetime) -> None:
        pass

    # -- rules ------------------------------------------------------------

    @classmethod
    def file(cls, *, case_id: str, reporter_ref: str | None, tenant: str, by: dict, reason: str,
             legal_basis: str, now: datetime, request_hours: float, subject: str = "identity",
             original_ref: str | None = None, original_case_id: str | None = None) -> DisclosureRequest:
        """``original_case_id``: the case the vault's store says ``original_ref``
        belongs to (None if unknown); an original is disclosed only within its case."""
        if "investigator" not in by["roles"]:
            raise DomainError("not_investigator")
        if by["tenant"] != tenant:
            raise DomainError("other_tenant")
        if subject == "evidence":
            if not original_ref or original_case_id != case_id:
                raise DomainError("unknown_original")
            reporter_ref = None  # not needed, not kept
        elif subject != "identity":
            raise DomainError("invalid_subject")
        elif not reporter_ref:
            raise DomainError("anonymous")
        if legal_basis not in LEGAL_BASES:
            raise DomainError("invalid_legal_basis")
        if not (reason and reason.strip()):
            raise DomainError("reason_required")
        return cls(case_id=case_id, reporter_ref=reporter_ref, tenant=tenant, requested_by=by,
                   reason=reason.strip(), legal_basis=legal_basis, requested_at=now,
                   expires_at=now + timedelta(hours=request_hours), subject=subject,
                   original_ref=original_ref if subject == "evidence" else None)

    def expire_if_due(self, now: datetime) -> bool:
        """Record the expiry once, when it is first noticed (it carries its deadline)."""
        deadline = {"pending": self.expires_at, "approved": self.view_until}.get(self.status)
        if deadline is not None and now >= deadline:
            self._expired(at=now, stage=self.status, deadline=deadline)
            return True
        return False

    def _check_decider(self, by: dict) -> None:
        # who may decide is checked first: an outsider learns nothing of the state
        if by["tenant"] != self.tenant:
            raise DomainError("other_tenant")
        if by["officer_id"] == self.requested_by["officer_id"]:
            raise DomainError("self_approval")
        if "inspektur" not in by["roles"]:
            raise DomainError("not_inspektur")

    def _check_pending(self, now: datetime) -> None:
        if self.expire_if_due(now) or self.status == "expired":
            raise DomainError("expired")
        if self.status != "pending":
            raise DomainError("already_decided")

    def approve(self, by: dict, *, step_up: bool, step_up_token_id: str, now: datetime, view_minutes: float) -> None:
        self._check_decider(by)
        if not step_up:
            raise DomainError("step_up_required")
        self._check_pending(now)
        self._approved(by=by, at=now, view_until=now + timedelta(minutes=view_minutes),
                       step_up_token_id=step_up_token_id)

    def refuse(self, by: dict, reason: str, *, now: datetime) -> None:
        self._check_decider(by)
        if not (reason and reason.strip()):
            raise DomainError("reason_required")
        self._check_pending(now)
        self._refused(by=by, reason=reason.strip(), at=now)

    def check_view(self, by: dict, now: datetime) -> None:
        """Raises unless ``by`` may view now; may record the expiry first."""
        if by["officer_id"] != self.requested_by["officer_id"]:
            raise DomainError("not_requester")
        if by["tenant"] != self.tenant:
            raise DomainError("other_tenant")
        if self.status == "approved" and self.expire_if_due(now):
            raise DomainError("view_window_closed")
        if self.status == "pending" and self.expire_if_due(now):
            raise DomainError("expired")
        if self.status != "approved":
            raise DomainError({"pending": "not_approved", "refused": "refused", "viewed": "already_viewed",
                               "expired": "expired"}[self.status])

    def view(self, by: dict, now: datetime) -> None:
        self.check_view(by, now)
        self._viewed(by=by, at=now)


class DisclosureRegister(Aggregate):
    """Per tenant: the ids of its disclosure requests, so auditors list a
    tenant's trail without scanning the whole log, and refused attempts to file one."""

    @staticmethod
    def create_id(tenant: str) -> UUID:
        return uuid5(NS_REGISTER, tenant)

    @event("Opened")
    def __init__(self, tenant: str):
        self.tenant = tenant
        self.request_ids: list[str] = []  # strings: snapshots are JSON

    @event("Filed")
    def filed(self, request_id: str) -> None:
        self.request_ids.append(request_id)

    @event("AttemptRefused")
    def attempt_refused(self, by: dict, action: str, code: str, case_id: str, at: datetime) -> None:
        pass


class StepUpUse(Aggregate):
    """A step-up token approves once: its id is taken when the approval is
    saved (same transaction), so a replayed token collides."""

    @staticmethod
    def create_id(token_id: str) -> UUID:
        return uuid5(NS_STEP_UP, token_id)

    @event("Used")
    def __init__(self, token_id: str, request_id: str):
        self.request_id = request_id


# -- application ----------------------------------------------------------------

@dataclass(frozen=True)
class Filed:
    request_id: UUID
    status: str
    expires_at: datetime


class DisclosureApplication(Application):
    name = "vault"
    snapshotting_intervals = {DisclosureRegister: 100}

    def __init__(self, *args, request_hours: float = DEFAULT_REQUEST_HOURS,
                 view_minutes: float = DEFAULT_VIEW_MINUTES, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_hours = request_hours
        self.view_minutes = view_minutes

    # -- commands ---------------------------------------------------------

    def request(self, by: dict, *, case_id: str, reporter_ref: str | None, tenant: str, reason: str,
                legal_basis: str, now: datetime | None = None, subject: str = "identity",
                original_ref: str | None = None, original_case_id: str | None = None) -> DisclosureRequest:
        now = _utc(now)
        for _ in range(MAX_SAVE_ATTEMPTS):
            register = self._register(tenant)
            try:
                req = DisclosureRequest.file(case_id=case_id, reporter_ref=reporter_ref, tenant=tenant, by=by,
                                             reason=reason, legal_basis=legal_basis, now=now,
                                             request_hours=self.request_hours, subject=subject,
                                             original_ref=original_ref, original_case_id=original_case_id)
            except DomainError as err:
                # no request exists: the tenant's register keeps the refused attempt
                register.attempt_refused(by=by, action="request", code=err.code, case_id=case_id, at=now)
                if self._saved(register):
                    raise
                continue
            register.filed(request_id=str(req.id))
            if self._saved(register, req):
                return req
        raise DomainError("contended")

    def approve(self, request_id: UUID, by: dict, *, step_up: bool, step_up_token_id: str,
                now: datetime | None = None) -> DisclosureRequest:
        now = _utc(now)

        def act(req: DisclosureRequest):
            if step_up and self._step_up_used(step_up_token_id):
                raise DomainError("step_up_reused")
            req.approve(by, step_up=step_up, step_up_token_id=step_up_token_id, now=now,
                        view_minutes=self.view_minutes)
            return None, [StepUpUse(token_id=step_up_token_id, request_id=str(req.id))]

        return self._command(request_id, by, "approve", now, act)[0]

    def refuse(self, request_id: UUID, by: dict, reason: str, *, now: datetime | None = None) -> DisclosureRequest:
        now = _utc(now)
        return self._command(request_id, by, "refuse", now, lambda req: (req.refuse(by, reason, now=now), []))[0]

    def view(self, request_id: UUID, by: dict, reveal: Callable[[str], bytes], *,
             now: datetime | None = None, reveal_original: Callable[[str], bytes] | None = None) -> bytes:
        """``reveal(reporter_ref)`` returns the identity already sealed to the
        requester's key (``reveal_original(original_ref)`` the original, for an
        evidence request); it runs only after every rule passed, and its result
        is handed back only once the ``Viewed`` event is stored."""
        now = _utc(now)

        def act(req: DisclosureRequest):
            req.check_view(by, now)
            if req.subject == "evidence":
                if reveal_original is None:
                    raise DomainError("unknown_original")
                sealed = reveal_original(req.original_ref)  # may raise DomainError("original_erased")
            else:
                sealed = reveal(req.reporter_ref)  # may raise DomainError("erased"): then no Viewed event
            req.view(by, now)
            return sealed, []

        return self._command(request_id, by, "view", now, act)[1]

    def _command(self, request_id: UUID, by: dict, action: str, now: datetime, act) -> tuple:
        """Load, decide, save under optimistic concurrency (a concurrent writer
        makes us decide again on the new state); a refusal is saved as an
        ``AttemptRefused`` event (after any expiry it noticed) and re-raised."""
        for _ in range(MAX_SAVE_ATTEMPTS):
            req = self.get_request(request_id)
            try:
                result, others = act(req)
            except DomainError as err:
                req.attempt_refused(by=by, action=action, code=err.code, at=now)
                if self._saved(req):
                    raise
                continue
            if self._saved(req, *others):
                return req, result
        raise DomainError("contended")

    def expire_due(self, tenant: str, now: datetime | None = None) -> int:
        """Record the expiry of every request of ``tenant`` whose deadline passed."""
        now = _utc(now)
        count = 0
        for request_id in self._register(tenant).request_ids:
            for _ in range(MAX_SAVE_ATTEMPTS):
                req = self.get_request(UUID(request_id))
                if not req.expire_if_due(now):
                    break
                if self._saved(req):
                    count += 1
                    break
        return count

    # -- queries ----------------------------------------------------------

    def get_request(self, request_id: UUID) -> DisclosureRequest:
        try:
            req = self.repository.get(request_id)
        except AggregateNotFoundError:
            raise DomainError("not_found") from None
        if not isinstance(req, DisclosureRequest):
            raise DomainError("not_found")
        return req

    def trail(self, tenant: str, now: datetime | None = None) -> list[dict]:
        """The tenant's disclosure events for auditors: who did what, when and
        why; never an identity, never the reporter_ref. Overdue requests are
        marked expired first, so the list says what holds now."""
        self.expire_due(tenant, now)
        register = self._register(tenant)
        out: list[dict] = []
        for ev in self.events.get(register.id):
            if isinstance(ev, DisclosureRegister.AttemptRefused):
                out.append({"type": "attempt_refused", "request_id": None, "case_id": ev.case_id,
                            "at": ev.at.isoformat(), "by": _public_officer(ev.by), "action": ev.action,
                            "code": ev.code})
        for request_id in register.request_ids:
            case_id = None
            for ev in self.events.get(UUID(request_id)):
                if isinstance(ev, DisclosureRequest.Requested):
                    case_id = ev.case_id
                out.append({"request_id": request_id, "case_id": case_id, **_public_event(ev)})
        out.sort(key=lambda e: e["at"])
        return out

    # -- helpers ----------------------------------------------------------

    def _register(self, tenant: str) -> DisclosureRegister:
        try:
            return self.repository.get(DisclosureRegister.create_id(tenant))
        except AggregateNotFoundError:
            return DisclosureRegister(tenant=tenant)

    def _step_up_used(self, token_id: str) -> bool:
        try:
            self.repository.get(StepUpUse.create_id(token_id))
        except AggregateNotFoundError:
            return False
        return True

    def _saved(self, *aggregates) -> bool:
        """Save atomically; False when another writer came first."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            return False
        return True


def _public_officer(by: dict) -> dict:
    return {"officer_id": by["officer_id"], "username": by["username"], "roles": list(by["roles"]),
            "tenant": by["tenant"]}


def _public_event(ev) -> dict:
    """One request event as auditors see it (the reporter_ref stays here)."""
    if isinstance(ev, DisclosureRequest.Requested):
        out = {"type": "requested", "at": ev.requested_at.isoformat(), "by": _public_officer(ev.requested_by),
               "reason": ev.reason, "legal_basis": ev.legal_basis, "expires_at": ev.expires_at.isoformat(),
               "subject": ev.subject}
        if ev.subject == "evidence":
            out["original_ref"] = ev.original_ref  # opaque; officers see it in the case document
        return out
    if isinstance(ev, DisclosureRequest.Approved):
        return {"type": "approved", "at": ev.at.isoformat(), "by": _public_officer(ev.by),
                "view_until": ev.view_until.isoformat(), "confirmed_with": "totp"}
    if isinstance(ev, DisclosureRequest.Refused):
        return {"type": "refused", "at": ev.at.isoformat(), "by": _public_officer(ev.by), "reason": ev.reason}
    if isinstance(ev, DisclosureRequest.Expired):
        return {"type": "expired", "at": ev.at.isoformat(), "by": None, "stage": ev.stage,
                "deadline": ev.deadline.isoformat()}
    if isinstance(ev, DisclosureRequest.Viewed):
        return {"type": "viewed", "at": ev.at.isoformat(), "by": _public_officer(ev.by)}
    if isinstance(ev, DisclosureRequest.AttemptRefused):
        return {"type": "attempt_refused", "at": ev.at.isoformat(), "by": _public_officer(ev.by),
                "action": ev.action, "code": ev.code}
    return {"type": "unknown", "at": ev.timestamp.isoformat(), "by": None}


# -- nameko adapter ----------------------------------------------------------------

class Disclosure(DependencyProvider):
    """The disclosure log and the officer-token verifier (public key only:
    the vault can check who an officer is, never mint a token)."""

    def setup(self):
        self.verifier = TokenVerifier(load_verify_key())
        self.app = DisclosureApplication(
            env=eventsourcing_env(),
            request_hours=env_float("PELUIT_DISCLOSURE_REQUEST_HOURS", DEFAULT_REQUEST_HOURS),
            view_minutes=env_float("PELUIT_DISCLOSURE_VIEW_MINUTES", DEFAULT_VIEW_MINUTES))

    def stop(self):
        self.app.close()

    def get_dependency(self, worker_ctx):
        return self


def handle(disclosure, schema, action: str, command, fn) -> dict:
    """One RPC: validate the command, verify the officer's token, run ``fn``.

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
        claims = disclosure.verifier.verify(cmd["token"])
    except AuthError as err:
        DISCLOSURE_OUTCOMES.labels(action, err.code).inc()
        return {"error": err.code}
    try:
        result = fn(disclosure.app, cmd, claims)
    except DomainError as err:
        DISCLOSURE_OUTCOMES.labels(action, err.code).inc()
        log.info("disclosure %s refused: %s", action, err.code)
        return {"error": err.code}
    DISCLOSURE_OUTCOMES.labels(action, "ok").inc()
    return result


def _summary(req: DisclosureRequest) -> dict:
    out = {"request_id": str(req.id), "case_id": req.case_id, "tenant": req.tenant, "status": req.status,
           "legal_basis": req.legal_basis, "expires_at": req.expires_at.isoformat(),
           "view_until": req.view_until.isoformat() if req.view_until else None, "subject": req.subject}
    if req.subject == "evidence":
        out["original_ref"] = req.original_ref
    return out


def _request_id(cmd: dict) -> UUID:
    return UUID(cmd["request_id"])


def request_disclosure(disclosure, command, original_case: Callable[[str], str | None] | None = None) -> dict:
    """``original_case(original_ref)``: the case id the store holds that original
    for (None if unknown); needed for ``subject: evidence``."""
    def fn(app, cmd, claims):
        subject, original_ref = cmd["subject"], cmd["original_ref"]
        owner = original_case(original_ref) if subject == "evidence" and original_ref and original_case else None
        return _summary(app.request(officer_of(claims), case_id=cmd["case_id"], reporter_ref=cmd["reporter_ref"],
                                    tenant=cmd["tenant"], reason=cmd["reason"], legal_basis=cmd["legal_basis"],
                                    subject=subject, original_ref=original_ref, original_case_id=owner))
    return handle(disclosure, RequestDisclosureCommand, "request", command, fn)


def approve_disclosure(disclosure, command) -> dict:
    def fn(app, cmd, claims):
        return _summary(app.approve(_request_id(cmd), officer_of(claims), step_up=claims.step_up,
                                    step_up_token_id=claims.token_id))
    return handle(disclosure, ApproveDisclosureCommand, "approve", command, fn)


def refuse_disclosure(disclosure, command) -> dict:
    def fn(app, cmd, claims):
        return _summary(app.refuse(_request_id(cmd), officer_of(claims), cmd["reason"]))
    return handle(disclosure, RefuseDisclosureCommand, "refuse", command, fn)


def view_disclosure(disclosure, command, read_identity: Callable[[str], bytes | None],
                    read_original: Callable[[str], bytes | None] | None = None) -> dict:
    """``read_identity(reporter_ref)``: the clear identity from the store (None
    or ``records.Erased`` when it is gone); ``read_original(original_ref)`` the
    same for an evidence original. Either is sealed at once and dropped."""

    def fn(app, cmd, claims):
        public_key = base64.b64decode(cmd["public_key"])

        def sealer(read: Callable[[str], bytes | None], gone: str) -> Callable[[str], bytes]:
            def reveal(ref: str) -> bytes:
                try:
                    plaintext = read(ref)
                except Erased:
                    raise DomainError(gone) from None
                if plaintext is None:
                    raise DomainError(gone)
                try:
                    return seal(public_key, plaintext)
                except Exception:
                    # e.g. a low-order key libsodium refuses; nothing leaves in clear
                    raise DomainError("invalid_public_key") from None
            return reveal

        request_id = _request_id(cmd)
        sealed = app.view(request_id, officer_of(claims), sealer(read_identity, "erased"),
                          reveal_original=sealer(read_original, "original_erased") if read_original else None)
        req = app.get_request(request_id)
        if req.subject == "evidence":
            return {"request_id": cmd["request_id"], "subject": "evidence", "original_ref": req.original_ref,
                    "sealed_original": base64.b64encode(sealed).decode()}
        return {"request_id": cmd["request_id"], "sealed_identity": base64.b64encode(sealed).decode()}

    return handle(disclosure, ViewDisclosureCommand, "view", command, fn)


def disclosure_events(disclosure, command) -> dict:
    """Inspektur: their own tenant. Auditor: the tenant cases checked a live
    audit grant for (grants live in the cases database)."""

    def fn(app, cmd, claims):
        tenant = cmd["tenant"]
        if not (claims.has_role("auditor") or (claims.has_role("inspektur") and claims.tenant == tenant)):
            raise DomainError("forbidden")
        return {"tenant": tenant, "events": app.trail(tenant)}

    return handle(disclosure, DisclosureEventsQuery, "events", command, fn)

