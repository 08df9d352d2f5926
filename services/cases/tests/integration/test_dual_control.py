"""What cases vouches for in a disclosure's call tokens, from the real admin
change log: each officer's controllers (itself and the administrators who in
the last 30 days created it, issued its enrolment code, reset its factor or
changed its roles) and the tenant's k. Granting the inspektur role and
resetting a factor are recorded; nobody administers their own account."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from peluit_cases import access, admin_log, catalogue, enrolment, officer_admin, officers, tenant_settings
from peluit_cases.access import AccessDenied, Actor

KOTA = Actor("44444444-4444-4444-8444-444444444444", "kota2", "35.73", ("tenant_admin", "investigator"))
PROV = Actor("55555555-5555-4555-8555-555555555555", "prov2", "35", ("province_admin",))


@pytest.fixture(scope="module", autouse=True)
def demo_tenants(conn):
    catalogue.seed_demo(conn)


def invited(conn, key, by: Actor, roles=("investigator",)) -> str:
    invitation = enrolment.invite(conn, key, tenant="35.73", username=f"o.{secrets.token_hex(4)}",
                                  display_name="Petugas", roles=list(roles), created_by=by.officer_id)
    return invitation.officer_id


def test_an_account_an_admin_created_names_that_admin_as_controller(conn, key):
    sock = invited(conn, key, KOTA)
    puppet = invited(conn, key, KOTA, roles=("inspektur",))
    assert admin_log.controllers(conn, sock) == sorted([sock, KOTA.officer_id])
    assert admin_log.controllers(conn, puppet) == sorted([puppet, KOTA.officer_id])
    # the vault refuses this pair: they share a controller (domain test_two_own_accounts...)
    assert set(admin_log.controllers(conn, sock)) & set(admin_log.controllers(conn, puppet))


def test_a_factor_reset_and_a_role_grant_make_the_admin_a_controller_and_are_recorded(conn, inspect, key):
    agus, _ = officers.create_officer(conn, key, tenant="35.73", username=f"a.{secrets.token_hex(4)}",
                                      display_name="Agus", password="kata-sandi-panjang", roles=["inspektur"])
    assert admin_log.controllers(conn, agus) == [agus]  # made by the operator's command line: nobody's
    officer_admin.reset_factor(conn, key, agus, access.officer_admin_check(KOTA), KOTA.officer_id)
    assert admin_log.controllers(conn, agus) == sorted([agus, KOTA.officer_id])

    helper, _ = officers.create_officer(conn, key, tenant="35.73", username=f"h.{secrets.token_hex(4)}",
                                        display_name="Helper", password="kata-sandi-panjang", roles=["penelaah"])
    officer_admin.set_roles(conn, helper, ["penelaah", "inspektur"],
                            access.officer_admin_check(PROV, ["penelaah", "inspektur"]), PROV.officer_id)
    assert admin_log.controllers(conn, helper) == sorted([helper, PROV.officer_id])
    kinds = inspect.execute("SELECT kind, details->'to' FROM admin_change WHERE subject IN (%s, %s) ORDER BY id",
                            (agus, helper)).fetchall()
    assert ("factor_reset", None) in kinds and ("roles_changed", ["penelaah", "inspektur"]) in kinds
    # 31 days later the administrator is no longer a controller
    inspect.execute("ALTER TABLE admin_change DISABLE TRIGGER admin_change_append_only")
    try:
        inspect.execute("UPDATE admin_change SET at = at - interval '31 days' WHERE subject = %s", (helper,))
    finally:
        inspect.execute("ALTER TABLE admin_change ENABLE TRIGGER admin_change_append_only")
    assert admin_log.controllers(conn, helper) == [helper]


def test_nobody_grants_themselves_the_inspektur_role(conn, key):
    me = officers.create_officer(conn, key, tenant="35.73", username=f"k.{secrets.token_hex(4)}", display_name="Kota",
                                 password="kata-sandi-panjang", roles=["tenant_admin", "investigator"])[0]
    actor = Actor(me, "k", "35.73", ("tenant_admin", "investigator"))
    with pytest.raises(AccessDenied) as err:
        officer_admin.set_roles(conn, me, ["tenant_admin", "investigator", "inspektur"],
                                access.officer_admin_check(actor, ["tenant_admin", "investigator", "inspektur"]), me)
    assert err.value.text == "not_on_yourself"
    assert officers.get_officer(conn, me).roles == ("tenant_admin", "investigator")


def test_the_tenants_k_is_a_setting_recorded_like_the_others(conn, inspect):
    assert catalogue.disclosure_approvals(conn, "35.73") == 1  # the default
    after = tenant_settings.change(conn, KOTA.officer_id, "35.73", {"disclosure_approvals": 2})
    assert after["disclosure_approvals"] == 2 and catalogue.disclosure_approvals(conn, "35.73") == 2
    row = inspect.execute("SELECT details FROM admin_change WHERE kind = 'settings_changed' AND subject = '35.73' "
                          "ORDER BY id DESC LIMIT 1").fetchone()
    assert row[0] == {"changes": {"disclosure_approvals": {"from": 1, "to": 2}}}
    with pytest.raises(psycopg.errors.CheckViolation):  # the column's own check, behind the contract's 1..5
        tenant_settings.change(conn, KOTA.officer_id, "35.73", {"disclosure_approvals": 9})
    conn.rollback()
    assert catalogue.disclosure_approvals(conn, "35.73") == 2
    tenant_settings.change(conn, KOTA.officer_id, "35.73", {"disclosure_approvals": 1})
