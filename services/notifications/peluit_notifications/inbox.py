"""An officer's notification list (the outbox rows of the console channel),
for cases to serve to the signed-in officer: newest first, with the unread
count; marking read touches only that officer's rows."""

from __future__ import annotations

from marshmallow import ValidationError

from peluit_contracts.notify import INBOX_RPC_VERSION, InboxQuery, MarkRead

_ITEM = ("id, kind, registration_number, case_id, deadline_rule, deadline_due_at, occurred_at, status = 'read'")
_ITEM_KEYS = ("id", "kind", "registration_number", "case_id", "deadline_rule", "deadline_due_at", "occurred_at",
              "read")


def _load(schema, command):
    try:
        cmd = schema().load(command if isinstance(command, dict) else {})
    except ValidationError:
        return None, {"error": "invalid"}
    if cmd["version"] != INBOX_RPC_VERSION:
        return None, {"error": "unsupported_version"}
    return cmd, None


def _unread(conn, officer_id) -> int:
    return conn.execute("SELECT count(*) FROM notification WHERE officer_id = %s AND channel = 'console' "
                        "AND status = 'unread'", (officer_id,)).fetchone()[0]


def officer_inbox(pool, query) -> dict:
    cmd, error = _load(InboxQuery, query)
    if error:
        return error
    where, params = ["officer_id = %s", "channel = 'console'"], [cmd["officer_id"]]
    if cmd["unread"]:
        where.append("status = 'unread'")
    if cmd["before"]:
        where.append("id < %s")
        params.append(cmd["before"])
    with pool.connection() as conn, conn.transaction():
        rows = conn.execute(f"SELECT {_ITEM} FROM notification WHERE {' AND '.join(where)} ORDER BY id DESC "
                            "LIMIT %s", (*params, cmd["limit"])).fetchall()
        unread = _unread(conn, cmd["officer_id"])
    items = [dict(zip(_ITEM_KEYS, r)) for r in rows]
    for item in items:  # JSON for the RPC reply
        item["case_id"] = str(item["case_id"]) if item["case_id"] else None
        for key in ("deadline_due_at", "occurred_at"):
            item[key] = item[key].isoformat() if item[key] else None
    return {"items": items, "unread": unread}


def mark_read(pool, command) -> dict:
    cmd, error = _load(MarkRead, command)
    if error:
        return error
    with pool.connection() as conn, conn.transaction():
        if cmd["all"]:
            conn.execute("UPDATE notification SET status = 'read' WHERE officer_id = %s AND channel = 'console' "
                         "AND status = 'unread'", (cmd["officer_id"],))
        elif cmd["ids"]:
            conn.execute("UPDATE notification SET status = 'read' WHERE officer_id = %s AND channel = 'console' "
                         "AND status = 'unread' AND id = ANY(%s)", (cmd["officer_id"], cmd["ids"]))
        return {"unread": _unread(conn, cmd["officer_id"])}
