"""The console's small parts: which forms a case page offers, the form
catalogue's fallbacks, and the catalogues (every string in
both languages, the template current)."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from peluit_console import i18n, rules
from peluit_console.pages.forms import body_of
from peluit_console.session import Officer
from peluit_console.texts import T
from peluit_contracts.officer_api import COMMANDS

ME = "11111111-2222-4333-8444-555555555555"


def officer(*roles, tenant="35.73"):
    return Officer(ME, "me", tenant, roles)


def test_the_case_page_offers_what_the_officer_api_allows_in_page_order():
    given = {"status": {"code": "verifikasi"}, "allowed_commands": ["recuse", "accept", "unknown"]}
    assert rules.allowed_commands(given) == ["accept", "recuse"]
    assert rules.allowed_commands({"status": {"code": "verifikasi"}}) == []  # said nothing: offer nothing
    assert rules.allowed_commands({**given, "as_of": "2026-11-01T00:00:00+07:00"}) == []  # read only


def test_every_command_and_menu_entry_has_its_text():
    assert all(f"cmd_{name}" in T for name in rules.ORDER)
    assert set(rules.ORDER) == set(COMMANDS)  # every command the officer API knows has its place
    assert all(key in T for _, key, *_ in rules.MENU)


def test_the_menu_follows_roles_and_tenant():
    paths = [p for p, _ in rules.navigation(officer("penerima"))]
    assert paths == ["/antrean", "/pemberitahuan", "/laporan-langsung", "/akun/kata-sandi"]
    province = [p for p, _ in rules.navigation(officer("inspektur", tenant="35"))]
    assert "/statistik/provinsi" in province
    kota = [p for p, _ in rules.navigation(officer("inspektur"))]
    assert "/statistik/provinsi" not in kota and "/pengungkapan" in kota and "/admin/petugas" not in kota
    admin = [p for p, _ in rules.navigation(officer("tenant_admin"))]
    assert {"/admin/petugas", "/admin/pengaturan", "/admin/log"} <= set(admin) and "/admin/hibah-audit" not in admin


def test_forms_become_bodies_checked_by_the_officer_apis_own_schemas():
    body, errors = body_of("forward", {"destination": "external:kpk", "reason": "Korupsi besar"})
    assert body == {"destination_kind": "external", "destination": "kpk", "reason": "Korupsi besar"} and not errors
    _, errors = body_of("forward", {"destination": "", "reason": ""})
    assert set(errors) == {"destination", "reason"}
    body, errors = body_of("start-investigation", {"team": [], "team_text": f"{ME}\n{ME.upper()}", "plan": "p",
                                                   "due_on": "2027-01-01"})
    assert body["team"] == [ME] and not errors
    _, errors = body_of("start-investigation", {"team": [], "team_text": "", "plan": "", "due_on": ""})
    assert {"team", "plan", "due_on"} <= set(errors)
    _, errors = body_of("record-findings", {"outcome": "terbukti", "summary": "s",
                                            "recommendations.0.kind": "sanksi_disiplin",
                                            "recommendations.0.sanction": "ringan/teguran_lisan",
                                            "recommendations.0.months": "abc"})
    assert "recommendations.0.months" in errors
    _, errors = body_of("record-findings", {"outcome": "terbukti", "summary": "s",
                                            "recommendations.0.kind": "sanksi_disiplin"})
    assert "recommendations.0.kind" in errors  # a discipline sanction names its sanction


def test_every_page_string_is_translated_and_the_template_is_current():
    template = i18n.CATALOGUE.extract()
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    assert len(ids) > 300
    for lang in ("id", "en"):
        assert i18n.CATALOGUE.missing(lang, template) == [], lang
    with i18n.CATALOGUE.pot.open("rb") as fp:
        pot = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fp) if m.id}
    assert pot == ids  # run `python -m peluit_console.i18n extract`
    assert all(T[key] in ids for key in T)


def test_translations_keep_their_placeholders_and_indonesian_differs():
    catalog, english = i18n.CATALOGUE.read("id"), i18n.CATALOGUE.read("en")
    different = 0
    for entry in catalog:
        if not entry.id or not isinstance(entry.id, str):
            continue
        assert sorted(re.findall(r"%\(\w+\)s", entry.id)) == sorted(re.findall(r"%\(\w+\)s", entry.string))
        assert english.get(entry.id).string == entry.id
        different += entry.string != entry.id
    assert different > 250
