"""The officer API's translation: one table from every refusal code to an
HTTP status and a catalogue text, If-Match and as_of parsing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from peluit_cases.errors import CasesError
from peluit_cases.officer_api import STATUS, TEXT, expected_version, http_error, load
from peluit_cases.vault import REFUSALS, VaultRefused
from peluit_contracts.i18n import MESSAGES
from peluit_contracts.officer_api import AuditGrant, CaseListQuery, CaseQuery

SOURCE = Path(__file__).resolve().parents[2] / "peluit_cases"


def raised_codes() -> set[str]:
    """Every code the service raises as a DomainError, CasesError or aggregate refusal."""
    raised = re.compile(r'(?:DomainError|CasesError|OfficerError|LoginFailed|VaultRefused|AccessDenied)\("([a-z_]+)"')
    required = re.compile(r'_require\(.*, "([a-z_]+)"\)$', re.MULTILINE)
    return {m for path in SOURCE.glob("*.py") for pattern in (raised, required) for m in pattern.findall(path.read_text())}


def test_every_code_the_service_raises_has_a_catalogue_text():
    codes = raised_codes()
    assert {"stale_version", "team_required", "illegal_transition", "invalid_credentials"} <= codes
    assert sorted(c for c in codes if c not in MESSAGES and c not in TEXT) == []


def test_every_refusal_has_a_text_and_a_deliberate_status():
    for code in REFUSALS | set(STATUS):
        err = http_error(VaultRefused(code))
        assert err.message == {"id": err.message["id"], "en": err.message["en"]} and err.message["id"]
        assert code in MESSAGES or code in ("not_found", "forbidden", "validation_failed"), code
    assert http_error(VaultRefused("not_found", text="disclosure_request_not_found")).message["en"] == \
        "Disclosure request not found."


@pytest.mark.parametrize("code,status", [("stale_version", 409), ("illegal_transition", 422), ("team_required", 422),
                                         ("not_found", 404), ("forbidden", 403), ("precondition_required", 428),
                                         ("not_checkpointed", 409), ("validation_failed", 400)])
def test_statuses(code, status):
    assert http_error(CasesError(code)).status == status


def test_an_unknown_code_keeps_its_wire_code_with_a_general_text():
    err = http_error(CasesError("something_new"))
    assert (err.status, err.code, err.message) == (422, "something_new", {"id": MESSAGES["bad_request"][0],
                                                                          "en": MESSAGES["bad_request"][1]})


def test_if_match():
    assert expected_version('"7"') == expected_version('W/"7"') == expected_version("7") == 7
    for bad, code in ((None, "precondition_required"), ("", "precondition_required"), ('"x"', "invalid_if_match")):
        with pytest.raises(CasesError) as err:
            expected_version(bad)
        assert err.value.code == code


def test_as_of_needs_an_offset_and_a_place_on_the_utc_line():
    assert load(CaseQuery, {"as_of": "2026-12-02T08:00:00+07:00"})["as_of"].utcoffset().total_seconds() == 7 * 3600
    assert load(CaseQuery, {"x": "ignored"}) == {}
    for bad in ("", "2026-12-02T08:00:00", "kemarin", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        with pytest.raises(CasesError) as err:
            load(CaseQuery, {"as_of": bad})
        assert err.value.code == "validation_failed" and set(err.value.fields) == {"as_of"}
        assert http_error(err.value).status == 400


@pytest.mark.parametrize("query,field", [
    ({"page": "1000000000000000000"}, "page"),  # overflowed PostgreSQL's OFFSET (a 500)
    ({"page": "0"}, "page"), ({"per_page": "101"}, "per_page"), ({"page": "satu"}, "page"),
    ({"status": "\x00"}, "status"),  # PostgreSQL refuses NUL in text (a 500)
    ({"status": "tidak_ada"}, "status"), ({"category": "a b"}, "category"), ({"number": "%"}, "number"),
    ({"channel": "fax"}, "channel"), ({"deadline": "late"}, "deadline"), ({"sort": "priority"}, "sort"),
])
def test_case_list_queries_outside_the_contract_are_400s_field_by_field(query, field):
    with pytest.raises(CasesError) as err:
        load(CaseListQuery, query)
    assert set(err.value.fields) == {field} and http_error(err.value).status == 400
    assert all(set(m) == {"id", "en"} for m in err.value.fields[field])


def test_case_list_defaults():
    assert load(CaseListQuery, {}) == {"page": 1, "per_page": 25, "sort": "deadline"}
    assert load(CaseListQuery, {"status": "verifikasi", "number": "2026/000123", "page": "3"}) == {
        "status": "verifikasi", "number": "2026/000123", "page": 3, "per_page": 25, "sort": "deadline"}
    assert load(CaseListQuery, {"channel": "whatsapp", "deadline": "none", "sort": "updated"}) == {
        "channel": "whatsapp", "deadline": "none", "sort": "updated", "page": 1, "per_page": 25}


def test_a_grant_names_an_officer_by_uuid():
    with pytest.raises(CasesError) as err:  # passed the old [0-9a-f-]{36} pattern, then failed in PostgreSQL
        load(AuditGrant, {"officer_id": "-" * 36, "tenant": "35.73", "days": 7, "reason": "Audit"})
    assert set(err.value.fields) == {"officer_id"}
