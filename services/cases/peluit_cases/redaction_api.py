"""Redaction, the officer-facing half (cases :8001); the rules of the text are
in ``redaction``.

Order of a redaction, each step safe to repeat:
1. the walls: the case's tenant, need to know (a recused officer meets a 404),
   the role (penerima or penelaah), the version the officer saw (If-Match);
2. each passage is sealed to the vault's public key here and kept by the vault
   as an original of the case (``store_evidence_original``): it crosses the
   broker only as a sealed box and is disclosed only under dual control;
3. the ``PassageRedacted`` event (spans, fingerprints, original_refs, the new text);
4. every stored field that held the target's earlier text is forgotten
   (``content.forget_field``): replay, snapshots, exports and auditors' "as of"
   views then read the redacted text only.

Step 4 is owed from before step 3 (a ``redaction_pending`` row): a crash in
between is finished by ``sweep`` (the service's timer), so the old text never
stays readable. An un-redaction is a disclosure of the passage's
``original_ref`` (``request_disclosure``), never an event here.
"""

from __future__ import annotations

import base64
import logging
from uuid import UUID

from nacl.public import PublicKey, SealedBox

from psycopg.types.json import Jsonb

from peluit_common.db import apply_schema
from peluit_common.rpc import UNAVAILABLE_ERRORS, call
from peluit_contracts.evidence import EVIDENCE_RPC_VERSION

from . import content, redaction
from .access import Access, AccessDenied, Actor
from .disclosure_api import remember, requester_context
from .domain import Case, DomainError
from .vault import VaultClient, VaultRefused, summary

REDACTORS = frozenset({"penerima", "penelaah"})
SWEEP_AFTER_SECONDS = 60  # a redaction still under way is left alone this long

SCHEMA = """
CREATE TABLE IF NOT EXISTS redaction_pending (
    case_id uuid NOT NULL,
    version bigint NOT NULL,
    target jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (case_id, version)
);
"""


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


class PgPending:
    """The forgetting each redaction owes, kept until it is done (``redaction_pending``)."""

    def __init__(self, pool):
        self.pool = pool

    def add(self, case_id: UUID, version: int, target: dict) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("INSERT INTO redaction_pending (case_id, version, target) VALUES (%s, %s, %s) "
                         "ON CONFLICT DO NOTHING", (case_id, version, Jsonb(target)))

    def done(self, case_id: UUID, version: int) -> None:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("DELETE FROM redaction_pending WHERE case_id = %s AND version = %s", (case_id, version))

    def due(self, older_than: float = SWEEP_AFTER_SECONDS) -> list[tuple[UUID, int, dict]]:
        with self.pool.connection() as conn, conn.transaction():
            return [tuple(r) for r in conn.execute(
                "SELECT case_id, version, target FROM redaction_pending WHERE created_at < now() - %s * interval "
                "'1 second' ORDER BY created_at LIMIT 100", (older_than,)).fetchall()]

log = logging.getLogger(__name__)


def require_redactor(actor: Actor, case: Case) -> None:
    Access.require(actor, REDACTORS)


class VaultSealer:
    """Seals a plaintext to the vault's public key and has the vault keep it as
    an original of the case; answers the vault's ``original_ref``."""

    def __init__(self, proxy, timeout: float, public_key: bytes):
        self.proxy, self.timeout, self.public_key = proxy, timeout, public_key

    def seal(self, case_id, tenant: str, plaintext: bytes, mime: str = redaction.SEALED_MIME) -> str:
        sealed = SealedBox(PublicKey(self.public_key)).encrypt(plaintext)
        command = {"version": EVIDENCE_RPC_VERSION, "case_id": str(case_id), "tenant": tenant, "mime": mime,
                   "sealed_original": base64.b64encode(sealed).decode()}
        try:
            reply = call(self.proxy.store_evidence_original, command, timeout=self.timeout)
        except UNAVAILABLE_ERRORS:
            raise VaultRefused("vault_unavailable") from None
        if not isinstance(reply, dict) or "original_ref" not in reply:
            raise VaultRefused("internal_error")
        return reply["original_ref"]


def _forget(app, case_id: UUID, holders: list[tuple[int, str]]) -> None:
    for version, path in holders:
        try:
            content.forget_field(app, case_id, version, path)
        except content.NotSealed:
            # stored in clear before content encryption: history is never rewritten; it ends with the case's content
            log.warning("redaction: case %s v%s %s was stored in clear and stays so until the content ends",
                        case_id, version, path)


def walls(app, directory, actor: Actor, case_id: str, expected_version: int, action: str) -> Case:
    case = Access(app, directory).case(actor, case_id, action=action, require=require_redactor)
    if case.version != expected_version:
        raise DomainError("stale_version")
    return case


def redact(app, pool, directory_of, sealer, actor: Actor, case_id: str, expected_version: int,
           body: dict, pending=None) -> tuple[Case, list[dict]]:
    """``POST /api/v1/cases/{case_id}/redactions``: (the case after, the passages as recorded).
    ``pool``: no connection is held while the vault answers; ``pending``: ``PgPending`` on it by default."""
    pending = pending or PgPending(pool)
    with pool.connection() as conn:
        case = walls(app, directory_of(conn), actor, case_id, expected_version, "redact")
    redaction.require(bool(body["reason"].strip()), "reason_required")
    target = redaction.target_of(body["target"])
    redaction.require(target["kind"] in redaction.TEXT_KINDS, "unknown_target")
    replayed, history, messages = app.transcript(case.id)
    text = redaction.current_text(replayed, history, messages, target)
    spans = [(s["start"], s["end"]) for s in body.get("spans") or []]
    spans += redaction.spans_of(text, body.get("passages") or [])
    plan = redaction.plan(text, spans)
    passages = []
    for passage in plan.passages:
        salt = redaction.new_salt()
        ref = sealer.seal(case.id, case.handling_tenant, redaction.sealed_passage(case.id, target, passage, salt))
        passages.append({"start": passage.start, "end": passage.end,
                         "hmac": redaction.fingerprint(salt, passage.text), "original_ref": ref})
    version = expected_version + 1
    pending.add(case.id, version, target)  # owed from before the event: a crash after it is swept up
    try:
        case = app.execute(case.id, expected_version, "redact", actor.record(), target=target,
                           reason=body["reason"], passages=passages, text=plan.text)
    except Exception:
        pending.done(case.id, version)
        raise
    finish(app, pending, case.id, version, target)
    return case, passages


def finish(app, pending, case_id: UUID, version: int, target: dict) -> None:
    """Forget what held the target's text before the redaction at ``version``,
    if that event is stored (else nothing was redacted), and strike the debt."""
    events = list(app.events.get(case_id, lte=version))
    last = events[-1] if events else None
    if isinstance(last, Case.PassageRedacted) and last.originator_version == version and last.target == target:
        _forget(app, case_id, redaction.holders(events[:-1], target))
    pending.done(case_id, version)


def sweep(app, pending, older_than: float = SWEEP_AFTER_SECONDS) -> int:
    """Finish redactions a crash interrupted (the service's timer); how many."""
    due = pending.due(older_than)
    for case_id, version, target in due:
        finish(app, pending, case_id, version, target)
    return len(due)


def redacted_refs(app, case_id: UUID) -> set[str]:
    """Every original_ref a redaction of the case sealed."""
    return {p["original_ref"] for e in app.events.get(case_id) if isinstance(e, Case.PassageRedacted)
            for p in e.passages}


def request_disclosure(vault: VaultClient, app, db, directory_of, actor: Actor, case_id: str, original_ref: str,
                       args: dict) -> dict:
    """An un-redaction: ask the vault for one sealed passage (or earlier copy)
    under the same dual control as an identity: the case's team or inspektur
    files, other inspekturs approve with a fresh TOTP, one sealed view."""
    with db.connection() as conn:
        case = Access(app, directory_of(conn)).case(actor, case_id, action="redaction_disclosure_request",
                                                    require=Access.require_disclosure_requester)
        context = requester_context(conn, actor, case.handling_tenant)
    if original_ref not in redacted_refs(app, case.id):
        raise AccessDenied("not_found", text="redaction_not_found")
    reply = vault.request_disclosure(actor, case_id=str(case.id), original_ref=original_ref,
                                     tenant=case.handling_tenant, reason=args["reason"],
                                     legal_basis=args["legal_basis"], context=context)
    remember(db, reply)
    return {**summary(reply), "subject": "redaction", "original_ref": original_ref}
