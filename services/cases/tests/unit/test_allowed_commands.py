"""``allowed_commands``: what the case page offers an officer, per role and
status, and that it is exactly what the handler then accepts: every offered
command runs, every other one is refused (in memory, a fake directory)."""

from __future__ import annotations

from datetime import date

import pytest

from peluit_cases.access import AccessDenied, Actor
from peluit_cases.commands import COMMANDS, OfficerCommands, allowed_commands
from peluit_cases.domain import DomainError
from peluit_cases.officers import Officer
from peluit_cases.transitions import STARTS_FROM
from peluit_contracts.officer_api import CASE_STATUSES

from ..support import NOW, FakeDirectory, command, memory_app

SARI = Actor("o-sari", "sari", "35.73", ("penelaah",))
AGUS = Actor("o-agus", "agus", "35.73", ("inspektur",))
DEWI = Actor("o-dewi", "dewi", "35.73", ("investigator",))  # on the investigation team
RUDI = Actor("o-rudi", "rudi", "35.73", ("investigator",))  # not on it
TONO = Actor("o-tono", "tono", "35.73", ("penerima",))
RINA = Actor("o-rina", "rina", "35", ("auditor",))
ADMIN = Actor("o-admin", "admin", "35.73", ("tenant_admin",))
PROV = Actor("o-prov", "prov", "35", ("inspektur",))
ACTORS = {a.username: a for a in (SARI, AGUS, DEWI, RUDI, TONO, ADMIN)}
RECOMMENDATION = {"kind": "perbaikan_administrasi", "details": "Perbaiki SOP pencairan", "sanction": None,
                  "amount": None}


def order(name: str, **args):
    return COMMANDS[name](**args)


DUE = date(2027, 1, 31)
INVESTIGATING = [(SARI, order("start-verification")), (SARI, order("accept")),
                 (AGUS, order("start-investigation", team=("o-dewi",), plan="Audit dokumen", due_on=DUE))]
# how to bring a fresh case to each status (and a few states within one)
STEPS = {
    "diterima": [],
    "verifikasi": INVESTIGATING[:1],
    "menunggu_informasi": INVESTIGATING[:1] + [(SARI, order("request-information", question="Kapan?", due_on=DUE))],
    "dilimpahkan": [(SARI, order("forward", destination_kind="external", destination="kpk", reason="KPK"))],
    "ditolak": [(SARI, order("reject", reason="Bukan pengaduan"))],
    "diarsipkan": [(SARI, order("archive", reason="Ganda"))],
    "penelaahan": INVESTIGATING[:2],
    "investigasi": INVESTIGATING,
    "hasil": INVESTIGATING + [(DEWI, order("record-findings", outcome="tidak_terbukti", summary="Tidak terbukti"))],
    "tindak_lanjut": INVESTIGATING + [(DEWI, order("record-findings", outcome="terbukti", summary="Terbukti",
                                                   recommendations=(RECOMMENDATION,)))],
}
STEPS["tindak_lanjut, followed up"] = STEPS["tindak_lanjut"] + [
    (AGUS, order("complete-recommendation", recommendation_id="R1", note="SOP diperbaiki"))]
STEPS["selesai"] = STEPS["hasil"] + [(AGUS, order("close", reason="Selesai", feedback="Terima kasih"))]
STEPS["verifikasi, sari recused"] = STEPS["verifikasi"] + [(SARI, order("recuse", reason="Kerabat terlapor"))]

# a valid order of each command (what the handler then judges by role, status and state only)
ORDERS = {
    "start-verification": order("start-verification"),
    "request-information": order("request-information", question="Di mana?", due_on=DUE),
    "accept": order("accept", note="Lengkap"),
    "reject": order("reject", reason="Bukan kewenangan"),
    "archive": order("archive", reason="Tidak lengkap"),
    "forward": order("forward", destination_kind="tenant", destination="35.07", reason="Lokus di Kabupaten Malang"),
    "start-investigation": order("start-investigation", team=("o-dewi",), plan="Klarifikasi", due_on=DUE),
    "record-findings": order("record-findings", outcome="tidak_terbukti", summary="Tidak cukup bukti"),
    "complete-recommendation": order("complete-recommendation", recommendation_id="R1", note="Dilaksanakan"),
    "close": order("close", reason="Selesai", feedback="Terima kasih atas laporan Anda"),
    "message-reporter": order("message-reporter", text="Laporan sedang diproses"),
    "add-note": order("add-note", text="Catatan kerja"),
    "recuse": order("recuse", reason="Konflik kepentingan"),
    "escalate": order("escalate", reason="Terlapor pejabat Inspektorat"),
}
assert set(ORDERS) == set(COMMANDS)


def officer(actor: Actor) -> Officer:
    return Officer(id=actor.officer_id, tenant=actor.tenant, username=actor.username, display_name=actor.username,
                   roles=actor.roles, active=True)


@pytest.fixture(scope="module")
def world():
    app = memory_app()
    directory = FakeDirectory(officers=[officer(a) for a in (SARI, AGUS, DEWI, RUDI, TONO, RINA, ADMIN, PROV)],
                              grants={"o-rina": {"35.73"}})
    return app, directory, OfficerCommands(app, directory), iter(range(1, 100_000))


def case_in(world, state: str):
    app, _, handler, numbers = world
    case_id = app.register_report(command(next(numbers)), now=NOW).case_id
    for actor, order in STEPS[state]:
        handler.run(actor, str(case_id), order, app.get_case(case_id).version)
    return app.get_case(case_id)


def offered(world, actor: Actor, state: str) -> list[str]:
    return allowed_commands(actor, case_in(world, state), world[1])


def test_every_command_has_its_statuses():
    assert {kind.method for kind in COMMANDS.values()} == set(STARTS_FROM)
    assert {s.split(",")[0] for s in STEPS} == set(CASE_STATUSES)


def test_a_new_case_per_role(world):
    assert offered(world, SARI, "diterima") == ["start-verification", "reject", "archive", "forward",
                                                "message-reporter", "add-note", "recuse", "escalate"]
    assert offered(world, AGUS, "diterima") == offered(world, SARI, "diterima")
    assert offered(world, DEWI, "diterima") == ["message-reporter", "add-note", "recuse"]
    assert offered(world, TONO, "diterima") == ["recuse"]
    assert offered(world, RINA, "diterima") == offered(world, ADMIN, "diterima") == []


def test_the_later_steps_follow_status_team_and_follow_up(world):
    assert offered(world, AGUS, "penelaahan") == ["reject", "archive", "forward", "start-investigation",
                                                  "message-reporter", "add-note", "recuse", "escalate"]
    assert "record-findings" in offered(world, DEWI, "investigasi")
    assert "record-findings" not in offered(world, RUDI, "investigasi")  # not on the team
    assert [c for c in offered(world, AGUS, "tindak_lanjut") if c in ("complete-recommendation", "close")] == [
        "complete-recommendation"]
    assert [c for c in offered(world, AGUS, "tindak_lanjut, followed up")
            if c in ("complete-recommendation", "close")] == ["close"]
    assert offered(world, AGUS, "selesai") == ["add-note", "recuse"]
    assert offered(world, SARI, "verifikasi, sari recused") == []  # the case is a 404 to her now


def test_a_province_case_has_nobody_to_escalate_to(world):
    case = case_in(world, "diterima")
    world[2].run(SARI, str(case.id), order("escalate", reason="Terlapor pejabat"), case.version)
    moved = world[0].get_case(case.id)
    assert moved.handling_tenant == "35" and "escalate" not in allowed_commands(PROV, moved, world[1])
    assert "start-verification" in allowed_commands(PROV, moved, world[1])


@pytest.mark.parametrize("state", list(STEPS))
@pytest.mark.parametrize("who", list(ACTORS))
def test_what_is_offered_is_accepted_and_nothing_else(world, who, state):
    actor = ACTORS[who]
    offer = offered(world, actor, state)
    app, _, handler, _ = world
    for name, order in ORDERS.items():
        case = case_in(world, state)
        if name in offer:
            handler.run(actor, str(case.id), order, case.version)  # raises if refused
        else:
            with pytest.raises((AccessDenied, DomainError)):
                handler.run(actor, str(case.id), order, case.version)
            assert app.get_case(case.id).version == case.version, name
