"""The officer API's translation: one table from every refusal code to an
HTTP status and a catalogue text, If-Match and as_of parsing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from peluit_cases.errors import CasesError
from peluit_cases.officer_api import STATUS, TEXT, expected_version, http_error, parse_as_of
from peluit_cases.vault import REFUSALS, VaultRefused
from peluit_contracts.i18n import MESSAGES

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


def test_if_match_and_as_of():
    assert expected_version('"7"') == expected_version('W/"7"') == expected_version("7") == 7
    for bad, code in ((None, "precondition_required"), ("", "precondition_required"), ('"x"', "invalid_if_match")):
        with pytest.raises(CasesError) as err:
            expected_version(bad)
        assert err.value.code == code
    assert parse_as_of("2026-12-02T08:00:00+07:00").utcoffset().total_seconds() == 7 * 3600
    for bad in (None, "2026-12-02T08:00:00", "kemarin"):
        with pytest.raises(CasesError) as err:
            parse_as_of(bad)
        assert err.value.code == "validation_failed" and set(err.value.fields) == {"as_of"}
