"""The bilingual catalogue: one namespace of codes, Bahasa Indonesia first,
and nothing a client sent is ever echoed back."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from peluit_contracts import i18n
from peluit_contracts.reports import ReportSubmissionSchema


def test_every_message_has_an_indonesian_and_an_english_text():
    for code, (id_, en) in i18n.MESSAGES.items():
        assert id_.strip() and en.strip(), code
        assert id_ != en or code in {"mime"}, code  # a copy of the English is no translation


def test_a_code_defined_in_two_areas_is_an_import_error():
    with pytest.raises(ImportError, match="dup"):
        i18n._merge({"dup": ("a", "a")}, {"dup": ("b", "b")})


def test_every_area_of_the_catalogue_is_loaded():
    for area in i18n.AREAS:
        assert i18n._load(area).items() <= i18n.MESSAGES.items()


def test_message_is_strict_and_text_is_lenient():
    assert i18n.message("too_long", max=5) == {"id": "Maksimal 5 karakter.", "en": "At most 5 characters."}
    with pytest.raises(KeyError):
        i18n.message("no_such_code")
    assert i18n.text("no_such_code") == i18n.message("invalid")


def test_decode_never_echoes_an_unmapped_message():
    # marshmallow defaults we did not map may quote the input
    assert i18n.decode("Not a valid string: '<script>'") == i18n.message("invalid")
    assert i18n.decode(i18n.encode("too_short", min=10)) == i18n.message("too_short", min=10)


def test_validation_errors_are_field_by_field_and_bilingual():
    bad = {"tenant": "35-73", "category": "korupsi", "what": "pendek", "where": " ", "when": "x",
           "identity": {"nik": "123", "email": "bukan-email"}, "extra": 1}
    with pytest.raises(ValidationError) as err:
        ReportSubmissionSchema().load(bad)
    fields = i18n.bilingual_errors(err.value.messages)
    assert fields["tenant"] == [i18n.message("tenant_code")]
    assert fields["what"] == [i18n.message("too_short", min=10)]
    assert fields["where"] == [i18n.message("blank")]
    assert fields["identity.nik"] == [i18n.message("nik")]
    assert fields["identity.email"] == [i18n.message("email")]
    assert fields["extra"] == [i18n.message("unknown_field")]
    assert "35-73" not in repr(fields) and "bukan-email" not in repr(fields)
