"""The SQL that applies a window's envelopes, one statement per envelope type
(a window's rows of one type go in as one jsonb parameter), and the count
tables' changes."""

from __future__ import annotations

# steps that end verification (time to verify) and the one that starts it (time to acknowledge)
FIRST_RESPONSE_STEPS = ["verification_started"]
VERIFIED_STEPS = ["accepted", "rejected", "archived", "forwarded"]


# the page's rows of one type, typed by PostgreSQL (a value that does not cast fails the page)
# cases registered in the window, with the moves folded into them (``_fold``)
_REGISTERED = """
INSERT INTO case_summary (case_id, tenant, origin_tenant, registration_number, category, channel, anonymous,
                          status, registered_at, month, position, first_response_at, verified_at, closed_at)
SELECT p.case_id, p.tenant, p.origin_tenant, p.registration_number, p.category, p.channel, p.anonymous,
       p.status, p.registered_at, date_trunc('month', p.registered_at AT TIME ZONE %(tz)s)::date, p.position,
       p.first_response_at, p.verified_at, p.closed_at
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, tenant text, origin_tenant text, registration_number text,
                                       category text, channel text, anonymous boolean, status text,
                                       registered_at timestamptz, position bigint, first_response_at timestamptz,
                                       verified_at timestamptz, closed_at timestamptz)
ORDER BY p.position
ON CONFLICT DO NOTHING
RETURNING case_id, tenant, month, category, channel, status
"""

STEPS = {"first_response": FIRST_RESPONSE_STEPS, "verified": VERIFIED_STEPS}  # _FOLD_MOVES's parameters

# each case's moves in a page after its last applied one, folded: each row is updated once
_FOLD_MOVES = """
WITH old AS (
    SELECT c.case_id, c.tenant, c.status, c.position FROM case_summary c
    WHERE c.case_id IN (SELECT case_id FROM {moves} AS q)  -- no FOR UPDATE: the tracking row lock admits one writer
), moves AS (
    SELECT p.case_id,
           (array_agg(p.tenant ORDER BY p.position DESC))[1] AS tenant,
           (array_agg(p.status ORDER BY p.position DESC))[1] AS status,
           max(p.position) AS position,
           (array_agg(p.changed_at ORDER BY p.position) FILTER (WHERE p.step = ANY(%(first_response)s)))[1]
               AS first_response_at,
           (array_agg(p.changed_at ORDER BY p.position) FILTER (WHERE p.step = ANY(%(verified)s)))[1]
               AS verified_at,
           (array_agg(p.changed_at ORDER BY p.position) FILTER (WHERE p.step = 'closed'))[1] AS closed_at
    FROM {moves} AS p JOIN old ON old.case_id = p.case_id AND p.position > old.position
    GROUP BY p.case_id
)
UPDATE case_summary c SET tenant = m.tenant, status = m.status, position = m.position,
    first_response_at = coalesce(c.first_response_at, m.first_response_at),
    verified_at = coalesce(c.verified_at, m.verified_at),
    closed_at = coalesce(c.closed_at, m.closed_at)
FROM moves m JOIN old ON old.case_id = m.case_id
WHERE c.case_id = m.case_id
"""
_MOVES = """(SELECT * FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, tenant text, status text, step text,
                                                       changed_at timestamptz, position bigint))"""
# both the old and the new (tenant, status) of each case, for the count changes
_STATUS_CHANGED = (_FOLD_MOVES.format(moves=_MOVES)
                   + "RETURNING old.tenant, old.status, c.tenant, c.status, c.month, c.category, c.channel")
_STAGE_MOVES = f"INSERT INTO rebuild_move SELECT * FROM {_MOVES} AS p"

_FORWARDED = """
INSERT INTO forwarded (case_id, position, from_tenant, destination_kind, destination, at)
SELECT p.case_id, p.position, p.from_tenant, p.destination_kind, p.destination, p.forwarded_at
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, position bigint, from_tenant text, destination_kind text,
                                       destination text, forwarded_at timestamptz)
ORDER BY p.position
ON CONFLICT DO NOTHING
"""

_SANCTION = """
INSERT INTO sanction (case_id, recommendation_id, tenant, level, sanction, months, at)
SELECT p.case_id, p.recommendation_id, p.tenant, p.level, p.sanction, p.months, p.recommended_at
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, recommendation_id text, tenant text, level text,
                                       sanction text, months integer, recommended_at timestamptz, position bigint)
ORDER BY p.position
ON CONFLICT DO NOTHING
"""

# a case's last closing wins (as applying them one by one would)
FOLD_CLOSED = """
UPDATE case_summary c SET outcome = p.outcome
FROM (SELECT DISTINCT ON (case_id) case_id, outcome FROM {closings} AS q ORDER BY case_id, position DESC) p
WHERE c.case_id = p.case_id
"""
_CLOSINGS = """(SELECT * FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, outcome text, position bigint))"""
_CLOSED = FOLD_CLOSED.format(closings=_CLOSINGS)
_STAGE_CLOSED = f"INSERT INTO rebuild_closed SELECT * FROM {_CLOSINGS} AS p"

# one row per rule: the envelopes' rule lists are flattened in apply_page
_DEADLINE_OUTCOMES = """
INSERT INTO deadline_outcome (case_id, rule, source, tenant, pack, due_at, met_at, met, at, position)
SELECT p.case_id, p.rule, 'closed', p.tenant, p.pack, p.due_at, p.met_at, p.met, p.closed_at, p.position
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, tenant text, pack text, closed_at timestamptz, rule text,
                                       due_at timestamptz, met_at timestamptz, met boolean, position bigint)
ORDER BY p.position
ON CONFLICT DO NOTHING
"""

_DEADLINE_BREACHED = """
INSERT INTO deadline_outcome (case_id, rule, source, tenant, pack, due_at, met_at, met, at, position)
SELECT p.case_id, p.rule, 'breached', p.tenant, NULL, p.due_at, NULL, false, p.noticed_at, p.position
FROM jsonb_to_recordset(%(page)s) AS p(case_id uuid, tenant text, rule text, due_at timestamptz,
                                       noticed_at timestamptz, position bigint)
ORDER BY p.position
ON CONFLICT DO NOTHING
"""

STATEMENTS = (  # registrations first: a case may register and move in one page
    ("case.registered", _REGISTERED), ("case.status_changed", _STATUS_CHANGED), ("case.forwarded", _FORWARDED),
    ("case.sanction_recommended", _SANCTION), ("case.closed", _CLOSED),
    ("case.deadline_outcomes", _DEADLINE_OUTCOMES), ("case.deadline_breached", _DEADLINE_BREACHED),
)
APPLIED = {kind for kind, _ in STATEMENTS}
STAGED = {"case.status_changed": _STAGE_MOVES, "case.closed": _STAGE_CLOSED}  # in a rebuild (``fold_staged``)

# the tenant-months the dated rows fall in, for the kept statistics (``stats_changed``)
_MONTH = "date_trunc('month', {} AT TIME ZONE %(tz)s)::date"
DATED = {"case.forwarded": "RETURNING from_tenant, " + _MONTH.format("at"),
          "case.sanction_recommended": "RETURNING tenant, " + _MONTH.format("at"),
          "case.deadline_outcomes": "RETURNING tenant, " + _MONTH.format("at"),
          "case.deadline_breached": "RETURNING tenant, " + _MONTH.format("at")}



# keys are unique within a page's changes (summed above), as ON CONFLICT DO UPDATE needs
COUNT_STATEMENTS = {
    "case_count": (
        "INSERT INTO case_count AS c (tenant, month, category, channel, status, count) "
        "SELECT * FROM unnest(%s::text[], %s::date[], %s::text[], %s::text[], %s::text[], %s::bigint[]) "
        "ON CONFLICT (tenant, month, category, channel, status) DO UPDATE SET count = c.count + EXCLUDED.count",
        "DELETE FROM case_count WHERE count = 0 AND (tenant, month, category, channel, status) IN "
        "(SELECT * FROM unnest(%s::text[], %s::date[], %s::text[], %s::text[], %s::text[]))"),
    "public_count": (
        "INSERT INTO public_count AS c (tenant, year, category, status, count) "
        "SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[], %s::bigint[]) "
        "ON CONFLICT (tenant, year, category, status) DO UPDATE SET count = c.count + EXCLUDED.count",
        "DELETE FROM public_count WHERE count = 0 AND (tenant, year, category, status) IN "
        "(SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[]))"),
    "tenant_status_count": (
        "INSERT INTO tenant_status_count AS c (tenant, status, count) "
        "SELECT * FROM unnest(%s::text[], %s::text[], %s::bigint[]) "
        "ON CONFLICT (tenant, status) DO UPDATE SET count = c.count + EXCLUDED.count",
        "DELETE FROM tenant_status_count WHERE count = 0 AND (tenant, status) IN "
        "(SELECT * FROM unnest(%s::text[], %s::text[]))"),
}


