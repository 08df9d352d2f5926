"""A hand-built cases notification log and the read model it gives: the
fixtures' building blocks (envelopes as the contracts build them, no broker)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from peluit_contracts.events import dump_envelope, load_envelope
from peluit_reporting import projection

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)  # Monday 09:00 in Jakarta


class Log:
    """A hand-built notification log: positions grow like the event store's."""

    def __init__(self):
        self.position, self.envelopes = 0, []

    def add(self, case_id, version, event_type, tenant, at, data, suffix=""):
        self.position += 1
        self.envelopes.append(load_envelope(dump_envelope(
            event_id=f"{case_id}:{version}{suffix}", event_type=event_type, version=1, time=at,
            subject=str(case_id), tenant=tenant, position=self.position, data={"case_id": case_id, **data})))

    def register(self, tenant, at, category="korupsi", channel="web"):
        case_id = uuid.uuid4()
        self.add(case_id, 1, "case.registered", tenant, at, {
            "tenant": tenant, "registration_number": f"WBS/{tenant}/2026/{self.position + 1:06d}",
            "category": category, "channel": channel, "anonymous": True, "registered_at": at})
        return case_id

    def step(self, case_id, version, tenant, status, step, at, origin=None):
        self.add(case_id, version, "case.status_changed", tenant, at, {
            "tenant": tenant, "origin_tenant": origin or tenant, "status": status, "step": step, "changed_at": at})


def build_log() -> tuple[Log, dict]:
    log, ids = Log(), {}
    # A: verified after 1 day, accepted after 2, investigated, sanction, closed after 10 days
    a = ids["a"] = log.register("35.73", T0)
    log.step(a, 2, "35.73", "verifikasi", "verification_started", T0 + timedelta(days=1))
    log.step(a, 3, "35.73", "penelaahan", "accepted", T0 + timedelta(days=2))
    log.step(a, 4, "35.73", "investigasi", "investigation_started", T0 + timedelta(days=3))
    log.step(a, 5, "35.73", "tindak_lanjut", "findings_recorded", T0 + timedelta(days=8))
    log.add(a, 5, "case.sanction_recommended", "35.73", T0 + timedelta(days=8), {
        "registration_number": "WBS/35.73/2026/000001", "tenant": "35.73", "recommendation_id": "R1",
        "level": "sedang", "sanction": "pemotongan_tukin_25_persen", "months": 6,
        "recommended_at": T0 + timedelta(days=8)}, ":R1")
    # cases publishes v2 beside v1 at the same position (until v1's sunset): counted once
    v1 = log.envelopes[-1]
    log.envelopes.append(load_envelope(dump_envelope(
        event_id=v1["id"] + ":v2", event_type="case.sanction_recommended", version=2, time=v1["time"],
        subject=v1["subject"], tenant="35.73", position=v1["position"],
        data={**v1["data"], "catalogue_version": "pp94-2021/1"})))
    closed = T0 + timedelta(days=10)
    log.position += 1  # the envelopes of one stored event share its position
    pos = log.position
    for env_type, data, suffix in [
        ("case.status_changed", {"tenant": "35.73", "origin_tenant": "35.73", "status": "selesai", "step": "closed",
                                 "changed_at": closed}, ""),
        ("case.closed", {"registration_number": "WBS/35.73/2026/000001", "tenant": "35.73", "outcome": "terbukti",
                         "closed_at": closed}, ":closed"),
        ("case.deadline_outcomes", {"tenant": "35.73", "pack": "lapor", "closed_at": closed, "deadlines": [
            {"rule": "first_response", "due_at": T0 + timedelta(days=3), "met_at": T0 + timedelta(days=1),
             "met": True},
            {"rule": "investigation", "due_at": T0 + timedelta(days=7), "met_at": T0 + timedelta(days=8),
             "met": False}]}, ":deadlines"),
    ]:
        log.envelopes.append(load_envelope(dump_envelope(
            event_id=f"{a}:6{suffix}", event_type=env_type, version=1, time=closed, subject=str(a),
            tenant="35.73", position=pos, data={"case_id": a, **data})))
    # B: forwarded to an external body after 3 days
    b = ids["b"] = log.register("35.73", T0 + timedelta(days=1), category="pungli", channel="email")
    log.step(b, 2, "35.73", "dilimpahkan", "forwarded", T0 + timedelta(days=4))
    log.add(b, 2, "case.forwarded", "35.73", T0 + timedelta(days=4), {
        "registration_number": "x", "from_tenant": "35.73", "destination_kind": "external",
        "destination": "kpk", "forwarded_at": T0 + timedelta(days=4)}, ":forwarded")
    # C: still waiting, with a breached first response
    c = ids["c"] = log.register("35.73", T0 + timedelta(days=40))
    log.add(c, 2, "case.deadline_breached", "35.73", T0 + timedelta(days=45), {
        "tenant": "35.73", "rule": "first_response", "due_at": T0 + timedelta(days=43),
        "noticed_at": T0 + timedelta(days=45)}, ":breached")
    # noticed again (as after a scheduler's restart): the first notice stands, incrementally and in a rebuild
    log.add(c, 2, "case.deadline_breached", "35.73", T0 + timedelta(days=46), {
        "tenant": "35.73", "rule": "first_response", "due_at": T0 + timedelta(days=43),
        "noticed_at": T0 + timedelta(days=46)}, ":breached-again")
    # D: forwarded from Kabupaten Malang to Kota Malang (it counts where it is handled now)
    d = ids["d"] = log.register("35.07", T0 + timedelta(days=2))
    log.step(d, 2, "35.73", "diterima", "forwarded", T0 + timedelta(days=5), origin="35.07")
    log.add(d, 2, "case.forwarded", "35.07", T0 + timedelta(days=5), {
        "registration_number": "y", "from_tenant": "35.07", "destination_kind": "tenant",
        "destination": "35.73", "forwarded_at": T0 + timedelta(days=5)}, ":forwarded")
    # E, outside the province: acknowledged, accepted, then forwarded (two steps that end verification; the
    # first counts), its moves logged after the Surabaya cases so that a rebuild stages them
    e = ids["e"] = log.register("36.03", T0 + timedelta(days=3))
    # six more in Surabaya, for the public threshold
    for i in range(6):
        log.register("35.78", T0 + timedelta(hours=i), category="pengadaan")
    log.step(e, 2, "36.03", "verifikasi", "verification_started", T0 + timedelta(days=4))
    log.step(e, 3, "36.03", "penelaahan", "accepted", T0 + timedelta(days=5))
    log.step(e, 4, "36.03", "dilimpahkan", "forwarded", T0 + timedelta(days=7))
    return log, ids


def emptied(conn):
    """The read models emptied (``reset``) and at once a follower at the head
    of an empty log: keyed and indexed, so that ``apply_page`` works as it
    does for a follower that has caught up."""
    projection.reset(conn)
    with conn.transaction():
        projection.finish_rebuild(conn, 0)


def apply_page(conn, envelopes):
    with conn.transaction():
        projection.apply_page(conn, envelopes)
        projection.advance(conn, envelopes[-1]["position"])


def applied(conn, log, size: int = 4):
    """The read models emptied, then ``log`` applied page by page (the state ``built`` fixtures leave)."""
    emptied(conn)
    for i in range(0, len(log.envelopes), size):  # several pages
        apply_page(conn, log.envelopes[i:i + size])


def paged(log):
    """A ``fetch`` over the log: pages of two positions (a position's envelopes stay together)."""
    wire = [json.loads(json.dumps(e, default=str)) for e in log.envelopes]
    head = wire[-1]["position"]

    def fetch(after):
        positions = sorted({e["position"] for e in wire if e["position"] > after})[:2]
        return {"events": [e for e in wire if e["position"] in positions],
                "next": positions[-1] if positions else after, "head": head}
    return fetch, head


KEYED = {*projection.INDEXES, projection.REBUILD_KEY[1]}  # the indexes a rebuild drops until it catches up


def storage(conn) -> tuple[set[str], set[str]]:
    """(the tracking and read-model tables that are UNLOGGED, which of the indexes a rebuild drops exist)"""
    with conn.transaction():
        unlogged = {r[0] for r in conn.execute(
            "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND relpersistence = 'u'",
            (["tracking", *projection.READ_MODELS],)).fetchall()}
        indexes = {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s)",
                                               (list(KEYED),)).fetchall()}
    return unlogged, indexes
