"""Every call cases makes to the identity vault, in one client.

Each call has a deadline, carries a vault-call token signed for that one
command (``peluit_common.vault_call``: the officer whose session cases just
checked, bound to every field, at most 60 seconds, taken once by the vault;
the officer's own bearer token never crosses the broker) and turns the
vault's refusal codes into ``VaultRefused``. A missing
or late answer is ``vault_unavailable``; a reply cases cannot read is a bug
between the two services, not the officer's doing (``internal_error``).
"""

from __future__ import annotations

from peluit_common.rpc import UNAVAILABLE_ERRORS, call
from peluit_contracts.admin_rpc import RETENTION_RPC_VERSION
from peluit_contracts.disclosure import DISCLOSURE_RPC_VERSION

from .errors import CasesError

# the vault's refusals an officer can cause (the rest is a bug between the services)
REFUSALS = frozenset({
    "missing_token", "invalid_token", "expired_token", "not_investigator", "not_inspektur", "self_approval",
    "other_tenant", "not_requester", "step_up_required", "totp_invalid", "step_up_reused", "forbidden", "not_found",
    "expired", "already_decided", "not_approved", "refused", "already_viewed", "view_window_closed", "contended",
    "anonymous", "erased", "invalid_legal_basis", "reason_required", "invalid_public_key", "unknown_original",
    "original_erased", "already_approved", "conflicted_approver",
})
SUMMARY_KEYS = ("request_id", "case_id", "tenant", "status", "legal_basis", "expires_at", "view_until", "approvals",
                "approvals_required")


class VaultRefused(CasesError):
    """The vault said no (``code`` is its refusal), or did not answer."""


def refusal(code: str) -> VaultRefused:
    if code not in REFUSALS:
        # invalid_command, unsupported_version: a bug between cases and the vault
        return VaultRefused("internal_error")
    return VaultRefused(code, text={"not_found": "disclosure_request_not_found",
                                    "forbidden": "officer_forbidden"}.get(code))


def summary(reply: dict) -> dict:
    """A disclosure request as officers see it."""
    return {k: reply.get(k) for k in SUMMARY_KEYS}


class VaultClient:
    """``signer``: cases' ``VaultCallSigner``; ``actor``: the officer of the
    checked session (``access.Actor``)."""

    def __init__(self, proxy, timeout: float, signer):
        self.proxy, self.timeout, self.signer = proxy, timeout, signer

    def _call(self, method: str, actor, version: int = DISCLOSURE_RPC_VERSION, *, step_up: bool = False,
              context: dict | None = None, **command) -> dict:
        signed = self.signer.sign(method, {"version": version, **command}, actor.record(), step_up=step_up,
                                  context=context)
        try:
            reply = call(getattr(self.proxy, method), signed, timeout=self.timeout)
        except UNAVAILABLE_ERRORS:
            raise VaultRefused("vault_unavailable") from None
        if not isinstance(reply, dict):
            raise VaultRefused("internal_error")
        if "error" in reply:
            raise refusal(reply["error"])
        return reply

    def request_disclosure(self, actor, *, case_id: str, tenant: str, reason: str, legal_basis: str,
                           context: dict, reporter_ref: str | None = None, original_ref: str | None = None) -> dict:
        """File a request for the reporter's identity, or (with ``original_ref``)
        for an attachment's untouched original. ``context``: the tenant's
        ``approvals_required`` and the requester's ``controllers``."""
        subject = {"subject": "evidence", "original_ref": original_ref} if original_ref else {}
        return self._call("request_disclosure", actor, context=context, case_id=case_id, reporter_ref=reporter_ref,
                          tenant=tenant, reason=reason, legal_basis=legal_basis, **subject)

    def approve(self, actor, request_id: str, *, step_up: bool, context: dict) -> dict:
        """``step_up``: cases checked a fresh TOTP code of ``actor`` just now."""
        return self._call("approve_disclosure", actor, step_up=step_up, context=context, request_id=request_id)

    def refuse(self, actor, request_id: str, reason: str) -> dict:
        return self._call("refuse_disclosure", actor, request_id=request_id, reason=reason)

    def view(self, actor, request_id: str, public_key: str, format: str | None = None) -> dict:
        """``format`` None: the default sealed box, left out of the command so a
        vault that predates the formats answers it too."""
        chosen = {"format": format} if format else {}
        return self._call("view_disclosure", actor, request_id=request_id, public_key=public_key, **chosen)

    def list_disclosures(self, actor, tenant: str, *, status: str | None, mine: bool, audited: bool) -> dict:
        return self._call("list_disclosures", actor, tenant=tenant, status=status, mine=mine, audited=audited)

    def disclosure_events(self, actor, tenant: str) -> dict:
        return self._call("disclosure_events", actor, tenant=tenant)

    def retention(self, actor, tenant: str) -> int:
        """The tenant's retention in years (the tenant's admins and the province admin)."""
        return self._call("retention_policy", actor, RETENTION_RPC_VERSION, tenant=tenant)["years"]

    def set_retention(self, actor, tenant: str, years: int) -> int:
        return self._call("set_retention", actor, RETENTION_RPC_VERSION, tenant=tenant, years=years)["years"]
