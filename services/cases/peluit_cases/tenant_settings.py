"""A tenant's settings as its administrators change them: deadline pack,
the reporter's days to answer a request for information, the disclosure
notice policy, how many inspekturs approve a disclosure (k), how many years a
case's content is kept after it ended (``retention``), holidays and categories
(the identities' retention lives in the vault: ``accounts_api`` asks it).
Every change is checked against the same rules
the deadline scheduler applies, and recorded in the admin change log in its
own transaction; a refusal changes nothing.
"""

from __future__ import annotations

from datetime import date

import psycopg

from . import admin_log, deadlines
from .retention import default_years
from .domain import DomainError
from .scheduler import packs

SETTINGS = ("deadline_pack", "information_request_days", "disclosure_notice", "disclosure_approvals",
            "content_retention_years")


def read(conn: psycopg.Connection, tenant: str) -> dict | None:
    """Everything but the identities' retention (the vault's); None when there is no such tenant."""
    with conn.transaction():
        row = conn.execute("SELECT code, name, deadline_pack, information_request_days, disclosure_notice, "
                           "disclosure_approvals, content_retention_years FROM tenant WHERE code = %s",
                           (tenant,)).fetchone()
        if row is None:
            return None
        categories = conn.execute("SELECT code, name_id, name_en, active FROM category WHERE tenant_code = %s "
                                  "ORDER BY code", (tenant,)).fetchall()
        holidays = conn.execute("SELECT day, name FROM tenant_holiday WHERE tenant_code = %s ORDER BY day",
                                (tenant,)).fetchall()
    code, name, pack, days, notice, approvals, content_years = row
    return {"code": code, "name": name, "deadline_pack": pack, "information_request_days": days,
            "disclosure_notice": notice, "disclosure_approvals": approvals,
            "content_retention_years": content_years or default_years(),
            "categories": [{"code": c, "label_id": i, "label_en": e, "active": a} for c, i, e, a in categories],
            "holidays": [{"date": d.isoformat(), "name": n} for d, n in holidays],
            "packs": sorted(packs())}


def check_deadlines(pack: str, information_request_days: int | None) -> None:
    """The pack exists and the tenant's override makes a rule the pack file could make."""
    if pack not in packs():
        raise DomainError("unknown_deadline_pack")
    if information_request_days is not None:
        try:
            deadlines.override(packs()[pack], "information_request", amount=information_request_days)
        except (deadlines.ConfigError, KeyError):
            raise DomainError("invalid_information_request_days") from None


def change(conn: psycopg.Connection, actor_id: str, tenant: str, changes: dict, also=None) -> dict | None:
    """Apply ``changes`` (any of ``SETTINGS``); ``also()`` runs last inside the
    transaction (the vault's retention), so its failure undoes the rest.
    The settings afterwards; None when there is no such tenant."""
    with conn.transaction():
        row = conn.execute(f"SELECT {', '.join(SETTINGS)} FROM tenant WHERE code = %s FOR UPDATE",
                           (tenant,)).fetchone()
        if row is None:
            return None
        before = dict(zip(SETTINGS, row))
        after = {**before, **{k: v for k, v in changes.items() if k in SETTINGS}}
        check_deadlines(after["deadline_pack"], after["information_request_days"])
        moved = {k: {"from": before[k], "to": after[k]} for k in SETTINGS if before[k] != after[k]}
        if moved:
            conn.execute(f"UPDATE tenant SET {', '.join(f'{k} = %s' for k in SETTINGS)} WHERE code = %s",
                         (*(after[k] for k in SETTINGS), tenant))
        retention = also() if also is not None else None
        if retention is not None:
            moved["retention_years"] = retention
        if moved:
            admin_log.record(conn, officer_id=actor_id, tenant=tenant, kind="settings_changed", subject=tenant,
                             details={"changes": moved})
    return read(conn, tenant)


def add_holiday(conn: psycopg.Connection, actor_id: str, tenant: str, day: date, name: str) -> dict | None:
    with conn.transaction():
        if conn.execute("SELECT 1 FROM tenant WHERE code = %s", (tenant,)).fetchone() is None:
            return None
        old = conn.execute("SELECT name FROM tenant_holiday WHERE tenant_code = %s AND day = %s",
                           (tenant, day)).fetchone()
        if old is None or old[0] != name:
            conn.execute("INSERT INTO tenant_holiday (tenant_code, day, name) VALUES (%s, %s, %s) "
                         "ON CONFLICT (tenant_code, day) DO UPDATE SET name = EXCLUDED.name", (tenant, day, name))
            admin_log.record(conn, officer_id=actor_id, tenant=tenant, kind="holiday_added", subject=day.isoformat(),
                             details={"name": name})
    return read(conn, tenant)


def delete_holiday(conn: psycopg.Connection, actor_id: str, tenant: str, day: date) -> dict | None:
    with conn.transaction():
        if conn.execute("SELECT 1 FROM tenant WHERE code = %s", (tenant,)).fetchone() is None:
            return None
        gone = conn.execute("DELETE FROM tenant_holiday WHERE tenant_code = %s AND day = %s RETURNING name",
                            (tenant, day)).fetchone()
        if gone is not None:
            admin_log.record(conn, officer_id=actor_id, tenant=tenant, kind="holiday_deleted",
                             subject=day.isoformat(), details={"name": gone[0]})
    return read(conn, tenant)


def put_category(conn: psycopg.Connection, actor_id: str, tenant: str, code: str, label_id: str, label_en: str,
                 active: bool) -> dict | None:
    """Add a category or change one (categories are never deleted: cases name them)."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM tenant WHERE code = %s", (tenant,)).fetchone() is None:
            return None
        old = conn.execute("SELECT name_id, name_en, active FROM category WHERE tenant_code = %s AND code = %s",
                           (tenant, code)).fetchone()
        if old != (label_id, label_en, active):
            conn.execute("INSERT INTO category (tenant_code, code, name_id, name_en, active) VALUES (%s, %s, %s, %s, %s) "
                         "ON CONFLICT (tenant_code, code) DO UPDATE SET name_id = EXCLUDED.name_id, "
                         "name_en = EXCLUDED.name_en, active = EXCLUDED.active", (tenant, code, label_id, label_en, active))
            admin_log.record(conn, officer_id=actor_id, tenant=tenant, kind="category_changed", subject=code,
                             details={"label_id": label_id, "label_en": label_en, "active": active})
    return read(conn, tenant)
