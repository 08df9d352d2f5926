"""The province generator of ``make bench`` part (f) writes only what the real
code reads: run on eventsourcing's in-memory store, every event goes through
``domain_events`` and ``load_envelope``, and the workflow it simulates reaches
the outcomes the benchmark claims to cover."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import eventsourcing.domain

from peluit_cases.application import CasesApplication
from peluit_cases.domain import Case
from peluit_contracts.events import load_envelope
from peluit_local import bench_province as bp


def test_generated_province_reads_back_through_the_real_code():
    app = CasesApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    cases, events = bp.Generator(app, {"35.73": 300, "35.07": 200}, seed=1).run()
    assert cases == 500
    assert 8 * cases < events < 14 * cases  # "about 10 events per case"
    assert app.max_position() == events

    # the simulated clock is gone again
    assert abs(eventsourcing.domain.datetime_now_with_tzinfo() - datetime.now(timezone.utc)) < timedelta(minutes=1)

    types, statuses, endings, numbers, position = Counter(), Counter(), Counter(), {}, 0
    while position < app.max_position():
        page = app.domain_events(after=position, limit=bp.PAGE)
        for envelope in page["events"]:
            envelope = load_envelope(envelope)
            types[envelope["type"]] += 1
            if envelope["type"] == "case.status_changed":
                endings[envelope["data"]["step"]] += 1
            elif envelope["type"] == "case.forwarded":
                endings[envelope["data"]["destination_kind"]] += 1
            if envelope["type"] == "case.registered":
                d = envelope["data"]
                assert bp.START <= d["registered_at"] < bp.END
                tenant, year, number = d["registration_number"].split("/")[1:]
                numbers.setdefault((tenant, year), []).append(int(number))
                statuses[app.repository.get(d["case_id"]).status] += 1
        position = page["next"]
    assert types["case.registered"] == 500
    assert {"case.status_changed", "case.forwarded", "case.sanction_recommended", "case.closed",
            "case.deadline_outcomes"} <= set(types)
    # every ending records its deadlines, as the service hands each one the pack (generator v3)
    assert types["case.deadline_outcomes"] == endings["rejected"] + endings["archived"] + endings["closed"] \
        + endings["external"] > 0
    # gap-free numbers per tenant and year, as register_report issues them
    assert all(sorted(n) == list(range(1, len(n) + 1)) for n in numbers.values())
    assert {"selesai", "ditolak", "diarsipkan", "dilimpahkan"} <= set(statuses)
    assert statuses["selesai"] > 0.3 * cases

    # every case's events are in time order; the deadline code left notices
    notices = 0
    for case_id in {e.originator_id for e in app.events.recorder.select_notifications(1, events)
                    if e.topic.startswith("peluit_cases.domain:Case.")}:
        stamps = [e.timestamp for e in app.events.get(case_id)]
        assert stamps == sorted(stamps)
        notices += sum(isinstance(e, Case.DeadlineNoticed) for e in app.events.get(case_id))
    assert notices > 0
