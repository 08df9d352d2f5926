"""A window's envelopes checked against the contract before any SQL runs,
and a case's moves folded as the per-move statement would apply them."""

from __future__ import annotations

import pytest

from peluit_contracts.events import ENVELOPE_VERSION
from peluit_reporting.projection.apply import EnvelopeRejected, _check, _fold


def envelope(**overrides):
    e = {"specversion": ENVELOPE_VERSION, "type": "case.registered", "dataversion": 1, "position": 7, "data": {}}
    e.update(overrides)
    return e


def test_a_known_envelope_passes():
    _check(envelope())


@pytest.mark.parametrize("spoil", [
    {"type": "case.unknown"}, {"specversion": "2.0"}, {"dataversion": 99}, {"position": "7"}, {"position": 0},
    {"position": True}, {"data": []},
])
def test_an_envelope_off_the_contract_is_rejected(spoil):
    with pytest.raises(EnvelopeRejected):
        _check(envelope(**spoil))


def test_a_missing_header_or_a_non_object_is_rejected():
    e = envelope()
    del e["type"]
    for bad in (e, None, "case.registered", [1]):
        with pytest.raises(EnvelopeRejected):
            _check(bad)


def test_moves_fold_into_the_first_time_of_each_step_and_the_last_state():
    row = {"tenant": "35.73", "status": "diterima", "position": 1, "first_response_at": None,
           "verified_at": None, "closed_at": None}
    for position, (tenant, status, step, at) in enumerate([
            ("35.73", "verifikasi", "verification_started", "t1"), ("35.73", "penelaahan", "accepted", "t2"),
            ("35.07", "diterima", "forwarded", "t3"), ("35.07", "selesai", "closed", "t4")], start=2):
        _fold(row, {"tenant": tenant, "status": status, "step": step, "changed_at": at, "position": position})
    assert row == {"tenant": "35.07", "status": "selesai", "position": 5, "first_response_at": "t1",
                   "verified_at": "t2", "closed_at": "t4"}
