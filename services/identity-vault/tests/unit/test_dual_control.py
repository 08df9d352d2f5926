"""No single insider discloses alone: k inspekturs besides the requester,
none sharing a controller (itself, or an administrator who in the last 30
days created it, issued its enrolment code, reset its factor or changed its
roles) with the requester or another approver. Each test plays one path one
person could take; controllers are what cases vouches for in the call token."""

from __future__ import annotations

from datetime import timedelta

import pytest

from peluit_vault.disclosure.domain import DomainError

from ..support import AGUS, AGUS2, BOTH, DEWI, T0, approve, file, officer

ADMIN = officer("admin", "35.73", "tenant_admin", "investigator")  # an administrator who also investigates
WATI = officer("wati", "35.73", "inspektur")
LATER = T0 + timedelta(hours=1)


def refused_approval(app, req, by, code, controllers=()):
    with pytest.raises(DomainError) as err:
        app.approve(req.id, by, step_up=True, step_up_token_id=by["officer_id"] + code, now=LATER,
                    controllers=controllers)
    assert err.value.code == code
    assert app.get_request(req.id).status == "pending"


def test_k_approvals_from_different_inspekturs_open_the_one_view(app):
    req = file(app, approvals_required=2)
    first = approve(app, req, by=AGUS)
    assert (first.status, len(first.approvals), first.view_until) == ("pending", 1, None)
    refused_approval(app, req, AGUS, "already_approved")  # the same person twice is one approval
    second = approve(app, req, by=AGUS2)
    assert second.status == "approved" and second.view_until is not None
    trail = [e for e in app.trail("35.73", now=LATER) if e.get("request_id") == str(req.id)]
    assert [e["type"] for e in trail] == ["requested", "approved", "attempt_refused", "approved"]
    assert trail[0]["approvals_required"] == 2
    assert [e["by"]["username"] for e in trail if e["type"] == "approved"] == ["agus", "agus2"]  # every approval


def test_the_policy_is_bounded(app):
    for k in (0, 6):
        with pytest.raises(DomainError, match="invalid_approvals"):
            file(app, approvals_required=k)


def test_approving_with_a_second_role_is_self_approval(app):
    req = file(app, by=BOTH)
    refused_approval(app, req, BOTH, "self_approval")


def test_an_administrator_approving_a_request_of_an_account_it_set_up(app):
    # the admin created dewi's account (so it held her enrolment code): it may not approve her request
    req = file(app, by=DEWI, controllers=[DEWI["officer_id"], ADMIN["officer_id"]])
    admin_as_inspektur = {**ADMIN, "roles": ["tenant_admin", "inspektur"]}
    refused_approval(app, req, admin_as_inspektur, "conflicted_approver", controllers=[ADMIN["officer_id"]])


def test_two_own_accounts_one_requests_one_approves(app):
    # the admin created both accounts: it knows both enrolment codes
    sock = officer("sock", "35.73", "investigator")
    puppet = officer("puppet", "35.73", "inspektur")
    req = file(app, by=sock, controllers=[sock["officer_id"], ADMIN["officer_id"]])
    refused_approval(app, req, puppet, "conflicted_approver", controllers=[puppet["officer_id"], ADMIN["officer_id"]])
    # an independent inspektur still can
    assert approve(app, req, by=WATI).status == "approved"


def test_resetting_another_inspekturs_factor_and_approving_as_them(app):
    # the admin files with its own investigator account, resets agus' factor, enrols as agus and approves
    req = file(app, by=ADMIN, controllers=[ADMIN["officer_id"]])
    refused_approval(app, req, AGUS, "conflicted_approver", controllers=[AGUS["officer_id"], ADMIN["officer_id"]])


def test_granting_an_account_the_inspektur_role_and_approving_with_it(app):
    # the admin changed roles of an account it did not create (roles_changed counts too)
    helper = officer("helper", "35.73", "inspektur")
    req = file(app, by=ADMIN, controllers=[ADMIN["officer_id"]])
    refused_approval(app, req, helper, "conflicted_approver", controllers=[helper["officer_id"], ADMIN["officer_id"]])


def test_two_approvers_set_up_by_the_same_administrator_count_once(app):
    req = file(app, by=DEWI, approvals_required=2)
    one = officer("one", "35.73", "inspektur")
    two = officer("two", "35.73", "inspektur")
    approve(app, req, by=one)  # the first carries no controllers in this helper
    req2 = file(app, by=DEWI, approvals_required=2, now=T0 + timedelta(minutes=1))
    app.approve(req2.id, one, step_up=True, step_up_token_id="t-one", now=LATER,
                controllers=[one["officer_id"], ADMIN["officer_id"]])
    refused_approval(app, req2, two, "conflicted_approver", controllers=[two["officer_id"], ADMIN["officer_id"]])
    # and an approver who administered an earlier approver is refused the other way round
    req3 = file(app, by=DEWI, approvals_required=2, now=T0 + timedelta(minutes=2))
    app.approve(req3.id, two, step_up=True, step_up_token_id="t-two", now=LATER,
                controllers=[two["officer_id"], ADMIN["officer_id"]])
    admin_inspektur = {**ADMIN, "roles": ["tenant_admin", "inspektur"]}
    refused_approval(app, req3, admin_inspektur, "conflicted_approver", controllers=[ADMIN["officer_id"]])


def test_refused_approvals_are_kept_in_the_trail(app):
    req = file(app, by=ADMIN, controllers=[ADMIN["officer_id"]])
    refused_approval(app, req, AGUS, "conflicted_approver", controllers=[AGUS["officer_id"], ADMIN["officer_id"]])
    trail = [e for e in app.trail("35.73", now=LATER) if e.get("request_id") == str(req.id)]
    assert [(e["type"], e.get("code")) for e in trail] == [("requested", None),
                                                           ("attempt_refused", "conflicted_approver")]
