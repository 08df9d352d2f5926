"""Whom notifications tells, from the officer table on a real database: by
tenant and role, by id in any tenant, never a deactivated officer; the address
on the record (set and removed by an administrator, logged without it) and the
preferences per kind, where a breach cannot be switched off."""

from __future__ import annotations

import pytest

from peluit_cases import admin_log, notify_directory, officer_admin, officers
from peluit_contracts.notify import KINDS, RecipientsQuery

from .test_officers import make


@pytest.fixture(scope="module")
def directory(conn):
    notify_directory.migrate(conn)
    notify_directory.migrate(conn)  # idempotent
    return conn


def query(**kw):
    return RecipientsQuery().load({"version": 1, **kw})


def ids(reply):
    return {r["officer_id"] for r in reply["recipients"]}


def test_officers_by_tenant_and_role_or_by_id_active_only(directory, key):
    terima, _, _ = make(directory, key, roles=("penerima",), tenant="35.78", email="terima@surabaya.go.id")
    telaah, _, _ = make(directory, key, roles=("penelaah", "inspektur"), tenant="35.78")
    _other, _, _ = make(directory, key, roles=("penerima",), tenant="35.07")
    gone, _, _ = make(directory, key, roles=("penerima",), tenant="35.78")
    officer_admin.deactivate(directory, gone, lambda target: None, telaah)
    prov, _, _ = make(directory, key, roles=("investigator",), tenant="35")
    reply = notify_directory.recipients(directory, None, query(tenant="35.78", roles=["penerima", "inspektur"]))
    assert ids(reply) == {terima, telaah} and reply["case"] is None
    assert {r["email"] for r in reply["recipients"]} == {"terima@surabaya.go.id", None}
    reply = notify_directory.recipients(directory, None, query(tenant="35.78", roles=["penerima"],
                                                               officer_ids=[prov, gone]))
    assert ids(reply) == {terima, prov}  # by id in any tenant, but never a deactivated officer
    assert notify_directory.recipients(directory, None, query()) == {"recipients": [], "case": None}


def test_preferences_per_kind_and_in_the_recipients_reply(directory, key):
    me, _, _ = make(directory, key, roles=("penerima",), tenant="35.79")
    listed = notify_directory.preferences(directory, me)["preferences"]
    assert [p["kind"] for p in listed] == list(KINDS) and {p["mode"] for p in listed} == {"immediately"}
    assert {p["kind"] for p in listed if not p["can_switch_off"]} == {"deadline_breached", "breach_summary"}
    notify_directory.set_preferences(directory, me, {"case_new": "off", "deadline_approaching": "digest"})
    changed = notify_directory.set_preferences(directory, me, {"case_new": "digest"})
    assert {p["kind"]: p["mode"] for p in changed["preferences"]}["case_new"] == "digest"
    reply = notify_directory.recipients(directory, None, query(tenant="35.79", roles=["penerima"]))
    assert reply["recipients"][0]["preferences"] == {"case_new": "digest", "deadline_approaching": "digest"}


def test_an_administrator_sets_and_removes_the_address_and_the_log_keeps_no_address(directory, key, inspect):
    admin, _, _ = make(directory, key, roles=("tenant_admin",), tenant="35.80")
    target, username, _ = make(directory, key, roles=("penelaah",), tenant="35.80")
    account = officer_admin.set_email(directory, target, "baru@pemda.go.id", lambda t: None, admin)
    assert account.email == "baru@pemda.go.id"
    assert officer_admin.set_email(directory, target, None, lambda t: None, admin).email is None
    logged = inspect.execute("SELECT kind, details::text FROM admin_change WHERE subject = %s AND kind = 'email_changed'",
                             (target,)).fetchall()
    assert [k for k, _ in logged] == ["email_changed", "email_changed"]
    assert all("pemda.go.id" not in details for _, details in logged) and username in logged[0][1]
    assert "email_changed" in admin_log.KINDS and officers.EMAIL_RE.fullmatch("baru@pemda.go.id")
