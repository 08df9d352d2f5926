"""The cases application: commands and queries over the event store.

Plain eventsourcing; runs on the in-memory store in unit tests and on
PostgreSQL in the service.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import strtobool

from peluit_common.eventstore import stored

from .domain import (
    CASE_TOPIC,
    STATUS_LABELS,
    TERMINAL,
    Case,
    DomainError,
    bilingual_reason,
    reporter_messages,
    reporter_timeline,
    transcript,
)
from .content import ContentEnded, ContentMapper, ContentStore, MemoryContentKeys, PgContentKeys
from .envelopes import to_envelopes
from . import retention  # noqa: F401  (its ContentEnded is a case event: the topic must resolve)
from .ledgers import AccessLog, ReceiptIndex, RegistrationSequence, registration_number

MAX_SAVE_ATTEMPTS = 20


@dataclass(frozen=True)
class Registration:
    case_id: UUID
    registration_number: str
    status: str
    created: bool


class CasesApplication(Application):
    name = "cases"
    snapshotting_intervals = {Case: 50, RegistrationSequence: 100, AccessLog: 100}
    _envelope_log_exists = False  # until seen (then it stays: migrations never drop it)

    def __init__(self, *args, timezone: str = "Asia/Jakarta", content_keyring=None, **kwargs):
        """``content_keyring``: the KEKs of case content (``content``); by default
        read from ``PELUIT_CONTENT_KEK_FILE`` on PostgreSQL, random in memory."""
        self._content_keyring = content_keyring
        super().__init__(*args, **kwargs)
        self.timezone = ZoneInfo(timezone)
        # writers serialise on the event store's table lock anyway; a lock per
        # tenant-year keeps this process's own writers from conflicting
        self._sequence_locks: dict[tuple[str, int], threading.Lock] = defaultdict(threading.Lock)

    # -- case content: sealed by the mapper (``content``) ---------------------

    def construct_mapper(self) -> ContentMapper:
        return ContentMapper(self.construct_transcoder())

    def construct_event_store(self) -> ContentStore:
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is None:
            self.mapper.keys = MemoryContentKeys(self._content_keyring)
        else:
            from .content import load_keyring

            create = strtobool(self.env.get("CREATE_TABLE") or "yes")
            self.mapper.keys = PgContentKeys(datastore, self._content_keyring or load_keyring, create_tables=create)
        return ContentStore(mapper=self.mapper, recorder=self.recorder, with_keys=datastore is not None)

    def construct_snapshot_store(self) -> ContentStore:
        return ContentStore(mapper=self.mapper, recorder=self.factory.aggregate_recorder(purpose="snapshots"))

    def take_snapshot(self, aggregate_id, version=None, **kwargs) -> None:
        """A snapshot, unless a field of the case was forgotten or its content ended while it was taken
        (it may hold what was just forgotten: dropped); a case whose content ended keeps none."""
        keys = self.mapper.keys
        before = keys.epoch(aggregate_id)
        try:
            super().take_snapshot(aggregate_id, version, **kwargs)
        except ContentEnded:
            return
        if keys.epoch(aggregate_id) != before:
            keys.drop_snapshots(aggregate_id)

    # -- commands ---------------------------------------------------------

    def register_report(self, cmd: dict, now: datetime | None = None, escalate_to: str | None = None) -> Registration:
        """Register a report once per ``submission_id``; a repeat returns the
        first registration (idempotent), or refuses a different report.

        ``escalate_to``: when the reporter says the terlapor works at the
        Inspektorat itself, the case goes to this (parent) tenant at once."""
        existing = self._existing(cmd)
        if existing is not None:
            return existing
        year = (now or datetime.now(self.timezone)).astimezone(self.timezone).year
        key = (cmd["tenant"], year)
        with self._sequence_locks[key]:
            for _ in range(MAX_SAVE_ATTEMPTS):
                sequence = self._sequence(*key)
                number = registration_number(cmd["tenant"], year, sequence.issue())
                case = Case(
                    submission_id=cmd["submission_id"], fingerprint=cmd["fingerprint"], tenant=cmd["tenant"],
                    registration_number=number, category=cmd["category"], channel=cmd["channel"],
                    report=dict(cmd["report"]), reporter_ref=cmd.get("reporter_ref"), anonymous=cmd["anonymous"],
                    assisted_by=cmd.get("assisted_by"), source=cmd.get("source"),
                )
                if escalate_to and cmd["report"].get("terlapor_inspektorat"):
                    case.escalate({"id": "system"}, escalate_to, bilingual_reason("reason_terlapor_inspektorat"))
                index = ReceiptIndex(receipt_hash=cmd["receipt_hash"], case_id=case.id)
                try:
                    self.save(sequence, case, index)
                except IntegrityError:
                    # another writer won: either the same submission (then it
                    # is a repeat) or the next number (then try again)
                    existing = self._existing(cmd)
                    if existing is not None:
                        return existing
                    continue
                return Registration(case.id, number, case.status, True)
        raise DomainError("contended")

    def _existing(self, cmd: dict) -> Registration | None:
        try:
            case: Case = self.repository.get(Case.create_id(cmd["submission_id"]))
        except AggregateNotFoundError:
            return None
        if case.fingerprint != cmd["fingerprint"] or case.tenant != cmd["tenant"]:
            raise DomainError("idempotency_key_reused")
        return Registration(case.id, case.registration_number, case.status, False)

    def _sequence(self, tenant: str, year: int) -> RegistrationSequence:
        try:
            return self.repository.get(RegistrationSequence.create_id(tenant, year))
        except AggregateNotFoundError:
            return RegistrationSequence(tenant=tenant, year=year)

    # -- queries ----------------------------------------------------------

    def case_for_receipt(self, receipt_hash: str) -> Case | None:
        try:
            index: ReceiptIndex = self.repository.get(ReceiptIndex.create_id(receipt_hash))
        except AggregateNotFoundError:
            return None
        return self.repository.get(index.case_id)

    def case_state(self, case_id: str) -> dict | None:
        """Whether a case has ended and since when, for the vault's retention
        clock (which trusts no event alone): the time is the case's last event,
        never earlier than its real ending. None for an unknown case."""
        try:
            case = self.get_case(UUID(str(case_id)))
        except (ValueError, DomainError):
            return None
        ended = case.status in TERMINAL
        return {"case_id": str(case.id), "status": case.status, "ended": ended,
                "ended_at": case.modified_on.isoformat() if ended else None}

    def reporter_view(self, receipt_hash: str) -> dict | None:
        """What the reporter may see: number, status, the visible timeline and
        the dialogue. No officer names, no internal notes."""
        case = self.case_for_receipt(receipt_hash)
        if case is None:
            return None
        case, history, messages = self.transcript(case.id)
        return {
            "registration_number": case.registration_number,
            "tenant": case.handling_tenant,
            "status": {"code": case.status, "label": STATUS_LABELS[case.status]},
            "timeline": reporter_timeline(history),
            "messages": reporter_messages(messages),
            "information_due": case.information_due,
            # what the reporter attached (labels they chose; never the content)
            "evidence": [{"label": e["label"], "mime": e["mime"], "size": e["size"], "added_at": e.get("added_at")}
                         for e in case.evidence if "evidence_id" in e],
        }

    def transcript(self, case_id: UUID) -> tuple[Case, list[dict], list[dict]]:
        """The case with its full history and dialogue, replayed from every
        event (snapshots keep command loads flat; this read is the long one)."""
        case, history, messages = transcript(self.events.get(case_id))
        if not isinstance(case, Case):
            raise DomainError("not_found")
        return case, history, messages

    def _retrying(self, load, act) -> Case | None:
        """Load, act, save; again on a concurrent writer (writers without a
        version to send: the reporter, the system). None when ``load`` finds nothing."""
        for _ in range(MAX_SAVE_ATTEMPTS):
            case = load()
            if case is None:
                return None
            act(case)
            try:
                self.save(case)
            except IntegrityError:
                continue
            return case
        raise DomainError("contended")

    def reporter_writes(self, receipt_hash: str, text: str, attachments: list | None = None) -> Case | None:
        """A reporter's message; retried on a concurrent officer command."""
        return self._retrying(lambda: self.case_for_receipt(receipt_hash),
                              lambda case: case.reporter_writes(text, attachments))

    def add_evidence(self, receipt_hash: str, items: list[dict]) -> Case | None:
        """Record evidence metadata on the receipt's case (``Case.add_evidence``);
        retried on a concurrent officer command, idempotent per evidence_id."""
        return self._retrying(lambda: self.case_for_receipt(receipt_hash), lambda case: case.add_evidence(items))

    def notice_disclosure_requested(self, case_id: UUID, request_id: str, legal_basis: str) -> Case:
        """The reporter's notice of a disclosure request (tenant policy);
        idempotent per request."""
        return self._retrying(lambda: self.get_case(case_id),
                              lambda case: case.notice_disclosure_requested(request_id, legal_basis))

    def record_sanction_follow_up(self, case_id: UUID, source: str, recommendation_id: str, follow_up: dict) -> Case:
        """A partner system's follow-up of a sanction (``inbound``); retried on a concurrent command."""
        return self._retrying(lambda: self.get_case(case_id),
                              lambda case: case.record_sanction_follow_up(source, recommendation_id, follow_up))

    # -- officer commands ---------------------------------------------------

    def get_case(self, case_id: UUID) -> Case:
        case = stored(self.repository, case_id, Case)
        if case is None:
            raise DomainError("not_found")
        return case

    def execute(self, case_id: UUID, expected_version: int | None, command: str, actor: dict, **args) -> Case:
        """Run one aggregate command under optimistic concurrency: a stale
        ``expected_version`` or a concurrent writer is ``stale_version``."""
        case = self.get_case(case_id)
        if expected_version is not None and case.version != expected_version:
            raise DomainError("stale_version")
        getattr(case, command)(actor=actor, **args)
        try:
            self.save(case)
        except IntegrityError:
            raise DomainError("stale_version") from None
        return case

    def record_access(self, case_id: UUID, officer_id: str, tenant: str, roles: list, action: str,
                      allowed: bool) -> None:
        for _ in range(MAX_SAVE_ATTEMPTS):
            try:
                log: AccessLog = self.repository.get(AccessLog.create_id(case_id))
            except AggregateNotFoundError:
                log = AccessLog(case_id=case_id)
            log.accessed(officer_id=officer_id, tenant=tenant, roles=list(roles), action=action, allowed=allowed)
            try:
                self.save(log)
                return
            except IntegrityError:
                continue

    def domain_events(self, after: int, limit: int = 500) -> dict:
        """A page of the notification log as public envelopes: ``events``, and
        ``next``, the position to ask after next time (also past positions
        without envelopes, so a follower always advances). Positions whose
        envelopes are kept (``envelope_log``) are read, up to ``limit`` of
        them; past those, ``limit`` positions are derived from the events."""
        kept = self._kept_envelopes(after, limit)
        return kept if kept is not None else self.derive_envelopes(after, limit)

    def _kept_envelopes(self, after: int, limit: int) -> dict | None:
        datastore = getattr(self.recorder, "datastore", None)
        if datastore is None:
            return None  # the in-memory store keeps nothing
        from psycopg.sql import SQL, Identifier

        schema = Identifier(datastore.schema)
        with datastore.get_connection() as conn, conn.cursor() as cur:
            if not self._envelope_log_exists:
                cur.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (f"{datastore.schema}.envelope_log",))
                if not cur.fetchone()["ok"]:
                    return None  # not migrated (a store opened without the service)
                self._envelope_log_exists = True
            cur.execute(SQL("SELECT position FROM {}.relay_position WHERE name = 'envelope_log'").format(schema))
            row = cur.fetchone()
            if row is None or row["position"] <= after:
                return None  # nothing kept past ``after``: derive
            kept = row["position"]  # committed together with every row up to it
            # as text, parsed by orjson: json.loads was most of a page's cost for a follower reading the log
            cur.execute(SQL("SELECT position, envelopes::text AS envelopes FROM {}.envelope_log "
                            "WHERE position > %s AND position <= %s ORDER BY position LIMIT %s").format(schema),
                        (after, kept, limit))
            rows = cur.fetchall()
        events = [envelope for r in rows for envelope in orjson.loads(r["envelopes"])]
        return {"events": events, "next": rows[-1]["position"] if len(rows) == limit else kept,
                "head": self.max_position()}

    def derive_envelopes(self, after: int, limit: int = 500) -> dict:
        """``domain_events`` from the events themselves, over ``limit`` positions.

        Only case events are decoded. The cases a page touches are loaded
        together, each as it was just before its first event here, then moved
        forward in memory.
        """
        notifications = self.recorder.select_notifications(start=after, limit=limit, inclusive_of_start=False)
        page = [n for n in notifications if n.topic.startswith(CASE_TOPIC)]
        page = list(zip(page, self.mapper.to_domain_events(page, content=False)))  # envelopes carry no content
        needed: dict[UUID, int] = {}  # case -> the version it must be loaded at
        for _, event in page:
            if isinstance(event, Case.Registered):
                needed.setdefault(event.originator_id, 0)
            else:
                needed.setdefault(event.originator_id, event.originator_version - 1)
        cases = self._cases_at({k: v for k, v in needed.items() if v > 0})
        envelopes = []
        for notification, event in page:
            before = None
            if isinstance(event, Case.Registered):
                case = cases[event.originator_id] = event.mutate(None)
            else:
                case = cases[event.originator_id]
                before = (case.status, case.handling_tenant)
                event.mutate(case)
            envelopes.extend(to_envelopes(notification.id, event, before, case))
        last = notifications[-1].id if notifications else after
        return {"events": envelopes, "next": last, "head": self.max_position()}

    def _cases_at(self, versions: dict[UUID, int]) -> dict[UUID, Case]:
        """Cases at the given versions: in one query on PostgreSQL (a rebuild's
        page touches a hundred or more cases; one load each was most of its
        cost), else one repository load each."""
        table = getattr(self.recorder, "events_table_name", None)
        if not versions or table is None:
            return {cid: self.repository.get(cid, version=v) for cid, v in versions.items()}
        from psycopg.sql import SQL, Identifier

        # LATERAL with OFFSET 0: one primary-key range scan per case whatever
        # the planner's statistics say. Without the fence PostgreSQL flattens
        # the subquery into a join: a sequential scan on a fresh table, a merge
        # join over the whole primary key (and JIT) on 5.7 million events.
        statement = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, version) CROSS JOIN LATERAL "
            "(SELECT * FROM {schema}.{table} x WHERE x.originator_id = w.id AND x.originator_version <= w.version "
            "OFFSET 0) e ORDER BY e.originator_id, e.originator_version"
        ).format(schema=Identifier(self.recorder.datastore.schema), table=Identifier(table))
        ids = list(versions)
        with self.recorder.datastore.get_connection() as conn, conn.cursor() as cur:
            cur.execute(statement, (ids, [versions[i] for i in ids]))
            rows = cur.fetchall()
        cases: dict[UUID, Case] = {}
        stored = [StoredEvent(originator_id=row["originator_id"], originator_version=row["originator_version"],
                              topic=row["topic"], state=bytes(row["state"])) for row in rows]
        for event in self.mapper.to_domain_events(stored, content=False):  # for envelopes: the skeleton
            cases[event.originator_id] = event.mutate(cases.get(event.originator_id))
        missing = set(ids) - set(cases)
        if missing:  # not expected: the log named these versions
            raise AggregateNotFoundError(sorted(missing)[0])
        return cases

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0
