"""The case aggregate and its helpers: plain eventsourcing, no broker, no HTTP.

Ids are derived (uuid5) so that the same submission, the same tenant-year
sequence and the same receipt always land on the same aggregate: a duplicate
is then an optimistic-concurrency conflict in the event store, not a second case.

Every workflow event records who acted (``actor``) and, where docs/domain.md asks for it, why
(``reason``). Illegal transitions raise ``DomainError`` with a stable code; nothing is recorded
then. Beside the case: ``ledgers`` (sequence, receipts, access log), ``redaction``.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from peluit_contracts import sanctions
from peluit_contracts.events import TERMINAL_STATUSES
from peluit_contracts.i18n import message
from peluit_contracts.reports import case_id_for

from . import redaction
from .bodies import external_codes
from .errors import DomainError  # noqa: F401 - its home was here; callers import it from here
from .transitions import STARTS_FROM

CASE_TOPIC = "peluit_cases.domain:Case."  # stored topics of the case's events start so

STATUSES = ("diterima", "verifikasi", "menunggu_informasi", "dilimpahkan", "ditolak", "diarsipkan", "penelaahan",
            "investigasi", "hasil", "tindak_lanjut", "selesai")
# the bilingual label the reporter and officers see (texts: peluit_contracts.i18n.cases)
STATUS_LABELS = {status: message(f"status_{status}") for status in STATUSES}
TERMINAL = TERMINAL_STATUSES

# PP 94/2021 discipline sanctions by level: the newest catalogue version (a data file in contracts)
SANCTIONS = sanctions.current().sanctions()
TUKIN_MONTHS = sanctions.current().tukin_months()
RECOMMENDATION_KINDS = {"sanksi_disiplin", "rujukan_aph", "pemulihan_kerugian", "perbaikan_administrasi"}


# the legal bases of which the reporter is told, when a tenant's policy notifies disclosure requests
DISCLOSURE_NOTICE_BASES = ("lpsk_protection", "proven_slander", "court_order")


def disclosure_notice(legal_basis: str) -> str:
    """The notice in the reporter's dialogue: the legal basis, never the
    officer's free-text reason; Bahasa Indonesia first."""
    basis = message(f"basis_{legal_basis}")
    notice = message("disclosure_notice", basis_id=basis["id"], basis_en=basis["en"])
    return f"{notice['id']}\n{notice['en']}"


def bilingual_reason(code: str) -> str:
    """A reason the system records itself, as one text (Bahasa Indonesia / English)."""
    text = message(code)
    return f"{text['id']} / {text['en']}"


def _require(condition: bool, code: str) -> None:
    if not condition:
        raise DomainError(code)


def _reason(reason: str | None) -> str:
    _require(bool(reason and reason.strip()), "reason_required")
    return reason.strip()


def validate_recommendation(rec: dict) -> dict:
    """Structured recommendation; a discipline sanction must name a PP 94/2021 sanction."""
    kind = rec.get("kind")
    _require(kind in RECOMMENDATION_KINDS, "invalid_recommendation")
    out = {"kind": kind, "details": (rec.get("details") or "").strip()}
    if kind == "sanksi_disiplin":
        sanction = rec.get("sanction") or {}
        level, type_ = sanction.get("level"), sanction.get("type")
        catalogue = sanctions.current()
        months = catalogue.check(level, type_, sanction.get("months"))
        _require(months is not False, "invalid_sanction")
        # the catalogue version travels with the recommendation (and its events)
        out["sanction"] = {"level": level, "type": type_, "catalogue": catalogue.version}
        if months is not None:
            out["sanction"]["months"] = months
    elif kind == "pemulihan_kerugian":
        amount = rec.get("amount")
        _require(isinstance(amount, int) and amount > 0, "invalid_recommendation")
        out["amount"] = amount
    if kind != "sanksi_disiplin":
        _require(bool(out["details"]), "invalid_recommendation")
    return out


class Case(Aggregate):
    """One report's life at an Inspektorat."""

    class Event(Aggregate.Event):
        def mutate(self, aggregate):
            # the library updates modified_on only after a method body ran;
            # history entries need the time of the event being applied
            if aggregate is not None:
                aggregate._event_at = self.timestamp
                aggregate._last_step = aggregate._last_message = None
            return super().mutate(aggregate)

    class Registered(Aggregate.Created):
        # v2 added ``assisted_by``: the penerima who typed in a walk-in, letter
        # or phone report on the reporter's behalf (None for self-service);
        # v3 ``source``: a partner system's name and reference (channel "integration").
        class_version = 3
        submission_id: str
        fingerprint: str
        tenant: str
        registration_number: str
        category: str
        channel: str
        report: dict
        reporter_ref: str | None
        anonymous: bool
        assisted_by: dict | None
        source: dict | None

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["assisted_by"] = None

        @staticmethod
        def upcast_v2_v3(state: dict) -> None:
            state["source"] = None

    @staticmethod
    def create_id(submission_id: str, **_) -> UUID:
        return case_id_for(submission_id)

    @event(Registered)
    def __init__(self, submission_id: str, fingerprint: str, tenant: str, registration_number: str,
                 category: str, channel: str, report: dict, reporter_ref: str | None, anonymous: bool,
                 assisted_by: dict | None = None, source: dict | None = None):
        self.submission_id = submission_id
        self.fingerprint = fingerprint
        self.tenant = tenant
        self.handling_tenant = tenant
        self.registration_number = registration_number
        self.category = category
        self.channel = channel
        self.report = report
        self.reporter_ref = reporter_ref
        self.anonymous = anonymous
        self.assisted_by = assisted_by
        self.source = source
        self.status = "diterima"
        # The full history and the dialogue are NOT kept here: they grow with
        # every event and would make snapshots (and loads) grow with the case.
        # ``transcript()`` rebuilds them from the events; each event leaves its
        # entry in _last_step / _last_message for that. Only the compact clock
        # needed by deadlines stays.
        self.clock: list[list] = []
        self._last_step: dict | None = None
        self._last_message: dict | None = None
        self.evidence: list[dict] = []
        self.recommendations: list[dict] = []
        self.findings: dict | None = None
        self.investigation: dict | None = None
        self.forwarded_to: dict | None = None
        self.information_due: str | None = None
        self.recused: list[str] = []  # a list: snapshots are JSON
        self.deadline_notices: list[list[str]] = []  # [rule, "approaching"|"breached"], each once
        self.escalations: list[dict] = []
        self.disclosure_notices: list[str] = []  # request ids the reporter was told of
        self._step("registered", {"id": "system"}, status="diterima")

    # -- helpers ------------------------------------------------------------

    def _step(self, kind: str, actor: dict, *, status: str | None = None, reason: str | None = None,
              visible: bool = True, **details) -> None:
        """Record one step (called from event-applying methods only)."""
        if status is not None:
            self.status = status
        self._last_step = {
            "at": self._at(), "kind": kind, "actor": actor, "status": self.status,
            "reason": reason, "reporter_visible": visible and status is not None, **details,
        }
        if kind in CLOCK_KINDS or kind == "registered":
            extra = {"forwarded": self.status, "investigation_started": details.get("field_check")}.get(kind)
            if not (self.clock and self.clock[-1][0] == kind == "message_to_reporter"):  # only the first counts
                self.clock.append([kind, self._at(), extra])

    def _message(self, **message) -> None:
        self._last_message = {"at": self._at(), **message}

    def _at(self) -> str:
        return getattr(self, "_event_at", None) and self._event_at.isoformat() or self.created_on.isoformat()

    def _open(self) -> None:
        _require(self.status not in TERMINAL, "case_closed")

    def _in(self, command: str) -> None:
        _require(self.status in STARTS_FROM[command], "illegal_transition")

    def _actor_may_act(self, actor: dict) -> None:
        _require(actor.get("officer_id") not in self.recused, "officer_recused")

    # -- verification ---------------------------------------------------------

    def start_verification(self, actor: dict) -> None:
        self._in("start_verification")
        self._actor_may_act(actor)
        self._verification_started(actor=actor)

    @event("VerificationStarted")
    def _verification_started(self, actor: dict) -> None:
        self._step("verification_started", actor, status="verifikasi")

    def request_information(self, actor: dict, question: str, due_on: date) -> None:
        self._in("request_information")
        self._actor_may_act(actor)
        _require(bool(question and question.strip()), "question_required")
        self._information_requested(actor=actor, question=question.strip(), due_on=due_on.isoformat())

    @event("InformationRequested")
    def _information_requested(self, actor: dict, question: str, due_on: str) -> None:
        self.information_due = due_on
        self._message(**{"from": "inspektorat", "text": question, "kind": "question", "due_on": due_on})
        self._step("information_requested", actor, status="menunggu_informasi", due_on=due_on)

    def reporter_writes(self, text: str, attachments: list[dict] | None = None) -> None:
        """A message from the reporter (through the receipt); answers an open
        request for information, which puts the case back into verification."""
        self._open()
        _require(bool(text and text.strip()), "message_required")
        self._reporter_message(text=text.strip(), attachments=list(attachments or []))

    @event("ReporterMessage")
    def _reporter_message(self, text: str, attachments: list) -> None:
        self._message(**{"from": "pelapor", "text": text, "kind": "message", "attachments": attachments})
        self.evidence.extend(attachments)
        if self.status == "menunggu_informasi":
            self.information_due = None
            self._step("information_received", {"id": "reporter"}, status="verifikasi")

    def add_evidence(self, items: list[dict]) -> None:
        """Attachments from the reporter (through the receipt): metadata only
        (evidence_id, label, mime, size, sha256, original_ref); the stripped
        bytes live in ``evidence_blob``, the original sealed in the vault. An
        item already on the case is skipped, so a retried upload adds nothing."""
        self._open()
        known = {e.get("evidence_id") for e in self.evidence}
        fresh = []
        for item in items:
            if item["evidence_id"] not in known:
                known.add(item["evidence_id"])
                fresh.append({k: item[k] for k in ("evidence_id", "label", "mime", "size", "sha256", "original_ref")})
        if fresh:
            self._evidence_added(items=fresh)

    @event("EvidenceAdded")
    def _evidence_added(self, items: list) -> None:
        self.evidence.extend({**item, "added_at": self._at()} for item in items)
        self._step("evidence_added", {"id": "reporter"}, visible=False,
                   evidence=[{"evidence_id": i["evidence_id"], "label": i["label"]} for i in items])

    def message_reporter(self, actor: dict, text: str) -> None:
        self._open()
        self._actor_may_act(actor)
        _require(bool(text and text.strip()), "message_required")
        self._officer_message(actor=actor, text=text.strip())

    @event("OfficerMessage")
    def _officer_message(self, actor: dict, text: str) -> None:
        self._message(**{"from": "inspektorat", "text": text, "kind": "message",
                         "officer_id": actor.get("officer_id")})
        self._step("message_to_reporter", actor)

    def add_note(self, actor: dict, text: str) -> None:
        """An internal working note; never shown to the reporter."""
        self._actor_may_act(actor)
        _require(bool(text and text.strip()), "message_required")
        self._note_added(actor=actor, text=text.strip())

    @event("NoteAdded")
    def _note_added(self, actor: dict, text: str) -> None:
        self._step("note", actor, visible=False, text=text)

    # -- verification outcomes ------------------------------------------------

    def forward(self, actor: dict, destination_kind: str, destination: str, reason: str, pack=None,
                calendar=None, now: datetime | None = None) -> None:
        """Pelimpahan: to another tenant (it continues there) or to an external
        body (it ends here: with the tenant's ``pack`` the event records how
        each deadline ended, as ``close`` does)."""
        self._in("forward")
        self._actor_may_act(actor)
        reason = _reason(reason)
        _require(destination_kind in ("tenant", "external"), "invalid_destination")
        if destination_kind == "external":
            _require(destination in external_codes(), "invalid_destination")
        else:
            _require(destination != self.handling_tenant, "invalid_destination")
            pack = None  # the case goes on at the receiving Inspektorat, its clocks afresh
        self._forwarded(actor=actor, destination_kind=destination_kind, destination=destination, reason=reason,
                        deadlines=self._ending_deadlines(pack, calendar, now))

    class RecordsDeadlines(Event):
        """An event that can end the case here (closing, rejection, archiving,
        an external pelimpahan). v2 added ``deadlines``: how each deadline
        ended, with the tenant's pack (see ``close``); v1 events load with None."""
        class_version = 2
        deadlines: dict | None

        @staticmethod
        def upcast_v1_v2(state: dict) -> None:
            state["deadlines"] = None

    class Forwarded(RecordsDeadlines):
        # ``deadlines`` is None for a pelimpahan to another tenant: the case goes on there
        actor: dict
        destination_kind: str
        destination: str
        reason: str

    @event(Forwarded)
    def _forwarded(self, actor: dict, destination_kind: str, destination: str, reason: str,
                   deadlines: dict | None = None) -> None:
        self.forwarded_to = {"kind": destination_kind, "destination": destination}
        if destination_kind == "tenant":
            # the receiving Inspektorat starts again from registration
            self.handling_tenant = destination
            self._step("forwarded", actor, status="diterima", reason=reason, destination=self.forwarded_to)
        else:
            self._step("forwarded", actor, status="dilimpahkan", reason=reason, destination=self.forwarded_to)

    def reject(self, actor: dict, reason: str, pack=None, calendar=None, now: datetime | None = None) -> None:
        self._in("reject")
        self._actor_may_act(actor)
        self._rejected(actor=actor, reason=_reason(reason), deadlines=self._ending_deadlines(pack, calendar, now))

    class EndedHere(RecordsDeadlines):
        """An ending with a reason."""
        actor: dict
        reason: str

    class Rejected(EndedHere):
        pass

    @event(Rejected)
    def _rejected(self, actor: dict, reason: str, deadlines: dict | None = None) -> None:
        self._step("rejected", actor, status="ditolak", reason=reason)

    def archive(self, actor: dict, reason: str, pack=None, calendar=None, now: datetime | None = None) -> None:
        self._in("archive")
        self._actor_may_act(actor)
        self._archived(actor=actor, reason=_reason(reason), deadlines=self._ending_deadlines(pack, calendar, now))

    class Archived(EndedHere):
        pass

    @event(Archived)
    def _archived(self, actor: dict, reason: str, deadlines: dict | None = None) -> None:
        self.information_due = None
        self._step("archived", actor, status="diarsipkan", reason=reason)

    def accept(self, actor: dict, note: str | None = None) -> None:
        self._in("accept")
        self._actor_may_act(actor)
        self._accepted(actor=actor, note=(note or "").strip() or None)

    @event("Accepted")
    def _accepted(self, actor: dict, note: str | None) -> None:
        self._step("accepted", actor, status="penelaahan", note=note)

    # -- investigation, findings, follow-up ------------------------------------

    def start_investigation(self, actor: dict, team: list[str], plan: str, due_on: date,
                            field_check: bool = False) -> None:
        self._in("start_investigation")
        self._actor_may_act(actor)
        _require(bool(team) and all(isinstance(t, str) and t for t in team), "team_required")
        _require(not set(team) & set(self.recused), "officer_recused")
        _require(bool(plan and plan.strip()), "plan_required")
        self._investigation_started(actor=actor, team=list(dict.fromkeys(team)), plan=plan.strip(),
                                    due_on=due_on.isoformat(), field_check=bool(field_check))

    @event("InvestigationStarted")
    def _investigation_started(self, actor: dict, team: list, plan: str, due_on: str, field_check: bool) -> None:
        self.investigation = {"team": team, "plan": plan, "due_on": due_on, "field_check": field_check}
        self._step("investigation_started", actor, status="investigasi", due_on=due_on, field_check=field_check)

    def record_findings(self, actor: dict, outcome: str, summary: str, recommendations: list[dict]) -> None:
        self._in("record_findings")
        self._actor_may_act(actor)
        _require(outcome in ("terbukti", "tidak_terbukti"), "invalid_outcome")
        _require(bool(summary and summary.strip()), "summary_required")
        recs = [validate_recommendation(r) for r in recommendations]
        _require(outcome == "terbukti" or not recs, "recommendations_need_proof")
        for n, rec in enumerate(recs, start=1):
            rec["id"] = f"R{n}"
        self._findings_recorded(actor=actor, outcome=outcome, summary=summary.strip(), recommendations=recs)

    @event("FindingsRecorded")
    def _findings_recorded(self, actor: dict, outcome: str, summary: str, recommendations: list) -> None:
        self.findings = {"outcome": outcome, "summary": summary}
        self.recommendations = [{**r, "done": False, "done_note": None} for r in recommendations]
        status = "tindak_lanjut" if recommendations else "hasil"
        self._step("findings_recorded", actor, status=status, outcome=outcome)

    def complete_recommendation(self, actor: dict, recommendation_id: str, note: str) -> None:
        self._in("complete_recommendation")
        self._actor_may_act(actor)
        rec = next((r for r in self.recommendations if r["id"] == recommendation_id), None)
        _require(rec is not None, "unknown_recommendation")
        _require(not rec["done"], "already_done")
        self._recommendation_completed(actor=actor, recommendation_id=recommendation_id, note=_reason(note))

    @event("RecommendationCompleted")
    def _recommendation_completed(self, actor: dict, recommendation_id: str, note: str) -> None:
        for rec in self.recommendations:
            if rec["id"] == recommendation_id:
                rec["done"], rec["done_note"] = True, note
        self._step("recommendation_completed", actor, recommendation_id=recommendation_id, note=note)

    def record_sanction_follow_up(self, source: str, recommendation_id: str, follow_up: dict) -> None:
        """What the personnel agency (BKPSDM) did with a sanction recommendation,
        from its own system, in any status; the same report twice changes nothing."""
        rec = next((r for r in self.recommendations if r["id"] == recommendation_id), None)
        _require(rec is not None and rec["kind"] == "sanksi_disiplin", "unknown_recommendation")
        if rec.get("followed_up") != {**follow_up, "source": source}:
            self._sanction_followed_up(source=source, recommendation_id=recommendation_id, follow_up=follow_up)

    @event("SanctionFollowedUp")
    def _sanction_followed_up(self, source: str, recommendation_id: str, follow_up: dict) -> None:
        next(r for r in self.recommendations if r["id"] == recommendation_id)["followed_up"] = {**follow_up,
                                                                                               "source": source}
        self._step("sanction_followed_up", {"system": source}, recommendation_id=recommendation_id, **follow_up)

    def close(self, actor: dict, reason: str, feedback: str, pack=None, calendar=None,
              now: datetime | None = None) -> None:
        """Close after findings. With the tenant's deadline ``pack`` and
        ``calendar`` the event also records how each deadline ended, so that
        statistics replay this fact instead of recomputing it later."""
        self._in("close")
        self._actor_may_act(actor)
        _require(all(r["done"] for r in self.recommendations), "follow_up_open")
        _require(bool(feedback and feedback.strip()), "feedback_required")
        self._closed(actor=actor, reason=_reason(reason), feedback=feedback.strip(),
                     deadlines=self._ending_deadlines(pack, calendar, now))

    def _ending_deadlines(self, pack, calendar, now: datetime | None) -> dict | None:
        """How each deadline ended, for the event that ends the case (None without a pack)."""
        return None if pack is None else self.closing_deadlines(pack, calendar, now or datetime.now(timezone.utc))

    def closing_deadlines(self, pack, calendar, now: datetime) -> dict:
        """{"pack", "rules": [{rule, due_at, met_at, met}]} as if the case ended
        at ``now`` (closed, rejected, archived or forwarded out: an ending stops
        every clock, as ``closed`` does); rules that never started are left out."""
        from .deadlines import ClockEvent, compute_deadlines

        clock = self.clock_events() + [ClockEvent("closed", now)]
        rules = [{"rule": d.rule_code, "due_at": d.due_at.isoformat(),
                  "met_at": d.satisfied_at.isoformat() if d.satisfied_at else None, "met": d.state == "satisfied"}
                 for d in compute_deadlines(pack, clock, calendar, now=now) if d.state != "not_started"]
        return {"pack": pack.code, "rules": rules}

    class Closed(RecordsDeadlines):
        actor: dict
        reason: str
        feedback: str

    @event(Closed)
    def _closed(self, actor: dict, reason: str, feedback: str, deadlines: dict | None = None) -> None:
        self._message(**{"from": "inspektorat", "text": feedback, "kind": "feedback"})
        self._step("closed", actor, status="selesai", reason=reason)

    # -- conflicts of interest ------------------------------------------------

    def recuse(self, actor: dict, reason: str) -> None:
        _require(bool(actor.get("officer_id")), "officer_required")
        _require(actor["officer_id"] not in self.recused, "already_recused")
        self._recused(actor=actor, reason=_reason(reason))

    @event("OfficerRecused")
    def _recused(self, actor: dict, reason: str) -> None:
        self.recused.append(actor["officer_id"])
        self._step("recused", actor, visible=False, reason=reason)

    def escalate(self, actor: dict, to_tenant: str, reason: str) -> None:
        """The handling Inspektorat is itself reported (or otherwise conflicted):
        the province takes the case over."""
        self._open()
        _require(to_tenant != self.handling_tenant, "invalid_destination")
        self._escalated(actor=actor, to_tenant=to_tenant, reason=_reason(reason))

    @event("Escalated")
    def _escalated(self, actor: dict, to_tenant: str, reason: str) -> None:
        self.escalations.append({"from": self.handling_tenant, "to": to_tenant})
        self.handling_tenant = to_tenant
        self._step("escalated", actor, visible=False, reason=reason, to_tenant=to_tenant)

    # -- disclosure notice (tenant policy) ---------------------------------------

    def notice_disclosure_requested(self, request_id: str, legal_basis: str) -> None:
        """Tell the reporter, through the case's anonymous dialogue, that a
        disclosure of their identity was requested; once per request."""
        _require(legal_basis in DISCLOSURE_NOTICE_BASES, "invalid_legal_basis")
        if request_id in getattr(self, "disclosure_notices", []):
            return
        self._disclosure_noticed(request_id=request_id, legal_basis=legal_basis)

    @event("DisclosureNoticed")
    def _disclosure_noticed(self, request_id: str, legal_basis: str) -> None:
        if not hasattr(self, "disclosure_notices"):  # snapshots taken before this event existed
            self.disclosure_notices = []
        self.disclosure_notices.append(request_id)
        self._message(**{"from": "inspektorat", "kind": "notice", "text": disclosure_notice(legal_basis)})
        self._step("disclosure_notice", {"id": "system"}, visible=False, request_id=request_id,
                   legal_basis=legal_basis)

    # -- deadlines --------------------------------------------------------------

    def clock_events(self):
        """The case's steps in the vocabulary of ``deadlines.CLOCK_EVENTS``."""
        from .deadlines import ClockEvent

        out = []
        for kind, at, extra in self.clock:
            kinds = CLOCK_KINDS.get(kind, ())
            if kind == "registered":
                kinds = ("registered", "acknowledged")  # the receipt is the acknowledgement
            elif kind == "forwarded" and extra == "diterima":
                kinds = ("registered",)  # the receiving Inspektorat's clocks start afresh
            elif kind == "investigation_started" and extra:
                kinds = ("investigation_started", "field_investigation_started")
            out.extend(ClockEvent(k, datetime.fromisoformat(at)) for k in kinds)
        return out

    def deadlines(self, pack, calendar, now: datetime, tz: str = "Asia/Jakarta"):
        from .deadlines import compute_deadlines

        return compute_deadlines(pack, self.clock_events(), calendar, tz, now=now)

    def pending_notices(self, pack, calendar, now: datetime, tz: str = "Asia/Jakarta") -> list[tuple[str, str]]:
        from .deadlines import due_notices

        done = {tuple(n) for n in self.deadline_notices}
        return [n for n in due_notices(self.deadlines(pack, calendar, now, tz), now) if n not in done]

    def notice_deadline(self, rule: str, notice: str, due_at: str) -> None:
        """A deadline is approaching or breached: recorded once per rule and kind."""
        _require(notice in ("approaching", "breached"), "invalid_notice")
        _require([rule, notice] not in self.deadline_notices, "already_noticed")
        self._deadline_noticed(rule=rule, notice=notice, due_at=due_at)

    @event("DeadlineNoticed")
    def _deadline_noticed(self, rule: str, notice: str, due_at: str) -> None:
        self.deadline_notices.append([rule, notice])
        self._step(f"deadline_{notice}", {"id": "system"}, visible=False, rule=rule, due_at=due_at)

    # -- redaction (the plan and its checks: redaction.py) -----------------------
    def redact(self, actor: dict, target: dict, reason: str, passages: list, text: str | None) -> None:
        self._actor_may_act(actor)
        self._passage_redacted(actor=actor, target=target, reason=_reason(reason), passages=passages, text=text)

    @event("PassageRedacted")
    def _passage_redacted(self, actor: dict, target: dict, reason: str, passages: list, text: str | None) -> None:
        redaction.apply(self, target, text)
        self._step("redacted", actor, visible=False, reason=reason, target=target, passages=passages)


def transcript(events) -> tuple[Case | None, list[dict], list[dict]]:
    """Replay a case's events: the case, its full history and its dialogue."""
    case, history, messages = None, [], []
    for stored in events:
        case = stored.mutate(case)
        for entry, into in ((case._last_step, history), (case._last_message, messages)):
            if entry:  # the event's version names its message or note (a redaction's target)
                into.append({**entry, "event_version": stored.originator_version})
        if isinstance(stored, Case.PassageRedacted):
            redaction.patch(history, messages, stored.target, stored.text)
    return case, history, messages


def reporter_timeline(history: list[dict]) -> list[dict]:
    return [{"at": h["at"], "status": h["status"], "label": STATUS_LABELS[h["status"]]}
            for h in history if h["reporter_visible"]]


def reporter_messages(messages: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if k not in ("officer_id", "event_version")} for m in messages]


# history kinds -> deadline clock events (see Case.clock_events for the special cases)
CLOCK_KINDS = {
    "verification_started": ("verification_started",),
    "information_requested": ("information_requested",),
    "information_received": ("information_received",),
    "investigation_started": ("investigation_started",),
    "findings_recorded": ("investigation_completed",),
    "message_to_reporter": ("feedback_sent",),
    "closed": ("closed",), "rejected": ("closed",), "archived": ("closed",), "forwarded": ("closed",),
}
