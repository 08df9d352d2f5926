"""Officer administration, audit grants, tenant settings and the admin change
log against the real PostgreSQL: every change moves the session version and
lands in the log in its own transaction; a refusal changes nothing."""

from __future__ import annotations

import secrets
from datetime import date

import psycopg
import pytest

from peluit_cases import access, admin_log, audit_grants, catalogue, enrolment, officer_admin, officers, tenant_settings
from peluit_cases.access import AccessDenied, Actor
from peluit_cases.domain import DomainError
from peluit_cases.errors import CasesError

PROV = Actor("11111111-1111-4111-8111-111111111111", "prov", "35", ("province_admin",))
KOTA = Actor("33333333-3333-4333-8333-333333333333", "kota", "35.73", ("tenant_admin",))


@pytest.fixture(scope="module", autouse=True)
def demo_tenants(conn):
    catalogue.seed_demo(conn)


def officer(conn, key, roles=("penelaah",), tenant="35.73") -> str:
    officer_id, _ = officers.create_officer(conn, key, tenant=tenant, username=f"o.{secrets.token_hex(4)}",
                                            display_name="Petugas", password="kata-sandi-panjang", roles=list(roles))
    return officer_id


def log(inspect, subject):
    return inspect.execute("SELECT officer_id::text, kind, details FROM admin_change WHERE subject = %s ORDER BY id",
                           (subject,)).fetchall()


def version(conn, officer_id):
    return officers.session_state(conn, officer_id).session_version


def test_deactivate_reactivate_and_roles_end_sessions_and_are_recorded(conn, inspect, key):
    target = officer(conn, key)
    v = version(conn, target)
    out = officer_admin.deactivate(conn, target, access.officer_admin_check(KOTA), KOTA.officer_id)
    assert out.admin_view()["active"] is False and version(conn, target) == v + 1
    assert not officers.session_state(conn, target).active
    # again: nothing to change, nothing recorded, the version stays
    officer_admin.deactivate(conn, target, access.officer_admin_check(KOTA), KOTA.officer_id)
    assert version(conn, target) == v + 1
    officer_admin.reactivate(conn, target, access.officer_admin_check(KOTA), KOTA.officer_id)
    changed = officer_admin.set_roles(conn, target, ["investigator", "penelaah"],
                                      access.officer_admin_check(KOTA, ["investigator", "penelaah"]), KOTA.officer_id)
    assert changed.officer.roles == ("investigator", "penelaah") and version(conn, target) == v + 3
    assert [(who, kind) for who, kind, _ in log(inspect, target)] == [
        (None, "officer_created"), (KOTA.officer_id, "officer_deactivated"), (KOTA.officer_id, "officer_reactivated"),
        (KOTA.officer_id, "roles_changed")]
    assert log(inspect, target)[-1][2] == {"username": changed.officer.username, "from": ["penelaah"],
                                           "to": ["investigator", "penelaah"]}


def test_refusals_change_nothing_and_record_nothing(conn, inspect, key):
    other_tenant, admin_peer, own = officer(conn, key, tenant="35.07"), officer(conn, key, ("tenant_admin",)), officer(
        conn, key)
    before = inspect.execute("SELECT count(*) FROM admin_change").fetchone()[0]
    attempts = [
        lambda: officer_admin.deactivate(conn, other_tenant, access.officer_admin_check(KOTA), KOTA.officer_id),
        lambda: officer_admin.reset_factor(conn, key, admin_peer, access.officer_admin_check(KOTA), KOTA.officer_id),
        lambda: officer_admin.set_roles(conn, own, ["tenant_admin"], access.officer_admin_check(KOTA, ["tenant_admin"]),
                                        KOTA.officer_id),
    ]
    for attempt in attempts:
        with pytest.raises(AccessDenied):
            attempt()
    me = officers.create_officer(conn, key, tenant="35", username=f"prov.{secrets.token_hex(3)}",
                                 display_name="Admin", password="kata-sandi-panjang", roles=["province_admin"])[0]
    me_actor = Actor(me, "prov", "35", ("province_admin",))
    with pytest.raises(AccessDenied) as info:
        officer_admin.deactivate(conn, me, access.officer_admin_check(me_actor), me)
    assert info.value.text == "not_on_yourself"
    with pytest.raises(CasesError) as missing:
        officer_admin.deactivate(conn, "44444444-4444-4444-8444-444444444444", access.officer_admin_check(PROV),
                                 PROV.officer_id)
    assert missing.value.code == "not_found"
    with pytest.raises(officers.OfficerError):
        officer_admin.set_roles(conn, own, ["root"], access.officer_admin_check(PROV, ["root"]), PROV.officer_id)
    # one row: the province admin's own account, created above
    assert inspect.execute("SELECT count(*) FROM admin_change").fetchone()[0] == before + 1
    assert all(officers.session_state(conn, o).session_version == 1 for o in (other_tenant, admin_peer, own))


def test_a_factor_reset_forces_a_new_enrolment(conn, inspect, key):
    target = officer(conn, key)
    account, invitation = officer_admin.reset_factor(conn, key, target, access.officer_admin_check(PROV),
                                                     PROV.officer_id)
    assert account.enrolled is False and account.enrolment_expires_at == invitation.expires_at
    row = inspect.execute("SELECT password_hash, totp_secret_enc, enrolment_code_hash FROM officer WHERE id = %s",
                          (target,)).fetchone()
    assert row[:2] == (None, None) and row[2] == enrolment.code_hash(key, target, invitation.code)
    assert log(inspect, target)[-1][:2] == (PROV.officer_id, "factor_reset")
    assert invitation.code not in repr(log(inspect, target))
    username = account.officer.username
    assert enrolment.start(conn, key, username, invitation.code).officer_id == target


def test_listing_by_scope(conn, key):
    officer(conn, key, ("investigator",), tenant="35.78")
    accounts, total = officer_admin.listing(conn, tenants=["35.78"], role="investigator", active=None,
                                            enrolled_only=True, page=1, per_page=100)
    assert total >= 1 and all(a.officer.tenant == "35.78" and "investigator" in a.officer.roles for a in accounts)
    picker = accounts[0].picker_view()
    assert set(picker) == {"id", "username", "display_name", "roles"}
    assert {"email", "active", "enrolled", "created_by"} <= set(accounts[0].admin_view())
    everyone, total_all = officer_admin.listing(conn, tenants=None, role=None, active=None, enrolled_only=False,
                                                page=1, per_page=1)
    assert len(everyone) == 1 and total_all > total


def test_grants_are_revoked_and_listed(conn, inspect, key):
    auditor = officer(conn, key, ("auditor",), tenant="35")
    walls = access.Access(None, access.PgDirectory(conn))
    grant_id = walls.grant_audit(PROV, auditor, "35.73", 7, "Pemeriksaan BPKP")
    assert walls.directory.granted_tenants(auditor) == {"35.73"}
    listed = audit_grants.listing(conn, officer_id=auditor, tenant=None, active=True)
    assert [g["id"] for g in listed] == [grant_id] and listed[0]["revoked_at"] is None
    revoked = audit_grants.revoke(conn, grant_id, PROV.officer_id)
    assert revoked["revoked_at"] is not None and walls.directory.granted_tenants(auditor) == set()
    assert audit_grants.revoke(conn, grant_id, PROV.officer_id) == revoked  # once
    assert audit_grants.revoke(conn, 10**12, PROV.officer_id) is None
    assert audit_grants.listing(conn, officer_id=auditor, tenant="35.73", active=True) == []
    assert audit_grants.listing(conn, officer_id=auditor, tenant=None, active=False)[0]["id"] == grant_id
    assert [kind for _, kind, _ in log(inspect, str(grant_id))] == ["grant_given", "grant_revoked"]


def test_settings_change_all_or_nothing(conn, inspect):
    before = tenant_settings.read(conn, "35.07")
    assert before["deadline_pack"] == "lapor" and "wise" in before["packs"]
    after = tenant_settings.change(conn, PROV.officer_id, "35.07", {"deadline_pack": "wise",
                                                                    "information_request_days": 21,
                                                                    "disclosure_notice": True})
    assert (after["deadline_pack"], after["information_request_days"], after["disclosure_notice"]) == ("wise", 21, True)
    assert log(inspect, "35.07")[-1][2] == {"changes": {"deadline_pack": {"from": "lapor", "to": "wise"},
                                                        "information_request_days": {"from": None, "to": 21},
                                                        "disclosure_notice": {"from": False, "to": True}}}
    count = len(log(inspect, "35.07"))
    for changes, code in (({"deadline_pack": "nope"}, "unknown_deadline_pack"),
                          ({"information_request_days": 0}, "invalid_information_request_days")):
        with pytest.raises(DomainError) as info:
            tenant_settings.change(conn, PROV.officer_id, "35.07", changes)
        assert info.value.code == code

    def vault_down():
        raise CasesError("vault_unavailable")

    with pytest.raises(CasesError):
        tenant_settings.change(conn, PROV.officer_id, "35.07", {"deadline_pack": "lapor"}, also=vault_down)
    assert tenant_settings.read(conn, "35.07")["deadline_pack"] == "wise" and len(log(inspect, "35.07")) == count
    assert tenant_settings.change(conn, PROV.officer_id, "99.99", {}) is None
    # retention from the vault lands in the same record
    tenant_settings.change(conn, PROV.officer_id, "35.07", {"disclosure_notice": False},
                           also=lambda: {"from": 5, "to": 7})
    assert log(inspect, "35.07")[-1][2]["changes"] == {"disclosure_notice": {"from": True, "to": False},
                                                       "retention_years": {"from": 5, "to": 7}}
    # the content's retention (``retention``): the default until set, then recorded like the rest
    assert tenant_settings.read(conn, "35.07")["content_retention_years"] == 5
    after = tenant_settings.change(conn, PROV.officer_id, "35.07", {"content_retention_years": 3})
    assert after["content_retention_years"] == 3
    assert log(inspect, "35.07")[-1][2]["changes"] == {"content_retention_years": {"from": None, "to": 3}}


def test_holidays_and_categories(conn, inspect):
    day = date(2026, 12, 24)
    out = tenant_settings.add_holiday(conn, KOTA.officer_id, "35.73", day, "Cuti bersama Natal")
    assert {"date": "2026-12-24", "name": "Cuti bersama Natal"} in out["holidays"]
    tenant_settings.add_holiday(conn, KOTA.officer_id, "35.73", day, "Cuti bersama Natal")  # the same: no change
    assert tenant_settings.delete_holiday(conn, KOTA.officer_id, "35.73", day)["holidays"] == []
    tenant_settings.delete_holiday(conn, KOTA.officer_id, "35.73", day)
    assert [kind for _, kind, _ in log(inspect, "2026-12-24")] == ["holiday_added", "holiday_deleted"]
    out = tenant_settings.put_category(conn, KOTA.officer_id, "35.73", "pungli", "Pungutan liar", "Illegal levies",
                                       False)
    assert {"code": "pungli", "label_id": "Pungutan liar", "label_en": "Illegal levies", "active": False} \
        in out["categories"]
    assert catalogue.check(conn, "35.73", "pungli") == "unknown_category"  # intake refuses it now
    tenant_settings.put_category(conn, KOTA.officer_id, "35.73", "pungli", "Pungutan liar", "Illegal levies", True)
    assert catalogue.check(conn, "35.73", "pungli") is None


def test_the_log_is_append_only_and_refuses_secrets(conn, inspect):
    with pytest.raises(psycopg.errors.RaiseException):
        inspect.execute("UPDATE admin_change SET kind = 'x'")
    with pytest.raises(psycopg.errors.RaiseException):
        inspect.execute("DELETE FROM admin_change")
    with pytest.raises(ValueError):
        with conn.transaction():
            admin_log.record(conn, officer_id=None, tenant="35", kind="factor_reset", subject="x",
                             details={"enrolment_code": "ABC"})
    page = admin_log.listing(conn, ["35.73"], page=1, per_page=2)
    assert len(page["items"]) == 2 and page["total"] > 2 and page["items"][0]["id"] > page["items"][1]["id"]
    assert all(item["tenant"] == "35.73" for item in page["items"])
