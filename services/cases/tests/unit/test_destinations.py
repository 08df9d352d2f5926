"""Forwarding and escalation go only to destinations that exist: a tenant of
the province catalogue or an external body of the configured list; anything
else is a 422 that records nothing (the insider who forwards to ``99.99``)."""

from __future__ import annotations

import json

import pytest

from peluit_cases import bodies, destinations
from peluit_cases.access import Actor
from peluit_cases.commands import Forward, OfficerCommands
from peluit_cases.domain import DomainError
from peluit_cases.ledgers import AccessLog
from peluit_cases.officers import Officer

from ..support import NOW, FakeDirectory, command, memory_app

SARI = Actor("o-sari", "sari", "35.73", ("penelaah",))
PROV = Actor("o-prov", "prov", "35", ("penelaah",))


@pytest.fixture
def world():
    app = memory_app()
    directory = FakeDirectory(officers=[Officer(id=a.officer_id, tenant=a.tenant, username=a.username,
                                                display_name=a.username, roles=a.roles, active=True)
                                        for a in (SARI, PROV)])
    return app, OfficerCommands(app, directory)


def forward(world, actor, case_id, kind, destination):
    app, handler = world
    return handler.run(actor, str(case_id), Forward(reason="Bukan kewenangan kami", destination_kind=kind,
                                                    destination=destination), app.get_case(case_id).version)


def test_the_configured_list_is_data_with_the_bodies_the_law_names():
    codes = [b.code for b in bodies.external_bodies()]
    assert codes == ["kpk", "kejaksaan", "kepolisian", "ombudsman", "apip_kementerian", "itjen_kemendagri"]
    assert {b.code: b.only_for for b in bodies.external_bodies()}["itjen_kemendagri"] == "province_inspektorat_reported"
    assert all(b.name_id and b.name_en for b in bodies.external_bodies())
    with pytest.raises(ValueError):
        bodies.parse({"bodies": [{"code": "kpk", "name_id": "a", "name_en": "b", "only_for": "whenever"}]})


@pytest.mark.parametrize("n,kind,destination", [(1, "tenant", "99.99"), (2, "tenant", "35.73"), (3, "external", "dukun"),
                                                (4, "external", "bpk"), (5, "external", "itjen_kemendagri")])
def test_a_destination_that_does_not_exist_or_does_not_fit_is_refused_and_records_nothing(world, n, kind, destination):
    app, _ = world
    case_id = app.register_report(command(n), now=NOW).case_id
    before = app.get_case(case_id).version
    log_before = _access_count(app, case_id)
    with pytest.raises(DomainError) as err:
        forward(world, SARI, case_id, kind, destination)
    assert err.value.code == "unknown_destination"
    case = app.get_case(case_id)
    assert (case.version, case.handling_tenant, case.forwarded_to) == (before, "35.73", None)
    if destination in ("99.99", "dukun", "bpk"):  # refused before the case is even read
        assert _access_count(app, case_id) == log_before


def _access_count(app, case_id) -> int:
    try:
        return app.repository.get(AccessLog.create_id(case_id)).count
    except Exception:  # noqa: BLE001 - no log yet
        return 0


def test_tenants_of_the_catalogue_and_listed_bodies_are_accepted(world):
    app, _ = world
    to_tenant = app.register_report(command(501), now=NOW).case_id
    assert forward(world, SARI, to_tenant, "tenant", "35.07").handling_tenant == "35.07"
    to_kpk = app.register_report(command(502), now=NOW).case_id
    assert forward(world, SARI, to_kpk, "external", "kpk").forwarded_to == {"kind": "external", "destination": "kpk"}


def test_itjen_kemendagri_takes_only_a_report_against_the_provinces_own_inspektorat(world):
    app, _ = world
    reported = command(601, tenant="35", report={**command(601)["report"], "terlapor_inspektorat": True})
    case_id = app.register_report(reported, now=NOW).case_id
    assert forward(world, PROV, case_id, "external", "itjen_kemendagri").status == "dilimpahkan"
    # a kota's Inspektorat reported: the province handles it (escalated), Itjen is not the place
    kota = command(602, report={**command(602)["report"], "terlapor_inspektorat": True})
    kota_case = app.register_report(kota, now=NOW, escalate_to="35").case_id
    assert app.get_case(kota_case).handling_tenant == "35"
    with pytest.raises(DomainError, match="unknown_destination"):
        forward(world, PROV, kota_case, "external", "itjen_kemendagri")
    plain = app.register_report(command(603, tenant="35"), now=NOW).case_id
    with pytest.raises(DomainError, match="unknown_destination"):
        forward(world, PROV, plain, "external", "itjen_kemendagri")


def test_the_list_can_be_replaced_by_an_operators_file(tmp_path, monkeypatch):
    own = tmp_path / "bodies.json"
    own.write_text(json.dumps({"bodies": [{"code": "kpk", "name_id": "KPK", "name_en": "KPK"}]}))
    monkeypatch.setenv("PELUIT_EXTERNAL_BODIES_FILE", str(own))
    bodies.external_bodies.cache_clear()
    try:
        assert bodies.external_codes() == {"kpk"}
        with pytest.raises(DomainError, match="unknown_destination"):
            destinations.check_known("external", "ombudsman", FakeDirectory())
    finally:
        monkeypatch.delenv("PELUIT_EXTERNAL_BODIES_FILE")
        bodies.external_bodies.cache_clear()
