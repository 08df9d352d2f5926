"""Tenant walls, audit grants and the rules for creating officers, on the
in-memory store with a fake directory."""

from __future__ import annotations

import pytest

from peluit_cases import access as access_module
from peluit_cases.access import Access, AccessDenied, Actor
from peluit_cases.domain import DomainError
from peluit_cases.errors import CasesError
from peluit_cases.officers import Officer
from peluit_common.auth import OfficerClaims

from ..support import NOW, FakeDirectory, command, memory_app

SARI = Actor("o-sari", "sari", "35.73", ("penelaah",))
BUDI = Actor("o-budi", "budi", "35.07", ("inspektur",))
RINA = Actor("o-rina", "rina", "35", ("auditor",))
KEPALA = Actor("o-kepala", "kepala", "35.73", ("inspektur", "auditor"))
PROV_ADMIN = Actor("o-prov", "prov", "35", ("province_admin",))
KOTA_ADMIN = Actor("o-kota", "kota", "35.73", ("tenant_admin",))


@pytest.fixture
def app():
    return memory_app()


@pytest.fixture
def directory():
    return FakeDirectory(officers=[
        Officer(id="o-rina", tenant="35", username="rina", display_name="Rina", roles=("auditor",), active=True),
        Officer(id="o-sari", tenant="35.73", username="sari", display_name="Sari", roles=("penelaah",), active=True),
    ])


@pytest.fixture
def access(app, directory):
    return Access(app, directory)


def test_the_actor_comes_from_the_token_claims():
    from datetime import datetime, timezone

    claims = OfficerClaims(officer_id="o-1", tenant="35.73", roles=("penelaah", "investigator"), username="sari",
                           token_id="t", expires_at=datetime.now(timezone.utc))
    actor = Actor.from_claims(claims)
    assert actor == Actor("o-1", "sari", "35.73", ("penelaah", "investigator"))
    assert actor.has_role("investigator", "auditor") and not actor.has_role("auditor")
    assert actor.record() == {"officer_id": "o-1", "username": "sari", "roles": ["penelaah", "investigator"],
                              "tenant": "35.73"}


def test_officers_see_their_own_tenant_auditors_only_what_a_grant_names(access, directory):
    assert access.tenants(SARI) == ["35.73"]
    assert access.tenants(RINA) == []
    directory.grants["o-rina"] = {"35.73", "35.07"}
    assert access.tenants(RINA) == ["35.07", "35.73"]
    directory.grants["o-kepala"] = {"35.07"}
    assert access.tenants(KEPALA) == ["35.07", "35.73"]  # an officer role and a grant together


def test_a_case_outside_the_wall_looks_missing_and_is_logged(app, access, directory):
    case_id = app.register_report(command(1), now=NOW).case_id
    assert access.case(SARI, str(case_id), "read").id == case_id
    for actor in (BUDI, RINA):
        with pytest.raises(AccessDenied) as err:
            access.case(actor, str(case_id), "read")
        assert (err.value.code, err.value.text) == ("not_found", "case_not_found")
    directory.grants["o-rina"] = {"35.73"}
    assert access.case(RINA, case_id, "timeline").id == case_id
    from peluit_cases.ledgers import AccessLog

    log = app.repository.get(AccessLog.create_id(case_id))
    assert (log.count, log.refused) == (4, 2)


def test_disclosure_lists_are_for_the_tenants_inspektur_and_investigators_and_granted_auditors(access, directory):
    dewi = Actor("o-dewi", "dewi", "35.73", ("investigator",))
    auditing_irban = Actor("o-irban", "irban", "35.73", ("investigator", "auditor"))
    assert access.disclosure_list_scope(dewi, "35.73") is False  # the vault shows a requester their own
    assert access.disclosure_list_scope(BUDI, "35.07") is False
    assert access.disclosure_list_scope(KEPALA, "35.73") is False
    # an auditor's role alone says nothing: only a live grant makes it an audited list
    assert access.disclosure_list_scope(auditing_irban, "35.73") is False
    for actor, tenant in ((RINA, "35.73"), (SARI, "35.73"), (BUDI, "35.73"), (dewi, "35.07"), (KOTA_ADMIN, "35.73")):
        with pytest.raises(AccessDenied, match="forbidden"):
            access.disclosure_list_scope(actor, tenant)
    directory.grants["o-rina"] = {"35.73"}
    directory.grants["o-irban"] = {"35.73"}
    assert access.disclosure_list_scope(RINA, "35.73") is True
    assert access.disclosure_list_scope(auditing_irban, "35.73") is True


def test_audit_bundles_need_an_auditor_with_a_grant_for_the_case(app, access, directory):
    case = app.get_case(app.register_report(command(1), now=NOW).case_id)
    for actor in (SARI, RINA, KEPALA):
        with pytest.raises(AccessDenied) as err:
            access.require_export(actor, case)
        assert (err.value.code, err.value.text) == ("forbidden", "auditors_only")
    directory.grants["o-rina"] = {"35.73"}
    access.require_export(RINA, case)


def test_the_disclosure_trail_is_for_granted_auditors_and_the_tenants_inspektur(access, directory):
    for actor, tenant in ((RINA, "35.73"), (SARI, "35.73"), (BUDI, "35.73")):
        with pytest.raises(AccessDenied, match="forbidden"):
            access.require_disclosure_trail(actor, tenant)
    access.require_disclosure_trail(BUDI, "35.07")
    directory.grants["o-rina"] = {"35.73"}
    access.require_disclosure_trail(RINA, "35.73")


@pytest.mark.parametrize("actor,tenant,roles,refusal", [
    (PROV_ADMIN, "35.73", ["penelaah"], None),
    (PROV_ADMIN, "35", ["province_admin"], None),
    (KOTA_ADMIN, "35.73", ["investigator", "auditor"], None),
    (KOTA_ADMIN, "35.07", ["penelaah"], "forbidden"),  # another tenant
    (KOTA_ADMIN, "35.73", ["tenant_admin"], "forbidden"),  # only the province creates admins
    (SARI, "35.73", ["penelaah"], "forbidden"),
    # no role, or one that does not exist: a 422 that lists the valid roles, for anyone
    (PROV_ADMIN, "35.73", [], "invalid_role"),
    (PROV_ADMIN, "35.73", ["penelaah", "root"], "invalid_role"),
])
def test_who_may_create_which_officers(access, actor, tenant, roles, refusal):
    if refusal is None:
        access.require_officer_creation(actor, tenant, roles)
    else:
        with pytest.raises(CasesError) as info:
            access.require_officer_creation(actor, tenant, roles)
        assert info.value.code == refusal


def test_officers_are_created_only_for_tenants_that_exist(access):
    with pytest.raises(DomainError, match="unknown_tenant"):
        access.require_officer_creation(PROV_ADMIN, "35.99", ["penelaah"])


def test_grants_name_an_existing_auditor_and_tenant(access, directory):
    with pytest.raises(AccessDenied, match="forbidden"):
        access.grant_audit(KOTA_ADMIN, "o-rina", "35.73", 7, "Pemeriksaan")
    for officer_id, tenant, code in (("o-nobody", "35.73", "unknown_officer"), ("o-sari", "35.73", "grantee_not_auditor"),
                                     ("o-rina", "35.99", "unknown_tenant")):
        with pytest.raises(DomainError) as err:
            access.grant_audit(PROV_ADMIN, officer_id, tenant, 7, "Pemeriksaan")
        assert err.value.code == code
    assert directory.added == []
    assert access.grant_audit(PROV_ADMIN, "o-rina", "35.73", 7, "Pemeriksaan") == 1
    assert directory.added == [("o-rina", "35.73", 7, "Pemeriksaan", "o-prov")]
    assert access.tenants(RINA) == ["35.73"]


# -- administration ------------------------------------------------------------------------------

def _officer(officer_id, tenant, *roles) -> Officer:
    return Officer(id=officer_id, tenant=tenant, username=officer_id, display_name=officer_id, roles=roles,
                   active=True)


@pytest.mark.parametrize("actor,target,roles,refusal", [
    (KOTA_ADMIN, _officer("o-x", "35.73", "penelaah"), None, None),
    (KOTA_ADMIN, _officer("o-x", "35.73", "penelaah"), ["investigator", "inspektur"], None),
    (KOTA_ADMIN, _officer("o-x", "35.07", "penelaah"), None, "officer_forbidden"),  # another tenant
    (KOTA_ADMIN, _officer("o-x", "35.73", "tenant_admin"), None, "officer_forbidden"),  # a peer admin
    (KOTA_ADMIN, _officer("o-x", "35.73", "penelaah", "province_admin"), None, "officer_forbidden"),
    (KOTA_ADMIN, _officer("o-x", "35.73", "penelaah"), ["tenant_admin"], "officer_forbidden"),  # an admin role
    (KOTA_ADMIN, _officer("o-kota", "35.73", "tenant_admin"), None, "not_on_yourself"),
    (PROV_ADMIN, _officer("o-x", "35.07", "tenant_admin"), ["province_admin"], None),
    (PROV_ADMIN, _officer("o-prov", "35", "province_admin"), None, "not_on_yourself"),
    (PROV_ADMIN, _officer("o-prov", "35", "province_admin"), ["province_admin", "inspektur"], "not_on_yourself"),
    (SARI, _officer("o-x", "35.73", "penelaah"), None, "officer_forbidden"),
])
def test_who_may_administer_whom(actor, target, roles, refusal):
    check = access_module.officer_admin_check(actor, roles)
    if refusal is None:
        check(target)
    else:
        with pytest.raises(AccessDenied) as info:
            check(target)
        assert (info.value.code, info.value.text) == ("forbidden", refusal)


def test_who_sees_which_officers():
    assert access_module.officer_listing(PROV_ADMIN, None) == (None, True)
    assert access_module.officer_listing(PROV_ADMIN, "35.07") == (["35.07"], True)
    assert access_module.officer_listing(KOTA_ADMIN, None) == (["35.73"], True)
    assert access_module.officer_listing(SARI, "35.73") == (["35.73"], False)  # the team picker
    assert access_module.officer_listing(RINA, None) == (["35"], False)
    for actor, tenant in ((KOTA_ADMIN, "35.07"), (SARI, "35.07"), (RINA, "35.73")):
        with pytest.raises(AccessDenied):
            access_module.officer_listing(actor, tenant)


def test_tenant_settings_grants_and_the_change_log(access, directory):
    access_module.require_tenant_admin(PROV_ADMIN, "35.07")
    access_module.require_tenant_admin(KOTA_ADMIN, "35.73")
    for actor, tenant in ((KOTA_ADMIN, "35.07"), (SARI, "35.73"), (KEPALA, "35.73")):
        with pytest.raises(AccessDenied):
            access_module.require_tenant_admin(actor, tenant)
    assert access_module.grant_listing(PROV_ADMIN) is None
    assert access_module.grant_listing(RINA) == "o-rina"
    with pytest.raises(AccessDenied):
        access_module.grant_listing(KOTA_ADMIN)
    assert access.admin_change_tenants(PROV_ADMIN, None) is None
    assert access.admin_change_tenants(PROV_ADMIN, "35.07") == ["35.07"]
    assert access.admin_change_tenants(KOTA_ADMIN, None) == ["35.73"]
    directory.grants["o-rina"] = {"35.73", "35.07"}
    assert access.admin_change_tenants(RINA, None) == ["35.07", "35.73"]
    assert access.admin_change_tenants(RINA, "35.07") == ["35.07"]
    for actor, tenant in ((KOTA_ADMIN, "35.07"), (RINA, "35"), (SARI, None), (BUDI, "35.07")):
        with pytest.raises(AccessDenied):
            access.admin_change_tenants(actor, tenant)


def test_a_recused_officer_meets_the_same_404_as_another_tenant_and_it_is_logged(app, access):
    case_id = app.register_report(command(7), now=NOW).case_id
    case = app.get_case(case_id)
    app.execute(case_id, case.version, "recuse", SARI.record(), reason="Kerabat terlapor")
    refusals = []
    for actor in (SARI, BUDI):
        with pytest.raises(AccessDenied) as err:
            access.case(actor, str(case_id), "evidence_download")
        refusals.append((err.value.code, err.value.text))
    assert refusals[0] == refusals[1] == ("not_found", "case_not_found")
    from peluit_cases.ledgers import AccessLog

    assert app.repository.get(AccessLog.create_id(case_id)).refused == 2
    assert access.case(KEPALA, str(case_id), "read").id == case_id  # the others of the tenant still read it


def test_only_the_cases_team_and_the_tenants_inspektur_request_a_disclosure(app):
    case_id = app.register_report(command(8), now=NOW).case_id
    dewi = Actor("o-dewi", "dewi", "35.73", ("investigator",))
    rudi = Actor("o-rudi", "rudi", "35.73", ("investigator",))
    case = app.get_case(case_id)
    app.execute(case_id, case.version, "start_verification", KEPALA.record())
    case = app.get_case(case_id)
    app.execute(case_id, case.version, "accept", KEPALA.record())
    case = app.get_case(case_id)
    from datetime import date

    app.execute(case_id, case.version, "start_investigation", KEPALA.record(), team=["o-dewi"], plan="Periksa",
                due_on=date(2026, 12, 30))
    case = app.get_case(case_id)
    Access.require_disclosure_requester(dewi, case)  # on the team
    Access.require_disclosure_requester(KEPALA, case)  # the tenant's inspektur
    for actor in (rudi, SARI, Actor("o-x", "x", "35.07", ("inspektur",)),
                  Actor("o-dewi", "dewi", "35.73", ("penelaah",))):  # on the team by id, but not an investigator
        with pytest.raises(AccessDenied) as err:
            Access.require_disclosure_requester(actor, case)
        assert (err.value.code, err.value.text) == ("forbidden", "disclosure_requester_only")
