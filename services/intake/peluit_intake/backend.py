"""The port through which intake's use cases reach cases, the identity vault
and reporting: one method per RPC, each with a deadline, the payloads in
their contract versions, and any broker-side trouble turned into ``Unavailable``.

Replies are returned as cases and the vault give them (``{"error": code}``
included): the application decides what they mean. Unit tests use a fake
with the same methods.
"""

from __future__ import annotations

import base64
import logging

from peluit_common.rpc import UNAVAILABLE_ERRORS, call
from peluit_common.settings import env_float
from peluit_contracts.evidence import EVIDENCE_RPC_VERSION
from peluit_contracts.reports import REGISTER_REPORT_VERSION, STORE_IDENTITY_VERSION

from .errors import Unavailable

log = logging.getLogger(__name__)

RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)
STATS_TIMEOUT = min(RPC_TIMEOUT, 5.0)  # a public page waits no longer for its figures


class Backend:
    """``cases``, ``vault`` and ``reporting`` are nameko RPC proxies (a worker's own)."""

    def __init__(self, cases, vault, reporting=None, timeout: float = RPC_TIMEOUT):
        self.cases, self.vault, self.reporting, self.timeout = cases, vault, reporting, timeout

    def _call(self, method, *args, timeout: float | None = None):
        try:
            return call(method, *args, timeout=timeout or self.timeout)
        except UNAVAILABLE_ERRORS as exc:
            log.warning("rpc failed: %s", type(exc).__name__)
            raise Unavailable() from None

    # -- cases ------------------------------------------------------------------------

    def catalogue(self) -> dict:
        """``{"tenants": [{"code", "name", "parent", "categories": [{"code", "name": {"id", "en"}}]}]}``"""
        return self._call(self.cases.catalogue)

    def register_report(self, command: dict) -> dict:
        """``command``: ``RegisterReportCommand`` without its version."""
        return self._call(self.cases.register_report, {"version": REGISTER_REPORT_VERSION, **command})

    def partner_check(self, name: str, secret_sha256: str) -> dict | None:
        """{"name", "tenants"} for a live partner credential, else None."""
        return self._call(self.cases.partner_check, name, secret_sha256)

    def reporter_view(self, receipt_hash: str) -> dict | None:
        return self._call(self.cases.reporter_view, receipt_hash)

    def reporter_message(self, receipt_hash: str, text: str) -> dict:
        return self._call(self.cases.reporter_message, receipt_hash, text)

    def evidence_target(self, receipt_hash: str) -> dict:
        return self._call(self.cases.evidence_target, receipt_hash)

    def add_evidence(self, receipt_hash: str, items: list[dict]) -> dict:
        """``items``: ``EvidenceItem`` with ``content`` as bytes (the stripped copy)."""
        batch = [{**item, "content": base64.b64encode(item["content"]).decode()} for item in items]
        return self._call(self.cases.add_evidence, receipt_hash, batch, EVIDENCE_RPC_VERSION)

    # -- the vault --------------------------------------------------------------------

    def store_identity(self, submission_id: str, sealed_identity: bytes, tenant: str) -> dict:
        return self._call(self.vault.store_identity, {
            "version": STORE_IDENTITY_VERSION, "submission_id": submission_id,
            "sealed_identity": base64.b64encode(sealed_identity).decode(), "tenant": tenant})

    def store_evidence_original(self, case_id: str, tenant: str, mime: str, sealed_original: bytes,
                                sealed_name: bytes | None = None) -> dict:
        command = {"version": EVIDENCE_RPC_VERSION, "case_id": case_id, "tenant": tenant, "mime": mime,
                   "sealed_original": base64.b64encode(sealed_original).decode()}
        if sealed_name:
            command["sealed_name"] = base64.b64encode(sealed_name).decode()
        return self._call(self.vault.store_evidence_original, command)

    # -- reporting ----------------------------------------------------------------------

    def public_stats(self, query: dict) -> dict:
        """``PublicStats`` for ``query`` (``PublicQuery``: tenant, year), as reporting publishes them."""
        return self._call(self.reporting.public_stats, query, timeout=STATS_TIMEOUT)
