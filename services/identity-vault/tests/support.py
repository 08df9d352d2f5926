"""What the vault's disclosure tests share: officers as verified tokens
describe them, and a short way to file and approve a request."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import uuid4

from peluit_contracts.disclosure import DISCLOSURE_RPC_VERSION
from peluit_vault.disclosure.domain import DisclosureRequest

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)
CASE = str(uuid4())
REF = "r" * 32
ORIGINAL = "o" * 32


def officer(name: str, tenant: str = "35.73", *roles: str) -> dict:
    return {"officer_id": str(uuid4()), "username": name, "roles": list(roles), "tenant": tenant}


DEWI = officer("dewi", "35.73", "investigator")
AGUS = officer("agus", "35.73", "inspektur")
AGUS2 = officer("agus2", "35.73", "inspektur")
BUDI = officer("budi", "35.07", "inspektur")
SARI = officer("sari", "35.73", "penelaah")
BOTH = officer("kepala", "35.73", "investigator", "inspektur")


def file(app, by=DEWI, now=T0, **overrides) -> DisclosureRequest:
    args = dict(case_id=CASE, reporter_ref=REF, tenant="35.73", reason="Permohonan perlindungan LPSK",
                legal_basis="lpsk_protection", now=now, reporter_case_id=CASE)
    args.update(overrides)
    return app.request(by, **args)


def approve(app, req, by=AGUS, now=None, step_up=True, token_id=None):
    return app.approve(req.id, by, step_up=step_up, step_up_token_id=token_id or uuid4().hex,
                       now=now or T0 + timedelta(hours=1))


def cmd(**fields) -> dict:
    return {"version": DISCLOSURE_RPC_VERSION, **fields}
