"""Tenant configuration: Inspektorat tenants and their report categories.

Configuration data, not case history: plain tables in the cases database,
changed through ``peluit-cases`` commands. Categories are data, not an enum.
"""

from __future__ import annotations

import psycopg

from peluit_common.db import apply_schema

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenant (
    code text PRIMARY KEY,
    name text NOT NULL,
    parent_code text REFERENCES tenant(code),
    timezone text NOT NULL DEFAULT 'Asia/Jakarta',
    active boolean NOT NULL DEFAULT true
);
CREATE TABLE IF NOT EXISTS category (
    tenant_code text NOT NULL REFERENCES tenant(code),
    code text NOT NULL,
    name_id text NOT NULL,
    name_en text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    PRIMARY KEY (tenant_code, code)
);
ALTER TABLE tenant ADD COLUMN IF NOT EXISTS deadline_pack text NOT NULL DEFAULT 'lapor';
ALTER TABLE tenant ADD COLUMN IF NOT EXISTS information_request_days integer;
-- tenant policy: tell the reporter (anonymous dialogue) when a disclosure of their identity is requested
ALTER TABLE tenant ADD COLUMN IF NOT EXISTS disclosure_notice boolean NOT NULL DEFAULT false;
-- tenant policy: k inspekturs besides the requester approve a disclosure
ALTER TABLE tenant ADD COLUMN IF NOT EXISTS disclosure_approvals integer NOT NULL DEFAULT 1
    CHECK (disclosure_approvals BETWEEN 1 AND 5);
-- tenant policy: years a case's content is kept after it ended (null: PELUIT_CONTENT_RETENTION_YEARS), ``retention``
ALTER TABLE tenant ADD COLUMN IF NOT EXISTS content_retention_years integer
    CHECK (content_retention_years BETWEEN 1 AND 100);
CREATE TABLE IF NOT EXISTS tenant_holiday (
    tenant_code text NOT NULL REFERENCES tenant(code),
    day date NOT NULL,
    name text NOT NULL,
    PRIMARY KEY (tenant_code, day)
);
CREATE TABLE IF NOT EXISTS relay_position (
    name text PRIMARY KEY,
    position bigint NOT NULL
);
INSERT INTO relay_position (name, position) VALUES ('domain', 0) ON CONFLICT DO NOTHING;
"""

# docs/domain.md's categories; each tenant may switch them off or add its own.
DEFAULT_CATEGORIES = [
    ("korupsi", "Korupsi / kerugian keuangan daerah", "Corruption / loss of regional funds"),
    ("suap-gratifikasi", "Suap / gratifikasi", "Bribery / gratuities"),
    ("pungli", "Pungutan liar", "Illegal levies"),
    ("penyalahgunaan-wewenang", "Penyalahgunaan wewenang", "Abuse of authority"),
    ("benturan-kepentingan", "Benturan kepentingan", "Conflict of interest"),
    ("pengadaan", "Pengadaan barang/jasa", "Procurement of goods/services"),
    ("disiplin-pegawai", "Pelanggaran disiplin pegawai (PP 94/2021)", "Civil servant discipline violation (PP 94/2021)"),
    ("kode-etik", "Pelanggaran kode etik", "Code of ethics violation"),
    ("kolusi-nepotisme", "Kolusi / nepotisme", "Collusion / nepotism"),
    ("aset-daerah", "Aset daerah (fasos/fasum)", "Regional assets (public facilities)"),
    ("lainnya", "Lainnya", "Other"),
]

DEMO_TENANTS = [
    ("35", "Inspektorat Provinsi Jawa Timur", None),
    ("35.73", "Inspektorat Kota Malang", "35"),
    ("35.07", "Inspektorat Kabupaten Malang", "35"),
    ("35.78", "Inspektorat Kota Surabaya", "35"),
]


def migrate(conn: psycopg.Connection) -> None:
    apply_schema(conn, SCHEMA)


def upsert_tenant(conn: psycopg.Connection, code: str, name: str, parent: str | None,
                  categories=DEFAULT_CATEGORIES) -> None:
    with conn.transaction():
        conn.execute(
            "INSERT INTO tenant (code, name, parent_code) VALUES (%s, %s, %s) "
            "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, parent_code = EXCLUDED.parent_code",
            (code, name, parent),
        )
        for cat_code, name_id, name_en in categories:
            conn.execute(
                "INSERT INTO category (tenant_code, code, name_id, name_en) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (tenant_code, code) DO UPDATE SET name_id = EXCLUDED.name_id, name_en = EXCLUDED.name_en",
                (code, cat_code, name_id, name_en),
            )


def seed_demo(conn: psycopg.Connection) -> None:
    for code, name, parent in DEMO_TENANTS:
        upsert_tenant(conn, code, name, parent)


def disclosure_notice(conn: psycopg.Connection, tenant: str) -> bool:
    """Whether the tenant's policy tells reporters of disclosure requests."""
    with conn.transaction():
        row = conn.execute("SELECT disclosure_notice FROM tenant WHERE code = %s", (tenant,)).fetchone()
    return bool(row and row[0])


def disclosure_approvals(conn: psycopg.Connection, tenant: str) -> int:
    """How many inspekturs approve a disclosure in the tenant (policy, default 1)."""
    with conn.transaction():
        row = conn.execute("SELECT disclosure_approvals FROM tenant WHERE code = %s", (tenant,)).fetchone()
    return row[0] if row else 1


def set_disclosure_notice(conn: psycopg.Connection, tenant: str, on: bool) -> bool:
    """False when the tenant does not exist."""
    with conn.transaction():
        return conn.execute("UPDATE tenant SET disclosure_notice = %s WHERE code = %s RETURNING 1",
                            (on, tenant)).fetchone() is not None


def load(conn: psycopg.Connection) -> dict:
    """{"tenants": [{"code", "name", "parent", "categories": [...]}]}"""
    with conn.transaction():
        tenants = conn.execute(
            "SELECT code, name, parent_code FROM tenant WHERE active ORDER BY code").fetchall()
        cats = conn.execute(
            "SELECT tenant_code, code, name_id, name_en FROM category WHERE active ORDER BY tenant_code, code"
        ).fetchall()
    by_tenant: dict[str, list] = {}
    for tenant_code, code, name_id, name_en in cats:
        by_tenant.setdefault(tenant_code, []).append({"code": code, "name": {"id": name_id, "en": name_en}})
    return {"tenants": [
        {"code": code, "name": name, "parent": parent, "categories": by_tenant.get(code, [])}
        for code, name, parent in tenants
    ]}


def check(conn: psycopg.Connection, tenant: str, category: str) -> str | None:
    """None when the tenant offers the category, else an error code."""
    with conn.transaction():
        row = conn.execute(
            "SELECT t.code, c.code FROM tenant t LEFT JOIN category c "
            "ON c.tenant_code = t.code AND c.code = %s AND c.active WHERE t.code = %s AND t.active",
            (category, tenant),
        ).fetchone()
    if row is None:
        return "unknown_tenant"
    if row[1] is None:
        return "unknown_category"
    return None
