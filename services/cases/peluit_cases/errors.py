"""Refusals with a stable code, raised by the domain, the access rules, the
vault client and the officer accounts; ``officer_api.http_error`` is the one
table that turns them into HTTP answers."""

from __future__ import annotations


class CasesError(Exception):
    """``code`` is the stable wire code; ``text`` names the catalogue entry
    (``peluit_contracts.i18n``) when it differs from the code; ``params`` fill
    its placeholders; ``fields`` is a field-by-field detail."""

    def __init__(self, code: str, *, text: str | None = None, fields: dict | None = None, **params):
        super().__init__(code)
        self.code, self.text, self.fields, self.params = code, text, fields, params


class DomainError(CasesError):
    """A command the aggregate refuses; ``code`` is stable for clients."""

    def __init__(self, code: str):
        super().__init__(code)
