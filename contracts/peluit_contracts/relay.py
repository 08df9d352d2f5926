"""notifications -> identity-vault ``relay_to_reporter`` RPC (v1)."""

from __future__ import annotations

from marshmallow import fields

from .fields import Int, Pattern, Strict, Text

RELAY_VERSION = 1
RELAY_TEMPLATES = ("new_message", "case_closed")


class RelayToReporterCommand(Strict):
    version = Int(required=True)
    case_id = fields.UUID(required=True)
    template = Pattern("|".join(RELAY_TEMPLATES), "code", required=True, max_len=20)
    idempotency_key = Text(required=True, max_len=200, multiline=False)
