"""The officer directory as notifications sees it (``peluit_contracts.notify``).

cases owns officers, so it answers "whom to tell": active officers by tenant
and role, by id, or acting on a case, each with the e-mail address on their
record and their preference per kind; and the case's registration number and
nearest deadline for the message. Preferences live here beside the officer
record and are set through the officer API (``POST /api/v1/officer/me/notifications``).
Nothing about the reporter is read or returned.
"""

from __future__ import annotations

from uuid import UUID

from peluit_common.db import apply_schema
from peluit_contracts.notify import ALWAYS_ON, DEFAULT_MODE, KINDS, effective_mode

SCHEMA = """
SELECT pg_advisory_xact_lock(hashtext('peluit_cases.notify_directory.migrate'));
CREATE TABLE IF NOT EXISTS officer_notification_preference (
    officer_id uuid NOT NULL REFERENCES officer(id) ON DELETE CASCADE,
    kind text NOT NULL,
    mode text NOT NULL CHECK (mode IN ('immediately', 'digest', 'off')),
    PRIMARY KEY (officer_id, kind)
);
"""

_SELECT = ("SELECT o.id, o.tenant, o.email, coalesce(jsonb_object_agg(p.kind, p.mode) "
           "FILTER (WHERE p.kind IS NOT NULL), '{{}}') FROM officer o "
           "LEFT JOIN officer_notification_preference p ON p.officer_id = o.id "
           "WHERE o.active AND ({where}) GROUP BY o.id, o.tenant, o.email ORDER BY o.id")


def migrate(conn) -> None:
    apply_schema(conn, SCHEMA)


def acting_officers(case, history: list[dict]) -> list[str]:
    """The investigation team once there is one, else the officers of the
    handling tenant who recorded the case's steps (most recent first)."""
    if case.investigation and case.investigation.get("team"):
        return list(case.investigation["team"])
    out = []
    for step in reversed(history):
        actor = step.get("actor") or {}
        if actor.get("officer_id") and actor.get("tenant", case.handling_tenant) == case.handling_tenant:
            out.append(str(actor["officer_id"]))
    return list(dict.fromkeys(out))


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


def recipients(conn, app, query: dict) -> dict:
    """``notification_recipients``: the reply for a validated ``RecipientsQuery``."""
    where, params = [], []
    if query.get("tenant") and query.get("roles"):
        where.append("(o.tenant = %s AND o.roles && %s::text[])")
        params += [query["tenant"], list(query["roles"])]
    ids = [str(i) for i in query.get("officer_ids") or []]
    facts = None
    if query.get("case_id"):
        case_id = UUID(str(query["case_id"]))
        with conn.transaction():
            row = conn.execute("SELECT registration_number, deadline_rule, deadline_due_at FROM case_index "
                               "WHERE case_id = %s", (case_id,)).fetchone()
        if row:
            facts = {"registration_number": row[0], "deadline_rule": row[1],
                     "deadline_due_at": row[2].isoformat() if row[2] else None}
        if query.get("acting"):
            case, history, _ = app.transcript(case_id)
            ids += acting_officers(case, history)
        if facts is None:  # the case index follows the log and may not have the case yet
            facts = {"registration_number": app.get_case(case_id).registration_number, "deadline_rule": None,
                     "deadline_due_at": None}
    ids = [i for i in ids if _is_uuid(i)]  # a team named before ids were checked holds other strings
    if ids:
        where.append("o.id = ANY(%s::uuid[])")
        params.append(ids)
    found = []
    if where:
        with conn.transaction():
            rows = conn.execute(_SELECT.format(where=" OR ".join(where)), params).fetchall()
        found = [{"officer_id": str(r[0]), "tenant": r[1], "email": r[2], "preferences": r[3]} for r in rows]
    return {"recipients": found, "case": facts}


def preferences(conn, officer_id: str) -> dict:
    """Every kind with the officer's mode (the default where none is set) and
    whether it may be switched off."""
    with conn.transaction():
        rows = conn.execute("SELECT kind, mode FROM officer_notification_preference WHERE officer_id = %s",
                            (officer_id,)).fetchall()
    chosen = dict(rows)
    return {"preferences": [{"kind": k, "mode": effective_mode(chosen, k), "can_switch_off": k not in ALWAYS_ON}
                            for k in KINDS], "default_mode": DEFAULT_MODE}


def set_preferences(conn, officer_id: str, changes: dict) -> dict:
    """Store validated ``PreferencesChange.preferences``; "off" for a breach
    kind is refused by the caller before this (``ALWAYS_ON``)."""
    with conn.transaction():
        for kind, mode in changes.items():
            conn.execute("INSERT INTO officer_notification_preference (officer_id, kind, mode) VALUES (%s, %s, %s) "
                         "ON CONFLICT (officer_id, kind) DO UPDATE SET mode = excluded.mode",
                         (officer_id, kind, mode))
    return preferences(conn, officer_id)
