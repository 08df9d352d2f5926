"""Disclosure under dual control, the use cases: ``DisclosureApplication``,
the vault's own event-sourced log (application ``vault``, in the vault's
database). Commands save under optimistic concurrency and keep every refusal
as an event; ``trail`` is what auditors read.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from peluit_common.eventstore import stored

from .domain import DisclosureRegister, DisclosureRequest, DomainError, StepUpUse

DEFAULT_REQUEST_HOURS = 72.0
DEFAULT_VIEW_MINUTES = 30.0
MAX_SAVE_ATTEMPTS = 20


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


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
                original_ref: str | None = None, original_case_id: str | None = None, approvals_required: int = 1,
                controllers=(), reporter_case_id: str | None = None) -> DisclosureRequest:
        now = _utc(now)
        for _ in range(MAX_SAVE_ATTEMPTS):
            register = self._register(tenant)
            try:
                req = DisclosureRequest.file(case_id=case_id, reporter_ref=reporter_ref, tenant=tenant, by=by,
                                             reason=reason, legal_basis=legal_basis, now=now,
                                             request_hours=self.request_hours, subject=subject,
                                             original_ref=original_ref, original_case_id=original_case_id,
                                             approvals_required=approvals_required, controllers=controllers,
                                             reporter_case_id=reporter_case_id)
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
                now: datetime | None = None, controllers=()) -> DisclosureRequest:
        """``controllers``: the approver's (domain module), as cases vouched for them."""
        now = _utc(now)

        def act(req: DisclosureRequest):
            if step_up and self._step_up_used(step_up_token_id):
                raise DomainError("step_up_reused")
            req.approve(by, step_up=step_up, step_up_token_id=step_up_token_id, now=now,
                        view_minutes=self.view_minutes, controllers=controllers)
            return None, [StepUpUse(token_id=step_up_token_id, request_id=str(req.id))]

        return self._command(request_id, by, "approve", now, act)[0]

    def refuse(self, request_id: UUID, by: dict, reason: str, *, now: datetime | None = None) -> DisclosureRequest:
        now = _utc(now)
        return self._command(request_id, by, "refuse", now, lambda req: (req.refuse(by, reason, now=now), []))[0]

    def view(self, request_id: UUID, by: dict, reveal: Callable[[str], object], *,
             now: datetime | None = None, reveal_original: Callable[[str], object] | None = None) -> object:
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
        return sum(expired for _, expired in self._current(tenant, now))

    def _current(self, tenant: str, now: datetime | None) -> list[tuple[DisclosureRequest, bool]]:
        """Every request of ``tenant`` as it stands at ``now`` (an overdue one
        expired and saved first), and whether it expired just now."""
        now = _utc(now)
        out = []
        for request_id in self._register(tenant).request_ids:
            for _ in range(MAX_SAVE_ATTEMPTS):
                req = self.get_request(UUID(request_id))
                if not req.expire_if_due(now):
                    out.append((req, False))
                    break
                if self._saved(req):
                    out.append((req, True))
                    break
            else:
                out.append((self.get_request(UUID(request_id)), False))
        return out

    # -- queries ----------------------------------------------------------

    def get_request(self, request_id: UUID) -> DisclosureRequest:
        req = stored(self.repository, request_id, DisclosureRequest)
        if req is None:
            raise DomainError("not_found")
        return req

    def requests_of(self, tenant: str, now: datetime | None = None) -> list[DisclosureRequest]:
        """The tenant's requests as they stand now (overdue ones marked expired first)."""
        return [req for req, _ in self._current(tenant, now)]

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
                            "at": ev.at.isoformat(), "by": public_officer(ev.by), "action": ev.action,
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


def public_officer(by: dict) -> dict:
    """An officer as the trail and the lists show them."""
    return {"officer_id": by["officer_id"], "username": by["username"], "roles": list(by["roles"]),
            "tenant": by["tenant"]}


def _public_event(ev) -> dict:
    """One request event as auditors see it (the reporter_ref stays here)."""
    if isinstance(ev, DisclosureRequest.Requested):
        out = {"type": "requested", "at": ev.requested_at.isoformat(), "by": public_officer(ev.requested_by),
               "reason": ev.reason, "legal_basis": ev.legal_basis, "expires_at": ev.expires_at.isoformat(),
               "subject": ev.subject, "approvals_required": ev.approvals_required}
        if ev.subject == "evidence":
            out["original_ref"] = ev.original_ref  # opaque; officers see it in the case document
        return out
    if isinstance(ev, DisclosureRequest.Approved):  # one per approver; the k-th opens the view window
        return {"type": "approved", "at": ev.at.isoformat(), "by": public_officer(ev.by),
                "view_until": ev.view_until.isoformat(), "confirmed_with": "totp"}
    if isinstance(ev, DisclosureRequest.Refused):
        return {"type": "refused", "at": ev.at.isoformat(), "by": public_officer(ev.by), "reason": ev.reason}
    if isinstance(ev, DisclosureRequest.Expired):
        return {"type": "expired", "at": ev.at.isoformat(), "by": None, "stage": ev.stage,
                "deadline": ev.deadline.isoformat()}
    if isinstance(ev, DisclosureRequest.Viewed):
        return {"type": "viewed", "at": ev.at.isoformat(), "by": public_officer(ev.by)}
    if isinstance(ev, DisclosureRequest.AttemptRefused):
        return {"type": "attempt_refused", "at": ev.at.isoformat(), "by": public_officer(ev.by),
                "action": ev.action, "code": ev.code}
    return {"type": "unknown", "at": ev.timestamp.isoformat(), "by": None}
