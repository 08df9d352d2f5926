"""The redaction bodies of the officer API: what they take and what they refuse, field by field."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from peluit_contracts.redaction import Redact, RedactEvidence


def test_a_redaction_names_its_target_and_marks_something():
    body = Redact().load({"target": {"kind": "message", "version": 4}, "passages": [" Bambang "],
                          "reason": "Nama pelapor"})
    assert body == {"target": {"kind": "message", "version": 4}, "passages": ["Bambang"], "spans": [],
                    "reason": "Nama pelapor"}
    assert Redact().load({"target": {"kind": "report", "field": "who"}, "spans": [{"start": 0, "end": 3}],
                          "reason": "r"})["spans"] == [{"start": 0, "end": 3}]


@pytest.mark.parametrize("body, field", [
    ({"target": {"kind": "report"}, "passages": ["x"], "reason": "r"}, "target"),  # which field
    ({"target": {"kind": "note"}, "passages": ["x"], "reason": "r"}, "target"),  # which note
    ({"target": {"kind": "evidence", "evidence_id": "x"}, "passages": ["x"], "reason": "r"}, "target"),
    ({"target": {"kind": "report", "field": "identity"}, "passages": ["x"], "reason": "r"}, "target"),
    ({"target": {"kind": "report", "field": "what"}, "reason": "r"}, "passages"),  # nothing marked
    ({"target": {"kind": "report", "field": "what"}, "spans": [{"start": -1, "end": 2}], "reason": "r"}, "spans"),
    ({"target": {"kind": "report", "field": "what"}, "passages": ["x"] * 51, "reason": "r"}, "passages"),
    ({"target": {"kind": "report", "field": "what"}, "passages": ["x"], "reason": "  "}, "reason"),
    ({"target": {"kind": "report", "field": "what"}, "passages": ["x"], "reason": "r", "undo": True}, "undo"),
])
def test_bad_redactions_are_refused_field_by_field(body, field):
    with pytest.raises(ValidationError) as err:
        Redact().load(body)
    assert field in err.value.messages


@pytest.mark.parametrize("body, ok", [
    ({"region": {"x": 0, "y": 0, "width": 5, "height": 5}, "reason": "Wajah"}, True),
    ({"page": 2, "reason": "Tanda tangan"}, True),
    ({"region": {"x": 0, "y": 0, "width": 5, "height": 5}, "page": 2, "reason": "both"}, False),
    ({"reason": "neither"}, False),
    ({"region": {"x": 0, "y": 0, "width": 0, "height": 5}, "reason": "empty"}, False),
    ({"page": 0, "reason": "zero"}, False),
])
def test_an_evidence_redaction_is_a_region_or_a_page(body, ok):
    if ok:
        assert RedactEvidence().load(body)["reason"]
    else:
        with pytest.raises(ValidationError):
            RedactEvidence().load(body)
