"""Evidence on a case: metadata in the event (never the bytes), idempotent
per evidence_id, closed cases refuse, and the blob is written before the event
(real PostgreSQL for ``evidence_blob``, the in-memory event store)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets

import psycopg
import pytest

from peluit_cases import content as content_module
from peluit_cases import evidence
from peluit_cases.domain import Case, DomainError
from peluit_common.testing import dsn_for

from ..support import NOW, _hex, command, memory_app


def item(content: bytes, label: str = "kuitansi.txt") -> dict:
    return {"label": label, "mime": "text/plain", "size": len(content), "sha256": hashlib.sha256(content).hexdigest(),
            "original_ref": secrets.token_urlsafe(24), "content": base64.b64encode(content).decode()}


@pytest.fixture
def app():
    application = memory_app()
    application.register_report(command(1), now=NOW)
    return application


class OnePool:
    """The ``pool.connection()`` evidence.add needs, on one connection."""

    def __init__(self, conn):
        self.conn = conn

    @contextlib.contextmanager
    def connection(self):
        yield self.conn


@pytest.fixture(scope="module")
def pool(throwaway_db):
    with psycopg.connect(dsn_for(throwaway_db)) as conn:
        evidence.migrate(conn)
        yield OnePool(conn)


def blobs(pool, case_id) -> list[tuple]:
    with pool.conn.transaction():
        return pool.conn.execute("SELECT evidence_id::text, sha256, size, bytes, item_id FROM evidence_blob"
                                 " WHERE case_id = %s", (case_id,)).fetchall()


def test_evidence_is_recorded_once_with_metadata_only(app, pool):
    receipt = _hex("rcpt-1")
    content = b"Kuitansi Rp 5.000.000, 12 Oktober 2026"
    first = evidence.add(app, pool, receipt, [item(content), item(content)])  # a duplicate in one call too
    assert [e["label"] for e in first["evidence"]] == ["kuitansi.txt"]
    case = app.case_for_receipt(receipt)
    [stored] = [b for b in blobs(pool, case.id) if b[1] == hashlib.sha256(content).hexdigest()]
    assert stored[0] == first["evidence"][0]["evidence_id"] == str(evidence.evidence_id(case.id, stored[1]))
    assert content not in bytes(stored[3])  # sealed under the case's content keys (``content.seal_blob``)
    assert content_module.open_blob(app, case.id, stored[0], stored[4], bytes(stored[3])) == content
    again = evidence.add(app, pool, receipt, [item(content, "nama lain.txt")])  # a retried upload
    assert again["evidence"][0]["evidence_id"] == first["evidence"][0]["evidence_id"]
    events = [e for e in app.events.get(case.id) if isinstance(e, Case.EvidenceAdded)]
    assert len(events) == 1 and [b[1] for b in blobs(pool, case.id)].count(stored[1]) == 1
    [recorded] = events[0].items
    assert set(recorded) == {"evidence_id", "label", "mime", "size", "sha256", "original_ref"}  # never the bytes
    case = app.case_for_receipt(receipt)
    assert case.evidence[0]["label"] == "kuitansi.txt" and case.evidence[0]["added_at"]
    assert evidence.listing(case)[0]["download"] == f"/api/v1/cases/{case.id}/evidence/{recorded['evidence_id']}"
    view = app.reporter_view(receipt)
    assert view["evidence"] == [{"label": "kuitansi.txt", "mime": "text/plain", "size": len(content),
                                 "added_at": case.evidence[0]["added_at"]}]


def test_the_blob_is_written_before_the_event(app, pool, monkeypatch):
    receipt = _hex("rcpt-1")
    content = b"crash between the two writes"

    def crash(*args, **kwargs):
        raise RuntimeError("process died")

    monkeypatch.setattr(app, "add_evidence", crash)
    with pytest.raises(RuntimeError):
        evidence.add(app, pool, receipt, [item(content)])
    case = app.case_for_receipt(receipt)
    sha = hashlib.sha256(content).hexdigest()

    def mine():
        return [b for b in blobs(pool, case.id) if b[1] == sha]

    assert len(mine()) == 1 and case.evidence == []  # an orphan blob, no event pointing at nothing
    monkeypatch.undo()
    out = evidence.add(app, pool, receipt, [item(content)])  # the retry adopts it
    assert len(mine()) == 1
    assert app.case_for_receipt(receipt).evidence[0]["evidence_id"] == out["evidence"][0]["evidence_id"]


def test_bad_commands_unknown_receipts_closed_cases_and_quota(app, pool, monkeypatch):
    receipt = _hex("rcpt-1")
    good = item(b"isi")
    assert evidence.add(app, pool, receipt, [{**good, "sha256": _hex("other")}]) == {"error": "invalid_command"}
    assert evidence.add(app, pool, receipt, [{**good, "mime": "text/html"}]) == {"error": "invalid_command"}
    assert evidence.add(app, pool, receipt, [{**good, "size": 99}]) == {"error": "invalid_command"}
    assert evidence.add(app, pool, receipt, []) == {"error": "invalid_command"}
    assert evidence.add(app, pool, receipt, [good], version=2) == {"error": "unsupported_version"}
    assert evidence.add(app, pool, _hex("nobody"), [good]) == {"error": "not_found"}
    assert evidence.target(app, _hex("nobody")) == {"error": "not_found"}
    assert evidence.target(app, "not-a-hash") == {"error": "not_found"}
    target = evidence.target(app, receipt)
    assert target["tenant"] == "35.73" and target["files_left"] == 50

    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_CASE_FILES", "1")
    assert evidence.add(app, pool, receipt, [item(b"satu"), item(b"dua")]) == {"error": "evidence_quota"}
    monkeypatch.delenv("PELUIT_EVIDENCE_MAX_CASE_FILES")

    case = app.case_for_receipt(receipt)
    system = {"id": "system"}
    app.execute(case.id, None, "archive", {"officer_id": "x", **system}, reason="Tidak lengkap")
    assert evidence.target(app, receipt) == {"error": "case_closed"}
    assert evidence.add(app, pool, receipt, [good]) == {"error": "case_closed"}
    with pytest.raises(DomainError) as err:
        app.case_for_receipt(receipt).add_evidence([{**good, "evidence_id": "x"}])
    assert err.value.code == "case_closed"


def test_evidence_survives_snapshots(app, pool):
    receipt = _hex("rcpt-1")
    evidence.add(app, pool, receipt, [item(b"snapshot")])
    case = app.case_for_receipt(receipt)
    app.take_snapshot(case.id)
    again = app.repository.get(case.id)
    assert again.evidence == case.evidence
