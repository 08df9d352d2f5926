"""intake's use cases, the same under every channel (JSON API, portal,
assisted intake, e-mail, WhatsApp): register a report, show its status,
take a reporter's message, take evidence; and the public statistics.

Plain values in, dataclasses out, typed errors (``errors.py``) for every
refusal; cases, the vault and reporting are reached through a port
(``backend.Backend`` or a fake). Guarantees kept here, whoever calls:

- the identity is sealed to the vault's public key before anything else;
- the receipt goes out only after cases has committed the report;
- Argon2 (the receipt's lookup hash) runs in the bounded ``hash_pool``; evidence
  is parsed and stripped in sandboxed worker processes (``evidence_sandbox``, green pipes);
- every use of a receipt counts against it in the throttle (``per_receipt``),
  before it is hashed, whatever the channel;
- evidence is checked by content before anything is looked up or stored, and
  an upload is all or nothing (a channel's attachments each stand alone).
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from dataclasses import dataclass

import eventlet
from eventlet import tpool
from eventlet.semaphore import Semaphore
from prometheus_client import Counter

from peluit_common.settings import env_float, env_int
from peluit_contracts.reports import ReceiptSchema

from .catalogue import TenantCatalogue, find_tenant
from .errors import (
    BackendRefused,
    CaseClosed,
    EvidenceQuota,
    EvidenceRefused,
    IdempotencyKeyReused,
    ReceiptNotFound,
    SealedIdentityRefused,
    UnknownCategory,
    UnknownTenant,
)
from .evidence_checks import Limits, Refusal, Refused, check_all, check_each
from .evidence_sandbox import sandbox
from .evidence_strip import strip_all, strip_each
from .hash_pool import HashPool, receipt_hashes
from .keys import IntakeKeys
from .receipts import format_receipt
from .sealing import seal_identity, seal_name, seal_original

log = logging.getLogger(__name__)

REPORTS_ACCEPTED = Counter("peluit_intake_reports_accepted_total", "Reports acknowledged with a receipt",
                           ["channel", "replayed"])
REPORTS_REFUSED = Counter("peluit_intake_reports_refused_total", "Reports refused", ["reason"])
EVIDENCE_ACCEPTED = Counter("peluit_intake_evidence_files_accepted_total", "Evidence files accepted", ["mime"])
EVIDENCE_REFUSED = Counter("peluit_intake_evidence_refused_total", "Evidence uploads refused", ["reason"])


@contextlib.contextmanager
def answer_no_sooner():
    """Receipt-authenticated answers, found or not, take about the same time."""
    started = time.monotonic()
    try:
        yield
    finally:
        floor = env_float("PELUIT_STATUS_MIN_SECONDS", 0.4) + random.uniform(0, 0.05)
        eventlet.sleep(max(0.0, floor - (time.monotonic() - started)))


_slots: Semaphore | None = None


def upload_slots() -> Semaphore:
    """At most ``PELUIT_EVIDENCE_CONCURRENCY`` (2) uploads at a time: each holds its files a few times over."""
    global _slots
    if _slots is None:
        _slots = Semaphore(max(1, env_int("PELUIT_EVIDENCE_CONCURRENCY", 2)))
    return _slots


@dataclass(frozen=True)
class AssistedBy:
    """The penerima who records a walk-in, letter or telephone report; only for their own tenant."""

    officer_id: str
    username: str
    tenant: str


@dataclass(frozen=True)
class Registration:
    registration_number: str
    receipt: str  # XXXX-XXXX-XXXX-XXXX: exists nowhere else, never log it
    tenant: str
    anonymous: bool
    replayed: bool = False  # the same Idempotency-Key again: the same case and receipt

    def __repr__(self) -> str:
        return f"<Registration {self.registration_number} replayed={self.replayed}>"


@dataclass(frozen=True)
class StoredEvidence:
    label: str
    mime: str
    size: int


def batches(items: list[dict], max_bytes: int):
    """Consecutive groups of items whose content stays under ``max_bytes`` (at least one item each)."""
    group, size = [], 0
    for item in items:
        if group and size + item["size"] > max_bytes:
            yield group
            group, size = [], 0
        group.append(item)
        size += item["size"]
    if group:
        yield group


def _checked(reply: dict, refuser: str, known: dict | None = None) -> dict:
    """A reply of cases or the vault without an ``error``; a ``known`` error code
    as its typed error (``known[code]()``); any other as ``BackendRefused``."""
    error = reply.get("error")
    if not error:
        return reply
    if known and error in known:
        raise known[error]()
    log.error("%s refused: %s", refuser, error)
    raise BackendRefused()


def _key_reused() -> IdempotencyKeyReused:
    REPORTS_REFUSED.labels("idempotency_key_reused").inc()
    return IdempotencyKeyReused()


EVIDENCE_ERRORS = {"not_found": ReceiptNotFound, "case_closed": lambda: CaseClosed("case_closed_evidence")}


def _refused(refused: Refused) -> EvidenceRefused:
    for refusal in refused.refusals:
        EVIDENCE_REFUSED.labels(refusal.code).inc()
    return EvidenceRefused(refused)


class Intake:
    """The use cases of one worker: ``backend`` its port to cases and the
    vault, ``catalogue`` the process's one tenant catalogue, ``keys`` intake's
    keys, ``throttle`` the process's one throttle (None: nothing is counted)."""

    def __init__(self, backend, catalogue: TenantCatalogue, keys: IntakeKeys, throttle=None,
                 hashes: HashPool | None = None):
        self.backend, self.tenants, self.keys, self.throttle = backend, catalogue, keys, throttle
        self.hashes = hashes or receipt_hashes()

    def count(self, bucket: str, subject: str) -> None:
        """One attempt of ``subject`` (a receipt, a sender) in the throttle: ``Throttled`` past the limit."""
        if self.throttle is not None:
            self.throttle.check(bucket, subject)

    def count_receipt(self, subject: str) -> None:
        """One use of a receipt (its digits or, in a portal session, its hash), by any channel."""
        self.count("per_receipt", subject)

    # -- tenants ------------------------------------------------------------------------

    def catalogue(self, *, missing: bool = False, stale_ok: bool = False) -> dict:
        return self.tenants.get(self.backend.catalogue, missing=missing, stale_ok=stale_ok)

    def refresh_catalogue(self) -> dict:
        return self.tenants.refresh(self.backend.catalogue)

    def tenant(self, code: str) -> dict | None:
        """The tenant under ``code``, looked up again (at most every few seconds) when missing."""
        return find_tenant(self.catalogue(), code) or find_tenant(self.catalogue(missing=True), code)

    def tenant_name(self, code: str) -> str:
        """For display: an older catalogue serves while cases is away."""
        found = find_tenant(self.catalogue(stale_ok=True), code)
        return found["name"] if found else f"Inspektorat {code}"

    # -- public statistics --------------------------------------------------------------

    def public_statistics(self, tenant: str | None, year: int | None) -> dict:
        """What reporting publishes (small cells suppressed, no totals) for
        ``tenant`` (or every tenant) and ``year``, as it gives it (``PublicStats``)."""
        query = {name: value for name, value in (("tenant", tenant), ("year", year)) if value}
        return _checked(self.backend.public_stats(query), "reporting")

    def _check_tenant(self, tenant: str, category: str) -> None:
        def categories(known: dict) -> set:
            found = find_tenant(known, tenant)
            return {c["code"] for c in found["categories"]} if found else set()

        known = self.catalogue()
        if category not in categories(known):
            known = self.catalogue(missing=True)
        if find_tenant(known, tenant) is None:
            REPORTS_REFUSED.labels("unknown_tenant").inc()
            raise UnknownTenant()
        if category not in categories(known):
            REPORTS_REFUSED.labels("unknown_category").inc()
            raise UnknownCategory()

    # -- reports --------------------------------------------------------------------------

    def receipt_hash(self, receipt: str) -> str:
        """The lookup hash of a receipt a reporter presents: counted, then hashed in the pool."""
        self.count_receipt(receipt)
        return self.hashes.run(self.keys.receipts.lookup_hash, receipt)

    def register(self, report: dict, idempotency_key: str | None, channel: str,
                 assisted_by: AssistedBy | None = None, sealed: bytes | None = None,
                 source: dict | None = None) -> Registration:
        """Seal, store the identity, register durably, return the receipt.

        ``report`` is a loaded ``ReportSubmissionSchema``; its ``identity`` is
        taken out of it and sealed before anything else happens. A partner
        system's report comes with the identity ``sealed`` by the partner
        already, and its ``source`` ({system, source_id})."""
        identity = report.pop("identity", None)
        if identity:
            sealed = seal_identity(self.keys.vault_public_key, identity)
        del identity  # from here on only ciphertext

        report = dict(report)
        tenant, category = report.pop("tenant"), report.pop("category")
        if assisted_by is not None and assisted_by.tenant != tenant:
            REPORTS_REFUSED.labels("unknown_tenant").inc()
            raise UnknownTenant()  # an officer records reports for their own tenant only
        self._check_tenant(tenant, category)

        keys = self.keys.receipts
        submission_id = keys.submission_id(tenant, idempotency_key)
        receipt = keys.receipt(tenant, idempotency_key)
        receipt_hash = self.hashes.run(keys.lookup_hash, receipt, first=True)  # a new receipt: not counted

        reporter_ref = None
        if sealed is not None:
            stored = _checked(self.backend.store_identity(submission_id, sealed, tenant), "the vault (identity)",
                              {"invalid_sealed_identity": SealedIdentityRefused})
            reporter_ref = stored["reporter_ref"]

        result = _checked(self.backend.register_report({
            "submission_id": submission_id,
            "fingerprint": keys.fingerprint({"tenant": tenant, "category": category, **report}),
            "receipt_hash": receipt_hash, "tenant": tenant, "category": category, "channel": channel,
            "report": report, "reporter_ref": reporter_ref, "anonymous": reporter_ref is None,
            "assisted_by": None if assisted_by is None else {"officer_id": assisted_by.officer_id,
                                                             "username": assisted_by.username},
            **({"source": source} if source else {}),
        }), "cases (registration)", {"unknown_tenant": UnknownTenant, "unknown_category": UnknownCategory,
                                     "idempotency_key_reused": _key_reused})

        replayed = not result["created"]
        REPORTS_ACCEPTED.labels(channel, str(replayed).lower()).inc()
        return Registration(result["registration_number"], format_receipt(receipt), tenant,
                            anonymous=reporter_ref is None, replayed=replayed)

    def status(self, receipt_hash: str) -> dict:
        """The reporter's view of the case (status, timeline, messages) as cases gives it."""
        view = self.backend.reporter_view(receipt_hash)
        if view is None:
            raise ReceiptNotFound()
        return view

    def send_message(self, receipt_hash: str, text: str, counted: bool = True) -> str:
        """The reporter answers a question or writes to the Inspektorat; the case's status.
        ``counted``: the receipt was counted when it was hashed (else its hash counts now)."""
        if not counted:
            self.count_receipt(receipt_hash)
        result = _checked(self.backend.reporter_message(receipt_hash, text), "cases (reporter message)",
                          {"not_found": ReceiptNotFound, "case_closed": CaseClosed})
        return result["status"]

    # -- evidence ---------------------------------------------------------------------------

    def check_evidence(self, files: list[tuple[str | None, bytes]], limits: Limits | None = None) -> None:
        """The content checks alone (types by magic bytes, sizes, zip bombs,
        pixel floods): raises ``EvidenceRefused``, stores nothing."""
        try:
            check_all(files, limits or Limits.from_env(), sandbox().check)
        except Refused as refused:
            raise _refused(refused) from None

    def add_evidence(self, files: list[tuple[str | None, bytes]], *, receipt: str | None = None,
                     receipt_hash: str | None = None, limits: Limits | None = None) -> list[StoredEvidence]:
        """One upload for the case a receipt (or its hash) opens, all or nothing:
        the files are checked before the receipt is even looked up."""
        limits = limits or Limits.from_env()
        with upload_slots():
            try:
                detected = check_all(files, limits, sandbox().check)
            except Refused as refused:
                raise _refused(refused) from None
            if receipt_hash is None:
                receipt_hash = self.receipt_hash(receipt)
            else:
                self.count_receipt(receipt_hash)  # a portal session's upload
            target = self._evidence_target(receipt_hash)
            if len(files) > target["files_left"]:
                EVIDENCE_REFUSED.labels("evidence_quota").inc()
                raise EvidenceQuota()
            try:
                prepared = strip_all(files, detected, limits, sandbox().strip)
            except Refused as refused:
                raise _refused(refused) from None
            if sum(len(p.stripped) for p in prepared) > target["bytes_left"]:
                EVIDENCE_REFUSED.labels("evidence_quota").inc()
                raise EvidenceQuota()
            prepared = self._store_prepared(receipt_hash, target, prepared, limits)
        return [StoredEvidence(p.label, p.mime, len(p.original)) for p in prepared]

    def attach_channel_evidence(self, receipt: str, files: list[tuple[str | None, bytes]]) -> list[Refusal]:
        """Attachments of a report that came by e-mail or WhatsApp, after it was
        registered: the same checks, stripping and sealing as an upload, but a
        refused file never refuses the others (nor the report). Returns the
        refusals by position; raises for the case as a whole (``Unavailable``:
        retry the whole delivery)."""
        limits = Limits.from_env()
        if not files:
            return []
        with upload_slots():
            checked, refusals = check_each(files, limits, check=sandbox().check)
            names = {n: name for n, (name, _) in enumerate(files, 1)}
            if checked:
                receipt = ReceiptSchema().load({"receipt": receipt})["receipt"]  # as the status page normalises it
                receipt_hash = self.receipt_hash(receipt)
                target = self._evidence_target(receipt_hash)
                prepared, failed = strip_each(checked, limits, names, sandbox().strip)
                refusals += failed
                kept, files_left, bytes_left = [], target["files_left"], target["bytes_left"]
                for p in prepared:
                    if files_left < 1 or len(p.stripped) > bytes_left:
                        refusals.append(Refusal("evidence_quota", p.index))
                        continue
                    files_left, bytes_left = files_left - 1, bytes_left - len(p.stripped)
                    kept.append(p)
                if kept:
                    self._store_prepared(receipt_hash, target, kept, limits)
        for refusal in refusals:
            EVIDENCE_REFUSED.labels(refusal.code).inc()
        return sorted(refusals, key=lambda r: r.index or 0)

    def _evidence_target(self, receipt_hash: str) -> dict:
        return _checked(self.backend.evidence_target(receipt_hash), "cases (evidence lookup)",
                        EVIDENCE_ERRORS)

    def _store_prepared(self, receipt_hash: str, target: dict, prepared: list, limits: Limits) -> list:
        # Every file passed: from here on things are stored. The originals first, in the vault
        # (idempotent per case and file), then the stripped copies on the case (idempotent per
        # evidence_id): a failure in between is Unavailable or BackendRefused and the same upload can be
        # sent again. Labels are numbered on from what the case holds; the file's own name is sealed.
        prepared = [p.numbered(target.get("files", 0) + k) for k, p in enumerate(prepared, 1)]
        items = []
        for p in prepared:
            sealed = tpool.execute(seal_original, self.keys.vault_public_key, p.original)
            stored = _checked(self.backend.store_evidence_original(
                target["case_id"], target["tenant"], p.mime, sealed, seal_name(self.keys.vault_public_key, p.name)),
                "the vault (evidence original)")
            del sealed
            items.append({"label": p.label, "mime": p.mime, "size": len(p.stripped), "sha256": p.sha256,
                          "original_ref": stored["original_ref"], "content": p.stripped})
        per_call = env_int("PELUIT_EVIDENCE_RPC_BATCH_BYTES", limits.max_file_bytes)
        for batch in batches(items, per_call):
            _checked(self.backend.add_evidence(receipt_hash, batch), "cases (evidence)",
                     {**EVIDENCE_ERRORS, "evidence_quota": EvidenceQuota})
        for p in prepared:
            EVIDENCE_ACCEPTED.labels(p.mime).inc()
        return prepared
