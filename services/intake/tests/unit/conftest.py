"""Fakes for intake's own interfaces, shared by the unit tests: the port to
cases, the vault and reporting (``FakeBackend``), a clock for the tenant
catalogue, and the application over both."""

from __future__ import annotations

import os

import pytest
from nacl.public import PrivateKey

from peluit_intake import errors
from peluit_intake.application import Intake
from peluit_intake.catalogue import TenantCatalogue
from peluit_intake.keys import IntakeKeys
from peluit_intake.receipts import Argon2Params

FAST = Argon2Params(time_cost=1, memory_kib=8192)
VAULT = PrivateKey.generate()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class FakeBackend:
    """What cases, the vault and reporting answer, kept in memory; ``down`` names the calls that time out."""

    def __init__(self):
        self.tenants = {"35.73": ["korupsi", "pungli"], "35": ["korupsi"]}
        self.down: set[str] = set()
        self.refuse: dict[str, str] = {}  # call -> error code it answers with
        self.calls: list[str] = []
        self.identities: dict[str, bytes] = {}
        self.commands: list[dict] = []
        self.cases: dict[str, dict] = {}  # submission_id -> {"fingerprint", "number", "receipt_hash"}
        self.originals: list[bytes] = []
        self.original_names: list[bytes | None] = []
        self.evidence: list[dict] = []
        self.files_left, self.bytes_left, self.closed = 10, 10**8, False
        self.messages: list[tuple[str, str]] = []
        self.published: list[dict] = []  # reporting's public cells
        self.stats_queries: list[dict] = []

    def _enter(self, name: str):
        self.calls.append(name)
        if name in self.down:
            raise errors.Unavailable()
        if name in self.refuse:
            return {"error": self.refuse[name]}
        return None

    def catalogue(self):
        self._enter("catalogue")
        return {"tenants": [{"code": code, "name": f"Inspektorat {code}", "parent": None,
                             "categories": [{"code": c, "name": {"id": c, "en": c}} for c in cats]}
                            for code, cats in self.tenants.items()]}

    def store_identity(self, submission_id, sealed, tenant):
        refused = self._enter("store_identity")
        if refused:
            return refused
        self.identities[submission_id] = sealed
        return {"reporter_ref": "ref-" + submission_id[:8]}

    def register_report(self, command):
        refused = self._enter("register_report")
        if refused:
            return refused
        self.commands.append(command)
        if command["category"] not in self.tenants.get(command["tenant"], ()):
            return {"error": "unknown_tenant" if command["tenant"] not in self.tenants else "unknown_category"}
        known = self.cases.get(command["submission_id"])
        if known is not None:
            if known["fingerprint"] != command["fingerprint"]:
                return {"error": "idempotency_key_reused"}
            return {"registration_number": known["number"], "created": False}
        number = f"WBS/{command['tenant']}/2026/{len(self.cases) + 1:06d}"
        self.cases[command["submission_id"]] = {"fingerprint": command["fingerprint"], "number": number,
                                                "receipt_hash": command["receipt_hash"]}
        return {"registration_number": number, "created": True}

    def _case(self, receipt_hash):
        return next((c for c in self.cases.values() if c["receipt_hash"] == receipt_hash), None)

    def reporter_view(self, receipt_hash):
        self._enter("reporter_view")
        case = self._case(receipt_hash)
        return None if case is None else {"registration_number": case["number"], "timeline": [], "messages": [],
                                          "status": {"code": "diterima", "label": {"id": "D", "en": "R"}}}

    def _open_case(self, name, receipt_hash):
        """The error a call on the case gets, or None when the case takes it."""
        refused = self._enter(name)
        if refused:
            return refused
        if self._case(receipt_hash) is None:
            return {"error": "not_found"}
        return {"error": "case_closed"} if self.closed else None

    def reporter_message(self, receipt_hash, text):
        refused = self._open_case("reporter_message", receipt_hash)
        if refused:
            return refused
        self.messages.append((receipt_hash, text))
        return {"status": "diterima"}

    def evidence_target(self, receipt_hash):
        return self._open_case("evidence_target", receipt_hash) or {
            "case_id": "c-1", "tenant": "35.73", "files_left": self.files_left, "bytes_left": self.bytes_left,
            "files": len(self.originals)}

    def store_evidence_original(self, case_id, tenant, mime, sealed, sealed_name=None):
        refused = self._enter("store_evidence_original")
        if refused:
            return refused
        self.originals.append(sealed)
        self.original_names.append(sealed_name)
        return {"original_ref": f"o-{len(self.originals)}"}

    def public_stats(self, query):
        refused = self._enter("public_stats")
        if refused:
            return refused
        self.stats_queries.append(query)
        cells = [c for c in self.published if all(c[k] == v for k, v in query.items())]
        return {"counts": cells, "small_cell_threshold": 5, "rule": {"id": "Aturan", "en": "Rule"}}

    def add_evidence(self, receipt_hash, items):
        refused = self._enter("add_evidence")
        if refused:
            return refused
        self.evidence.extend(items)
        return {"added": len(items)}


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def backend():
    return FakeBackend()


@pytest.fixture
def vault_key():
    return VAULT


@pytest.fixture
def intake(backend, clock):
    keys = IntakeKeys.derive(os.urandom(32), bytes(VAULT.public_key), FAST)
    return Intake(backend, TenantCatalogue(clock=clock), keys)
