"""The public report contract and the RPC commands that carry it."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from peluit_contracts.reports import (
    AssistedReportSchema,
    IdentitySchema,
    ReceiptSchema,
    RegisterReportCommand,
    ReportSubmissionSchema,
    case_id_for,
)

REPORT = {"tenant": "35.73", "category": "korupsi", "what": "Dana hibah dipotong 20% oleh pejabat",
          "where": "Dinas Sosial", "when": "Oktober 2026"}


def test_a_report_loads_trimmed_and_normalised():
    loaded = ReportSubmissionSchema().load({**REPORT, "what": "  Dana hibah dipotong 20% oleh pejabat \n"})
    assert loaded["what"] == "Dana hibah dipotong 20% oleh pejabat"
    assert loaded["terlapor_inspektorat"] is False and "identity" not in loaded


@pytest.mark.parametrize("field, value", [
    ("tenant", "٣٥.٧٣"),  # Arabic-Indic digits are digits to \d, not to a region code
    ("tenant", "35.7"), ("tenant", "35.73.01"),
    ("category", "Korupsi"), ("category", "k"),
    ("what", "a\x00" * 10),  # PostgreSQL cannot store NUL; never meant
    ("where", "x" * 501),
])
def test_bad_fields_are_refused(field, value):
    with pytest.raises(ValidationError) as err:
        ReportSubmissionSchema().load({**REPORT, field: value})
    assert field in err.value.messages


def test_identity_fields_are_normalised_and_never_empty():
    loaded = IdentitySchema().load({"nik": "3573 0101-0101.0001", "phone": "+62 (812) 3456-7890"})
    assert loaded == {"nik": "3573010101010001", "phone": "+6281234567890"}
    with pytest.raises(ValidationError):
        IdentitySchema().load({})
    with pytest.raises(ValidationError):
        IdentitySchema().load({"nik": "٣٥٧٣٠١٠١٠١٠١٠٠٠١"})


def test_a_receipt_is_sixteen_ascii_digits_in_any_grouping():
    assert ReceiptSchema().load({"receipt": "1234-5678 9012-3456"})["receipt"] == "1234567890123456"
    for bad in ("1234-5678-9012-345", "abcd-5678-9012-3456", "１２３４５６７８９０１２３４５６"):
        with pytest.raises(ValidationError):
            ReceiptSchema().load({"receipt": bad})


def test_assisted_reports_name_their_channel():
    assert AssistedReportSchema().load({**REPORT, "channel": "walk_in"})["channel"] == "walk_in"
    with pytest.raises(ValidationError):
        AssistedReportSchema().load({**REPORT, "channel": "web"})


def test_the_registration_command_carries_no_identity():
    assert "identity" not in RegisterReportCommand().fields
    command = {"version": 1, "submission_id": "a" * 64, "fingerprint": "b" * 64, "receipt_hash": "c" * 64,
               "tenant": "35.73", "category": "korupsi", "channel": "web",
               "report": {k: REPORT[k] for k in ("what", "where", "when")},
               "reporter_ref": None, "anonymous": True}
    assert RegisterReportCommand().load(command)["report"]["what"] == REPORT["what"]
    with pytest.raises(ValidationError):
        RegisterReportCommand().load({**command, "report": {**command["report"], "identity": {"name": "x"}}})


def test_a_case_id_is_derived_from_its_submission_alone():
    assert case_id_for("a" * 64) == case_id_for("a" * 64)
    assert case_id_for("a" * 64) != case_id_for("b" * 64)
    # stored data depends on it: the namespace never changes
    assert str(case_id_for("x")) == "96ff85ea-5dd3-538f-ba3d-25166a8ecea1"
