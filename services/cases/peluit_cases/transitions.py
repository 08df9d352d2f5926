"""Where each officer command may start from, by the aggregate's method name:
the case aggregate enforces it (``illegal_transition``, or ``case_closed``
for the commands on any open case), the case page offers only what it allows
(``commands.allowed_commands``). The whole workflow: docs/domain.md."""

from __future__ import annotations

from peluit_contracts.events import TERMINAL_STATUSES
from peluit_contracts.officer_api import CASE_STATUSES

ANY = frozenset(CASE_STATUSES)
OPEN = ANY - TERMINAL_STATUSES
SCREENING = frozenset({"diterima", "verifikasi", "menunggu_informasi", "penelaahan"})

STARTS_FROM: dict[str, frozenset[str]] = {
    "start_verification": frozenset({"diterima"}),
    "request_information": frozenset({"verifikasi"}),
    "accept": frozenset({"verifikasi"}),
    "reject": frozenset({"diterima", "verifikasi", "penelaahan"}),
    "archive": SCREENING,
    "forward": SCREENING,
    "start_investigation": frozenset({"penelaahan"}),
    "record_findings": frozenset({"investigasi"}),
    "complete_recommendation": frozenset({"tindak_lanjut"}),
    "close": frozenset({"hasil", "tindak_lanjut"}),
    "message_reporter": OPEN,
    "escalate": OPEN,
    "add_note": ANY,  # an internal note, even on an ended case
    "recuse": ANY,
}
