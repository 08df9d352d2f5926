"""Stored events -> public envelopes (``peluit_contracts.events``).

Only what other services need crosses: never report text, never the
reporter_ref, never a receipt hash. The relay sends ``INTEGRATION_TYPES``
(forwarded, sanction recommended, closed) to ``peluit.integration`` for other
pemda systems and the rest to ``peluit.domain``; followers of the log see all.
Deadline facts for statistics (``case.deadline_outcomes`` at closing,
``case.deadline_breached`` from the scheduler) are internal.
"""

from __future__ import annotations

from datetime import datetime

from peluit_contracts.events import dump_envelope
from peluit_contracts.sanctions import FIRST_VERSION

from .domain import Case

# workflow events that may change status or handling tenant, by the step they record
STEPS = {
    Case.VerificationStarted: "verification_started", Case.InformationRequested: "information_requested",
    Case.ReporterMessage: "information_received", Case.Forwarded: "forwarded", Case.Rejected: "rejected",
    Case.Archived: "archived", Case.Accepted: "accepted", Case.InvestigationStarted: "investigation_started",
    Case.FindingsRecorded: "findings_recorded", Case.Closed: "closed", Case.Escalated: "escalated",
}


# the events that end a case, which record how its deadlines ended (with the tenant's pack)
ENDINGS = (Case.Closed, Case.Rejected, Case.Archived, Case.Forwarded)

# what the Inspektorat wrote to the reporter (the text stays in the case)
MESSAGE_KINDS = {Case.InformationRequested: "question", Case.OfficerMessage: "message", Case.Closed: "feedback",
                 Case.DisclosureNoticed: "notice"}


def to_envelopes(position: int, event, before: tuple[str, str] | None, case: Case | None) -> list[dict]:
    """Envelopes for one stored event. ``case`` is the aggregate *after* the
    event, ``before`` its (status, handling_tenant) before it."""
    base = {"event_id": f"{event.originator_id}:{event.originator_version}", "time": event.timestamp,
            "subject": str(event.originator_id), "position": position}
    if isinstance(event, Case.Registered):
        return [dump_envelope(
            **base, event_type="case.registered", version=1, tenant=event.tenant,
            data={"case_id": event.originator_id, "tenant": event.tenant,
                  "registration_number": event.registration_number, "category": event.category,
                  "channel": event.channel, "anonymous": event.anonymous, "registered_at": event.timestamp}),
        ] + _for_partner(base, case, event.timestamp)
    out = []
    kind = MESSAGE_KINDS.get(type(event))
    if kind is not None:
        out.append(dump_envelope(
            **{**base, "event_id": base["event_id"] + ":message"}, event_type="case.message_for_reporter",
            version=1, tenant=case.handling_tenant,
            data={"case_id": event.originator_id, "tenant": case.handling_tenant, "kind": kind,
                  "sent_at": event.timestamp}))
    if isinstance(event, Case.DeadlineNoticed) and case is not None:
        # internal: reporting counts breaches of open cases; notifications tells the officers
        out.append(dump_envelope(
            **{**base, "event_id": f"{base['event_id']}:{event.notice}"}, version=1,
            event_type=f"case.deadline_{event.notice}", tenant=case.handling_tenant,
            data={"case_id": event.originator_id, "tenant": case.handling_tenant, "rule": event.rule,
                  "due_at": datetime.fromisoformat(event.due_at) if event.due_at else None,
                  "noticed_at": event.timestamp}))
    if case is not None and isinstance(event, (Case.ReporterMessage, Case.InvestigationStarted)):
        # internal, for the officers' notifications: who must hear of it, never what was written
        data = {"case_id": event.originator_id, "tenant": case.handling_tenant}
        if isinstance(event, Case.ReporterMessage):
            event_type, suffix, data["written_at"] = "case.reporter_wrote", ":reporter", event.timestamp
        else:
            event_type, suffix = "case.team_assigned", ":team"
            data.update(team=event.team, assigned_at=event.timestamp)
        out.append(dump_envelope(**{**base, "event_id": base["event_id"] + suffix}, event_type=event_type,
                                 version=1, tenant=case.handling_tenant, data=data))
    step = STEPS.get(type(event))
    if step is None or case is None:
        return out
    if before != (case.status, case.handling_tenant):
        out.append(dump_envelope(
            **base, event_type="case.status_changed", version=1, tenant=case.handling_tenant,
            data={"case_id": event.originator_id, "tenant": case.handling_tenant, "origin_tenant": case.tenant,
                  "status": case.status, "step": step, "changed_at": event.timestamp}))
        out += _for_partner(base, case, event.timestamp)
    common = {"case_id": event.originator_id, "registration_number": case.registration_number}
    if isinstance(event, Case.Forwarded):
        out.append(dump_envelope(
            **{**base, "event_id": base["event_id"] + ":forwarded"}, event_type="case.forwarded", version=1,
            tenant=before[1], data={**common, "from_tenant": before[1], "destination_kind": event.destination_kind,
                                    "destination": event.destination, "forwarded_at": event.timestamp}))
    elif isinstance(event, Case.FindingsRecorded):
        for rec in event.recommendations:
            if rec.get("kind") == "sanksi_disiplin":
                data = {**common, "tenant": case.handling_tenant, "recommendation_id": rec["id"],
                        "level": rec["sanction"]["level"], "sanction": rec["sanction"]["type"],
                        "months": rec["sanction"].get("months"), "recommended_at": event.timestamp}
                rec_base = {**base, "event_id": f"{base['event_id']}:{rec['id']}", "tenant": case.handling_tenant,
                            "event_type": "case.sanction_recommended"}
                # v1 until its sunset (peluit_contracts.integration.PUBLISHED), v2 beside it
                out.append(dump_envelope(**rec_base, version=1, data=data))
                out.append(dump_envelope(
                    **{**rec_base, "event_id": rec_base["event_id"] + ":v2"}, version=2,
                    data={**data, "catalogue_version": rec["sanction"].get("catalogue") or FIRST_VERSION}))
    elif isinstance(event, Case.Closed):
        out.append(dump_envelope(
            **{**base, "event_id": base["event_id"] + ":closed"}, event_type="case.closed", version=1,
            tenant=case.handling_tenant,
            data={**common, "tenant": case.handling_tenant, "outcome": (case.findings or {}).get("outcome"),
                  "closed_at": event.timestamp}))
    if isinstance(event, ENDINGS) and event.deadlines is not None:
        # internal, beside the public case.closed v1 (whose closed schema cannot grow a field);
        # ``closed_at`` is when the case ended here, whichever way it ended
        out.append(dump_envelope(
            **{**base, "event_id": base["event_id"] + ":deadlines"}, event_type="case.deadline_outcomes",
            version=1, tenant=case.handling_tenant,
            data={"case_id": event.originator_id, "tenant": case.handling_tenant,
                  "pack": event.deadlines["pack"], "closed_at": event.timestamp,
                  "deadlines": [{**r, "due_at": datetime.fromisoformat(r["due_at"]),
                                 "met_at": datetime.fromisoformat(r["met_at"]) if r["met_at"] else None}
                                for r in event.deadlines["rules"]]}))
    return out


def _for_partner(base: dict, case: Case | None, at) -> list[dict]:
    """``report.status_changed`` for a case a partner system filed (public: its own reference, the status)."""
    source = getattr(case, "source", None)  # snapshots from before v3 lack it
    if not source:
        return []
    return [dump_envelope(
        **{**base, "event_id": base["event_id"] + ":partner"}, event_type="report.status_changed", version=1,
        tenant=case.handling_tenant,
        data={"case_id": case.id, "registration_number": case.registration_number, "tenant": case.handling_tenant,
              "source_system": source["system"], "source_id": source["source_id"], "status": case.status,
              "changed_at": at})]
