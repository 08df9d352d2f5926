"""Stored events -> public envelopes (``peluit_contracts.events``).

Only what other services need crosses: never report text, never the
reporter_ref, never a receipt hash.
"""

from __future__ import annotations

from peluit_contracts.events import dump_envelope

from .domain import Case


def to_envelope(position: int, domain_event) -> dict | None:
    if isinstance(domain_event, Case.Registered):
        return dump_envelope(
            event_id=f"{domain_event.originator_id}:{domain_event.originator_version}",
            event_type="case.registered",
            version=1,
            time=domain_event.timestamp,
            subject=str(domain_event.originator_id),
            tenant=domain_event.tenant,
            position=position,
            data={
                "case_id": domain_event.originator_id,
                "tenant": domain_event.tenant,
                "registration_number": domain_event.registration_number,
                "category": domain_event.category,
                "channel": domain_event.channel,
                "anonymous": domain_event.anonymous,
                "registered_at": domain_event.timestamp,
            },
        )
    return None
