"""Disclosure under dual control, the domain: plain eventsourcing aggregates.

- An investigator of the case's tenant files a ``DisclosureRequest`` with a
  reason and a legal basis; it expires after the application's request hours.
- ``approvals_required`` (k, the tenant's policy, default 1) *different*
  officers with the inspektur role in the *same* tenant approve (each only
  with a step-up, i.e. a fresh TOTP code checked by cases); one refusal ends it.
- No two participants (the requester and every approver) may share a
  controller: an officer's controllers are itself and every administrator who
  created it, issued its enrolment code, reset its second factor or changed
  its roles in the last 30 days (cases computes them, ``rules.md``). So an
  administrator cannot approve for an account it set up, nor let two
  accounts it set up request and approve (``conflicted_approver``).
- The k-th approval allows ONE view by the requester within the view window.
- A request names its ``subject``: the reporter's ``identity`` (default) or
  one ``evidence`` original (``original_ref``) of the same case.
- Request, approval, refusal, expiry and view are events; so is every refused
  attempt on an existing request (``AttemptRefused``), and a refused attempt to
  file one lands in the tenant's ``DisclosureRegister``. No event carries an
  identity.

An officer is a dict (``officer_id``, ``username``, ``roles``, ``tenant``)
taken from a verified token by the adapter.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.utils import register_topic

from peluit_contracts.disclosure import LEGAL_BASES

NS_REGISTER = UUID("7a1f3c2e-9b4d-4e8a-8c61-3d2b5f0e9a01")
NS_STEP_UP = UUID("7a1f3c2e-9b4d-4e8a-8c61-3d2b5f0e9a02")
MAX_APPROVALS = 5  # k: the tenant policy's upper bound


class DomainError(Exception):
    """A disclosure command the vault refuses; ``code`` is stable for clients."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class DisclosureRequest(Aggregate):
    """One request to reveal the reporter of one case (or one evidence
    original of it), from filing to its single view.

    Status: pending -> approved -> viewed, or pending -> refused, or
    pending/approved -> expired. Rule checks run in plain methods before an
    event is triggered; event bodies only apply state (they run on replay)."""

    class Requested(Aggregate.Created):
        # v2 added ``subject`` ("identity" | "evidence") and ``original_ref``;
        # v3 ``approvals_required`` (k) and ``requester_controllers``
        class_version = 3
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
        approvals_required: int
        requester_controllers: list

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["subject"] = "identity"
            state["original_ref"] = None

        @staticmethod
        def upcast_v2_v3(state: dict) -> None:
            state["approvals_required"] = 1
            state["requester_controllers"] = []

    @event(Requested)
    def __init__(self, case_id: str, reporter_ref: str | None, tenant: str, requested_by: dict, reason: str,
                 legal_basis: str, requested_at: datetime, expires_at: datetime, subject: str = "identity",
                 original_ref: str | None = None, approvals_required: int = 1,
                 requester_controllers: list | None = None):
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
        self.approvals_required = approvals_required
        self.requester_controllers = list(requester_controllers or [])
        self.approvals: list[dict] = []  # {"officer_id", "controllers"} per approval so far
        self.status = "pending"
        self.decided_by: dict | None = None
        self.view_until: datetime | None = None

    class Approved(Aggregate.Event):
        # v2 added ``controllers``: the approver's, as cases vouched for them
        class_version = 2
        by: dict
        at: datetime
        view_until: datetime
        step_up_token_id: str
        controllers: list

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["controllers"] = []

    @event(Approved)
    def _approved(self, by: dict, at: datetime, view_until: datetime, step_up_token_id: str,
                  controllers: list) -> None:
        # the k-th approval opens the view window (from its own time)
        self.approvals.append({"officer_id": by["officer_id"], "controllers": list(controllers)})
        if len(self.approvals) >= self.approvals_required:
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
             original_ref: str | None = None, original_case_id: str | None = None, approvals_required: int = 1,
             controllers=(), reporter_case_id: str | None = None) -> DisclosureRequest:
        """``original_case_id`` / ``reporter_case_id``: the case the vault's store
        says ``original_ref`` / ``reporter_ref`` belongs to (None if unknown): an
        original or an identity is disclosed only within its own case, whatever
        case the caller names. ``controllers``: the requester's (see the module).
        cases lets only the case's team or the tenant's inspektur get this far."""
        if not {"investigator", "inspektur"} & set(by["roles"]):
            raise DomainError("not_investigator")
        if not (isinstance(approvals_required, int) and 1 <= approvals_required <= MAX_APPROVALS):
            raise DomainError("invalid_approvals")
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
        elif reporter_case_id is None or reporter_case_id != case_id:
            raise DomainError("reporter_not_in_case")
        if legal_basis not in LEGAL_BASES:
            raise DomainError("invalid_legal_basis")
        if not (reason and reason.strip()):
            raise DomainError("reason_required")
        return cls(case_id=case_id, reporter_ref=reporter_ref, tenant=tenant, requested_by=by,
                   reason=reason.strip(), legal_basis=legal_basis, requested_at=now,
                   expires_at=now + timedelta(hours=request_hours), subject=subject,
                   original_ref=original_ref if subject == "evidence" else None,
                   approvals_required=approvals_required, requester_controllers=sorted(set(controllers)))

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

    def approve(self, by: dict, *, step_up: bool, step_up_token_id: str, now: datetime, view_minutes: float,
                controllers=()) -> None:
        self._check_decider(by)
        if not step_up:
            raise DomainError("step_up_required")
        self._check_pending(now)
        self.check_independent(by["officer_id"], controllers)
        self._approved(by=by, at=now, view_until=now + timedelta(minutes=view_minutes),
                       step_up_token_id=step_up_token_id, controllers=sorted(set(controllers)))

    def check_independent(self, officer_id: str, controllers) -> None:
        """The new approver shares no controller with the requester or an
        earlier approver (an officer controls itself)."""
        if any(a["officer_id"] == officer_id for a in self.approvals):
            raise DomainError("already_approved")
        mine = set(controllers) | {officer_id}
        others = [(self.requested_by["officer_id"], self.requester_controllers)] + [
            (a["officer_id"], a["controllers"]) for a in self.approvals]
        if any(mine & ({other} | set(theirs)) for other, theirs in others):
            raise DomainError("conflicted_approver")

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


# Stored events and snapshots name their classes by module path; these lived in
# ``peluit_vault.disclosure`` until it was split by layer. Nested event classes
# resolve through their aggregate's entry.
OLD_MODULE = "peluit_vault.disclosure"
for _aggregate in (DisclosureRequest, DisclosureRegister, StepUpUse):
    register_topic(f"{OLD_MODULE}:{_aggregate.__qualname__}", _aggregate)
