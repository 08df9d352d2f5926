"""The officer command handler on the in-memory store with a fake directory:
roles per command, the tenant wall with its access log, team members, who
records findings, escalation to the parent, and the deadline record of a case
that ends here."""

from __future__ import annotations

from datetime import date

import pytest

from peluit_cases.access import AccessDenied, Actor
from peluit_cases.commands import (
    COMMANDS,
    Accept,
    AddNote,
    Close,
    Escalate,
    Forward,
    OfficerCommands,
    RecordFindings,
    StartInvestigation,
    StartVerification,
    command_from,
)
from peluit_cases.domain import DomainError
from peluit_cases.ledgers import AccessLog
from peluit_cases.officers import Officer
from peluit_contracts import officer_api as contract

from ..support import NOW, FakeDirectory, command, deadline_config, memory_app

SARI = Actor("o-sari", "sari", "35.73", ("penelaah",))
AGUS = Actor("o-agus", "agus", "35.73", ("inspektur",))
DEWI = Actor("o-dewi", "dewi", "35.73", ("investigator",))
RUDI = Actor("o-rudi", "rudi", "35.73", ("investigator",))
BUDI = Actor("o-budi", "budi", "35.07", ("inspektur",))
TONO = Actor("o-tono", "tono", "35.73", ("penerima",))
PROV = Actor("o-prov", "prov", "35", ("inspektur",))


def officer(actor: Actor) -> Officer:
    return Officer(id=actor.officer_id, tenant=actor.tenant, username=actor.username, display_name=actor.username,
                   roles=actor.roles, active=True)


@pytest.fixture
def app():
    return memory_app()


@pytest.fixture
def directory():
    return FakeDirectory(officers=[officer(a) for a in (SARI, AGUS, DEWI, RUDI, BUDI, TONO, PROV)])


@pytest.fixture
def handler(app, directory):
    return OfficerCommands(app, directory)


@pytest.fixture
def case_id(app):
    return app.register_report(command(1), now=NOW).case_id


def step(handler, actor, case_id, order):
    return handler.run(actor, str(case_id), order, handler.app.get_case(case_id).version)


def to_investigation(handler, case_id, team=("o-dewi",)):
    step(handler, SARI, case_id, StartVerification())
    step(handler, SARI, case_id, Accept(note="Lengkap"))
    step(handler, AGUS, case_id, StartInvestigation(team=team, plan="Audit dokumen", due_on=date(2027, 1, 31)))


def access_entries(app, case_id) -> list[tuple[str, str, bool]]:
    return [(e.officer_id, e.action, e.allowed) for e in app.events.get(AccessLog.create_id(case_id))
            if isinstance(e, AccessLog.Accessed)]


def test_every_command_of_the_contract_has_a_typed_command():
    assert set(COMMANDS) == set(contract.COMMANDS)
    for name, kind in COMMANDS.items():
        assert kind.name == name and kind.roles


def test_a_command_records_the_actor_and_the_access(handler, app, case_id):
    case = step(handler, SARI, case_id, StartVerification())
    assert case.status == "verifikasi" and case.version == 2
    _, history, _ = app.transcript(case_id)
    assert history[-1]["actor"] == {"officer_id": "o-sari", "username": "sari", "roles": ["penelaah"],
                                    "tenant": "35.73"}
    assert access_entries(app, case_id) == [("o-sari", "start-verification", True)]


def test_roles_are_checked_after_the_wall_and_record_nothing(handler, app, case_id):
    with pytest.raises(AccessDenied) as err:
        step(handler, TONO, case_id, StartVerification())  # a penerima may only recuse
    assert err.value.code == "forbidden"
    assert app.get_case(case_id).version == 1
    assert access_entries(app, case_id) == [("o-tono", "start-verification", True)]


def test_another_tenant_finds_no_case_and_the_attempt_is_logged(handler, app, case_id):
    for target in (str(case_id), "00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        with pytest.raises(AccessDenied) as err:
            step(handler, BUDI, case_id, StartVerification()) if target == str(case_id) else \
                handler.run(BUDI, target, StartVerification(), 1)
        assert (err.value.code, err.value.text) == ("not_found", "case_not_found")
    assert access_entries(app, case_id) == [("o-budi", "start-verification", False)]


def test_a_stale_version_is_refused(handler, app, case_id):
    handler.run(SARI, str(case_id), AddNote(text="satu"), 1)
    with pytest.raises(DomainError, match="stale_version"):
        handler.run(AGUS, str(case_id), AddNote(text="dua"), 1)


def test_team_members_must_be_investigators_of_the_handling_tenant(handler, app, case_id):
    step(handler, SARI, case_id, StartVerification())
    step(handler, SARI, case_id, Accept())
    version = app.get_case(case_id).version
    for team in (("o-budi",), ("o-sari",), ("o-nobody",), ("o-dewi", "o-budi")):
        with pytest.raises(DomainError, match="team_required"):
            handler.run(AGUS, str(case_id), StartInvestigation(team=team, plan="p", due_on=date(2027, 1, 31)), version)
    case = handler.run(AGUS, str(case_id), StartInvestigation(team=("o-dewi", "o-rudi"), plan="p",
                                                              due_on=date(2027, 1, 31)), version)
    assert case.investigation["team"] == ["o-dewi", "o-rudi"]


def test_only_a_team_member_or_an_inspektur_records_findings(handler, app, case_id):
    to_investigation(handler, case_id)
    findings = RecordFindings(outcome="tidak_terbukti", summary="Tidak terbukti")
    with pytest.raises(AccessDenied, match="forbidden"):
        step(handler, RUDI, case_id, findings)  # an investigator, but not on this team
    assert step(handler, DEWI, case_id, findings).status == "hasil"


def test_an_inspektur_records_findings_without_being_on_the_team(handler, case_id):
    to_investigation(handler, case_id)
    recs = ({"kind": "sanksi_disiplin", "details": "", "sanction": {"level": "ringan", "type": "teguran_lisan",
                                                                     "months": None}, "amount": None},)
    case = step(handler, AGUS, case_id, RecordFindings(outcome="terbukti", summary="Terbukti", recommendations=recs))
    assert case.status == "tindak_lanjut"
    assert case.recommendations[0]["sanction"] == {"level": "ringan", "type": "teguran_lisan",  # None left out
                                                  "catalogue": "pp94-2021/1"}


def test_escalation_goes_to_the_parent_tenant(handler, directory, app, case_id):
    case = step(handler, SARI, case_id, Escalate(reason="Terlapor pejabat Inspektorat Kota Malang"))
    assert case.handling_tenant == "35"
    with pytest.raises(AccessDenied):  # Kota Malang no longer sees it
        step(handler, SARI, case_id, AddNote(text="x"))
    with pytest.raises(DomainError, match="no_parent_tenant"):  # the province has nobody above it
        step(handler, PROV, case_id, Escalate(reason="Tidak ada atasan"))


def test_a_case_that_ends_here_records_its_deadlines(app, directory, case_id):
    handler = OfficerCommands(app, directory, deadline_config)
    other = app.register_report(command(2), now=NOW).case_id
    step(handler, SARI, case_id, StartVerification())
    step(handler, SARI, case_id, Forward(destination_kind="external", destination="kpk", reason="Kewenangan KPK"))
    step(handler, SARI, other, Forward(destination_kind="tenant", destination="35.07", reason="Lokus di Kab. Malang"))
    ended, moved = list(app.events.get(case_id))[-1], list(app.events.get(other))[-1]
    assert ended.deadlines["pack"] == "lapor" and ended.deadlines["rules"]
    assert moved.deadlines is None  # the case goes on at the other tenant


def test_close_needs_an_inspektur_and_finished_follow_up(handler, case_id):
    to_investigation(handler, case_id)
    step(handler, DEWI, case_id, RecordFindings(outcome="tidak_terbukti", summary="Tidak terbukti"))
    with pytest.raises(AccessDenied, match="forbidden"):
        step(handler, SARI, case_id, Close(reason="Selesai", feedback="Terima kasih"))
    assert step(handler, AGUS, case_id, Close(reason="Selesai", feedback="Terima kasih")).status == "selesai"


def test_commands_are_built_from_validated_bodies():
    body = contract.StartInvestigation().load({"team": ["0" * 8 + "-0000-0000-0000-" + "0" * 12], "plan": "p",
                                                "due_on": "2027-01-31"})
    order = command_from("start-investigation", body)
    assert order == StartInvestigation(team=("00000000-0000-0000-0000-000000000000",), plan="p",
                                       due_on=date(2027, 1, 31))
    assert command_from("accept", contract.Note().load({})) == Accept(note=None)
    findings = command_from("record-findings", contract.RecordFindings().load({"outcome": "terbukti",
                                                                               "summary": "s"}))
    assert findings.recommendations == ()
