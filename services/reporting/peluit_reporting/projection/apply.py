"""A window of envelopes applied to the read models in the caller's transaction."""

from __future__ import annotations

from collections import defaultdict

import orjson
from psycopg.types.json import Jsonb

from peluit_contracts.events import DATA_SCHEMAS, ENVELOPE_VERSION

from .statements import (APPLIED, COUNT_STATEMENTS, DATED, FIRST_RESPONSE_STEPS, STAGED, STATEMENTS, STEPS,
                         VERIFIED_STEPS)
from .tables import TIMEZONE


def apply(conn, envelope: dict) -> None:
    """Apply one envelope (see ``apply_page``)."""
    apply_page(conn, [envelope])


def apply_page(conn, envelopes: list[dict], counts: bool = True) -> None:
    """Apply a page of envelopes in log order, inside the caller's transaction,
    with one statement per envelope type instead of one per envelope (a
    rebuild is a few thousand pages; per-envelope round trips were most of it).

    Envelopes come as the cases RPC sends them (JSON values) or loaded by
    ``load_envelope``. Each one's header is checked against the contract
    registry here; its values are checked by PostgreSQL, which casts every
    field into a typed, NOT NULL column: a bad envelope fails the statement
    and the whole page rolls back with the tracking row.

    Status moves: only a case's state before the page and after it matter to
    the counts, so each case's moves in the page are folded into one update
    (its last tenant and status, the first time of each kind of step) and
    count changes are summed and written once per key; a count that reaches
    zero is deleted, so page boundaries never show in the tables."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    new_cases: dict[str, dict] = {}  # registered in this window: row as of the window's end
    folded: dict[str, list[dict]] = defaultdict(list)  # the moves folded into those rows
    for envelope in envelopes:
        _check(envelope)
        kind = envelope["type"]
        if kind == "case.registered":
            d = envelope["data"]
            new_cases.setdefault(str(d["case_id"]), {
                **d, "origin_tenant": d["tenant"], "status": "diterima", "position": envelope["position"],
                "first_response_at": None, "verified_at": None, "closed_at": None})
        elif kind == "case.status_changed":
            move = {**envelope["data"], "position": envelope["position"]}
            row = new_cases.get(str(move["case_id"]))
            if row is None:
                by_type[kind].append(move)
            else:  # a case that registers and moves in one window is written once
                _fold(row, move)
                folded[str(move["case_id"])].append(move)
        elif kind == "case.deadline_outcomes":
            outcomes = dict(envelope["data"])
            rules = outcomes.pop("deadlines")
            if not isinstance(rules, list):
                raise EnvelopeRejected("deadlines must be a list")
            by_type[kind].extend({**outcomes, **rule, "position": envelope["position"]} for rule in rules)
        elif kind in APPLIED:
            by_type[kind].append({**envelope["data"], "position": envelope["position"]})
    deltas: dict[tuple, int] = defaultdict(int)  # (tenant, month, category, channel, status) -> change
    changed: set[tuple] = set()  # (tenant, month) whose statistics this page changes
    by_type["case.registered"] = list(new_cases.values())
    with conn.cursor() as cur:
        for kind, statement in STATEMENTS:
            rows = by_type.get(kind)
            if not rows:
                continue
            if not counts:  # a rebuild: moves and closings wait for its end, and it marks nothing
                statement = STAGED.get(kind, statement)
            elif kind in DATED:
                statement += DATED[kind]
            cur.execute(statement, {"page": _Page(rows), "tz": TIMEZONE.key, **STEPS})
            if kind in DATED and counts:
                changed.update(cur.fetchall())
            elif kind == "case.registered":
                inserted = set()
                for case_id, tenant, month, category, channel, status in cur.fetchall():
                    inserted.add(str(case_id))
                    deltas[(tenant, month, category, channel, status)] += 1
                    changed.add((tenant, month))
                # known already (a window applied again): their moves go the ordinary way, guarded by position
                late = [m for key, moves in folded.items() if key not in inserted for m in moves]
                if late:
                    by_type["case.status_changed"] = sorted(by_type["case.status_changed"] + late,
                                                            key=lambda m: m["position"])
            elif kind == "case.status_changed" and counts:
                for old_tenant, old_status, tenant, status, month, category, channel in cur.fetchall():
                    changed.update(((old_tenant, month), (tenant, month)))  # timings change too
                    if (old_tenant, old_status) != (tenant, status):
                        deltas[(old_tenant, month, category, channel, old_status)] -= 1
                        deltas[(tenant, month, category, channel, status)] += 1
    if counts:
        _flush(conn, deltas)
        if changed:
            at = max(e["position"] for e in envelopes)  # above the position of any report computed before
            conn.execute(
                "INSERT INTO stats_changed AS s (tenant, month, position) SELECT t, m, %s FROM unnest(%s::text[], "
                "%s::date[]) AS u(t, m) ON CONFLICT (tenant, month) DO UPDATE SET position = "
                "greatest(s.position, EXCLUDED.position)", (at, *map(list, zip(*sorted(changed)))))



def _fold(row: dict, move: dict) -> None:
    """A status move on a row of this window, as ``_STATUS_CHANGED`` would apply it."""
    row["tenant"], row["status"], row["position"] = move["tenant"], move["status"], move["position"]
    step, at = move["step"], move["changed_at"]
    if step in FIRST_RESPONSE_STEPS and row["first_response_at"] is None:
        row["first_response_at"] = at
    if step in VERIFIED_STEPS and row["verified_at"] is None:
        row["verified_at"] = at
    if step == "closed" and row["closed_at"] is None:
        row["closed_at"] = at


class EnvelopeRejected(ValueError):
    """An envelope that does not follow the contract (the page is not applied)."""


def _check(envelope) -> None:
    try:  # the common case in one expression: a rebuild checks a few million of these
        position = envelope["position"]
        if (envelope["specversion"] == ENVELOPE_VERSION and (envelope["type"], envelope["dataversion"]) in DATA_SCHEMAS
                and type(position) is int and position > 0 and type(envelope["data"]) is dict):
            return
    except (KeyError, TypeError):
        pass
    raise EnvelopeRejected("not an envelope of a known type and version (specversion, type, dataversion, a positive"
                           " integer position, a data object)")


class _Page(Jsonb):
    """A page's rows as one jsonb parameter (orjson writes the datetimes and
    UUIDs of loaded envelopes, and is several times faster than json)."""

    def __init__(self, obj):
        super().__init__(obj, dumps=orjson.dumps)



def _flush(conn, deltas: dict[tuple, int]) -> None:
    """Add the page's summed count changes, a statement per table, then drop
    the counts a decrease took to zero (in a second statement: one statement
    cannot reliably change a row twice)."""
    by_status: dict[tuple, int] = defaultdict(int)
    by_year: dict[tuple, int] = defaultdict(int)
    for (tenant, month, category, _channel, status), n in deltas.items():
        by_status[(tenant, status)] += n
        by_year[(tenant, month.year, category, status)] += n
    for table, changes in (("case_count", deltas), ("tenant_status_count", by_status), ("public_count", by_year)):
        changed = sorted((k, n) for k, n in changes.items() if n)
        if not changed:
            continue
        add, drop = COUNT_STATEMENTS[table]
        conn.execute(add, [list(column) for column in zip(*(k + (n,) for k, n in changed))])
        decreased = [k for k, n in changed if n < 0]
        if decreased:
            conn.execute(drop, [list(column) for column in zip(*decreased)])


