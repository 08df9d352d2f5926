"""Redacting an evidence copy on real PostgreSQL (``evidence_blob``) and the
in-memory event store: the new copy replaces the old one, the old one is
sealed for the vault, the case records both digests; a refused redaction
leaves the stored copy as it was."""

from __future__ import annotations

import base64
import hashlib
import io
import secrets

import psycopg
import pytest
from PIL import Image

from peluit_cases import evidence
from peluit_cases.access import Access, AccessDenied, Actor
from peluit_cases.domain import DomainError
from peluit_cases.evidence_redaction import redact_evidence
from peluit_cases.redaction_api import redacted_refs
from peluit_common.testing import dsn_for

from ..support import NOW, FakeDirectory, _hex, command, memory_app
from ..unit.test_redaction import SealingStore
from .test_evidence import OnePool

SARI = Actor("o-sari", "sari", "35.73", ("penelaah",))
DEWI = Actor("o-dewi", "dewi", "35.73", ("investigator",))


@pytest.fixture(scope="module")
def pool(throwaway_db):
    with psycopg.connect(dsn_for(throwaway_db)) as conn:
        evidence.migrate(conn)
        yield OnePool(conn)


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (60, 40), (240, 240, 240)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def case(pool):
    app, n = memory_app(), secrets.randbelow(10**9)  # a case (and so evidence ids) of this test alone
    reg = app.register_report(command(n), now=NOW)
    photo = _photo()
    item = {"label": "lampiran-1.png", "mime": "image/png", "size": len(photo),
            "sha256": hashlib.sha256(photo).hexdigest(), "original_ref": secrets.token_urlsafe(24),
            "content": base64.b64encode(photo).decode()}
    added = evidence.add(app, pool, _hex(f"rcpt-{n}"), [item])
    return app, reg.case_id, added["evidence"][0]["evidence_id"], photo


def _item_id(pool, evidence_id: str) -> str:
    with pool.conn.transaction():
        return pool.conn.execute("SELECT item_id FROM evidence_blob WHERE evidence_id = %s",
                                 (evidence_id,)).fetchone()[0]


def _run(app, pool, vault, actor, case_id, evidence_id, body, version=None):
    version = version or app.get_case(case_id).version
    return redact_evidence(app, pool, lambda _conn: FakeDirectory(), vault, actor, str(case_id), evidence_id,
                           version, {"reason": "Wajah pelapor", **body})


def test_a_region_is_blacked_out_and_the_previous_copy_sealed(case, pool):
    app, case_id, evidence_id, photo = case
    vault = SealingStore()
    before_item = _item_id(pool, evidence_id)
    after, passages = _run(app, pool, vault, SARI, case_id, evidence_id,
                           {"region": {"x": 10, "y": 5, "width": 20, "height": 20}})
    # the copy before was sealed under a key that is gone now: its ciphertext (in backups too) opens nowhere
    assert _item_id(pool, evidence_id) != before_item
    assert app.mapper.keys.item_keys({case_id: [before_item]}) == {}
    copy = evidence.stored_copy(Access(app, FakeDirectory()), pool.conn, SARI, str(case_id), evidence_id)
    with Image.open(io.BytesIO(copy.data)) as img:
        assert img.getpixel((15, 10)) == (0, 0, 0) and img.getpixel((50, 30)) == (240, 240, 240)
    item = next(e for e in after.evidence if e["evidence_id"] == evidence_id)
    assert item["sha256"] == copy.sha256 == hashlib.sha256(copy.data).hexdigest() and item["size"] == len(copy.data)
    assert passages[0]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert vault.opened(passages[0]["original_ref"]) == photo  # the previous copy, for a disclosure only
    assert redacted_refs(app, case_id) == {passages[0]["original_ref"]}


def test_a_refused_or_stale_redaction_leaves_the_copy(case, pool):
    app, case_id, evidence_id, photo = case
    vault = SealingStore()
    with pytest.raises(AccessDenied):
        _run(app, pool, vault, DEWI, case_id, evidence_id, {"region": {"x": 0, "y": 0, "width": 5, "height": 5}})
    with pytest.raises(DomainError) as err:
        _run(app, pool, vault, SARI, case_id, evidence_id, {"page": 1})
    assert err.value.code == "redaction_unsupported"
    with pytest.raises(DomainError) as err:
        _run(app, pool, vault, SARI, case_id, evidence_id, {"region": {"x": 0, "y": 0, "width": 5, "height": 5}},
             version=app.get_case(case_id).version + 1)
    assert err.value.code == "stale_version"
    copy = evidence.stored_copy(Access(app, FakeDirectory()), pool.conn, SARI, str(case_id), evidence_id)
    assert copy.data == photo and vault.kept == {}
