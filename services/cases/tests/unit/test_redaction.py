"""Redaction with a sealed original, on the in-memory store: the text rules,
the event, the replayed views and who may redact. The sealer here seals for
real (libsodium) to a key of the test's and keeps the boxes in a list, the
vault's place; the system test runs the vault itself."""

from __future__ import annotations

import contextlib
import json

import pytest
from nacl.public import PrivateKey, SealedBox

from peluit_cases import redaction
from peluit_cases.access import AccessDenied, Actor
from peluit_cases.domain import Case, DomainError
from peluit_cases.content import UNAVAILABLE
from peluit_cases.redaction import REDACTED, plan, spans_of, verify
from peluit_cases.redaction_api import redact, redacted_refs, request_disclosure, sweep

from ..support import NOW, FakeDirectory, _hex, command, memory_app, run

NAME = "saya Bambang Sutrisno, staf keuangan"
SARI = Actor("o-sari", "sari", "35.73", ("penelaah",))
PUTRI = Actor("o-putri", "putri", "35.73", ("penerima",))
DEWI = Actor("o-dewi", "dewi", "35.73", ("investigator",))
BUDI = Actor("o-budi", "budi", "35.07", ("penelaah",))


class SealingStore:
    """Seals like ``VaultSealer`` (to a public key) and keeps what it sealed."""

    def __init__(self):
        self.key = PrivateKey.generate()
        self.kept: dict[str, bytes] = {}

    def seal(self, case_id, tenant, plaintext, mime=redaction.SEALED_MIME):
        ref = f"ref{len(self.kept):020d}"
        self.kept[ref] = SealedBox(self.key.public_key).encrypt(plaintext)
        return ref

    def opened(self, ref: str) -> bytes:
        return SealedBox(self.key).decrypt(self.kept[ref])


class MemoryPending:
    """``redaction_api.PgPending`` in a dict (the PostgreSQL one: tests/integration/test_redaction_pending.py)."""

    def __init__(self):
        self.rows: dict[tuple, dict] = {}

    def add(self, case_id, version, target):
        self.rows[(case_id, version)] = target

    def done(self, case_id, version):
        self.rows.pop((case_id, version), None)

    def due(self, older_than=0):
        return [(c, v, t) for (c, v), t in self.rows.items()]


class NoDatabase:
    """The walls' directory lives in memory here: the pool hands out no connection."""

    @contextlib.contextmanager
    def connection(self):
        yield None


app = pytest.fixture(memory_app, name="app")
vault = pytest.fixture(lambda: SealingStore(), name="vault")  # a fresh one per test


@pytest.fixture
def case_id(app):
    report = {"what": f"Dana hibah dipotong 20%, {NAME}, melihat sendiri", "where": "Dinas Sosial",
              "when": "Oktober 2026"}
    return app.register_report(command(1, report=report), now=NOW).case_id


def _redact(app, vault, case_id, body, actor=SARI):
    version = app.get_case(case_id).version
    body = {"reason": "nama pelapor", "spans": [], "passages": [], **body}
    return redact(app, NoDatabase(), lambda _conn: FakeDirectory(), vault, actor, str(case_id), version, body,
                  pending=MemoryPending())


def _every_stored_text(app, case_id) -> str:
    """Every event of the case as it loads now (content opened where its key lives), and its snapshot."""
    events = [e.__dict__ for e in app.events.get(case_id)]
    return json.dumps(events, default=str, ensure_ascii=False) + json.dumps(
        app.repository.get(case_id).__dict__, default=str, ensure_ascii=False)


# -- the text ------------------------------------------------------------------------------


def test_plan_masks_each_span_and_keeps_the_rest():
    out = plan("abc Budi def Budi", [(4, 8), (13, 17)])
    assert out.text == f"abc {REDACTED} def {REDACTED}"
    assert [(p.start, p.end, p.text) for p in out.passages] == [(4, 8, "Budi"), (13, 17, "Budi")]


def test_overlapping_spans_merge_and_a_span_into_a_marker_grows_over_it():
    assert plan("abcdefgh", [(1, 4), (3, 6)]).text == f"a{REDACTED}gh"
    text = f"nama {REDACTED} NIP 1985"
    widened = plan(text, [(7, len(text))])  # starts inside the marker
    assert widened.text == f"nama {REDACTED}"
    assert widened.passages[0].text == f"{REDACTED} NIP 1985"


@pytest.mark.parametrize("text, spans, code", [
    ("abc", [(2, 2)], "invalid_span"), ("abc", [(0, 4)], "invalid_span"), ("abc", [], "spans_required"),
    (f"x {REDACTED} y", [(2, 2 + len(REDACTED))], "nothing_to_redact"), ("", [(0, 1)], "unknown_target"),
])
def test_spans_that_mask_nothing_new_are_refused(text, spans, code):
    with pytest.raises(DomainError) as err:
        plan(text, spans)
    assert err.value.code == code


def test_a_passage_is_found_everywhere_or_refused():
    assert spans_of("Budi lapor, Budi saksi", ["Budi"]) == [(0, 4), (12, 16)]
    with pytest.raises(DomainError) as err:
        spans_of("abc", ["Budi"])
    assert err.value.code == "passage_not_found"


# -- the event and what replays ----------------------------------------------------------


def test_a_report_passage_is_sealed_and_the_case_reads_the_redacted_text(app, vault, case_id):
    case, passages = _redact(app, vault, case_id, {"target": {"kind": "report", "field": "what"},
                                                   "passages": [NAME]})
    assert case.report["what"] == f"Dana hibah dipotong 20%, {REDACTED}, melihat sendiri"
    _, history, _ = app.transcript(case_id)
    step = history[-1]
    assert step["kind"] == "redacted" and step["reason"] == "nama pelapor" and step["actor"]["officer_id"] == "o-sari"
    assert NAME not in json.dumps(step)
    # the event keeps a salted fingerprint, the vault the passage and the salt that proves it
    opened = json.loads(vault.opened(passages[0]["original_ref"]))
    assert opened["passage"] == NAME and opened["case_id"] == str(case_id)
    assert verify(vault.opened(passages[0]["original_ref"]), passages[0]["hmac"])
    assert passages[0]["hmac"] != redaction.fingerprint(b"", NAME) and len(bytes.fromhex(opened["salt"])) == 32
    assert not verify(json.dumps({**opened, "passage": "Bambang"}).encode(), passages[0]["hmac"])
    stored = [e for e in app.events.get(case_id) if isinstance(e, Case.PassageRedacted)]
    assert NAME not in json.dumps(stored[0].__dict__, default=str)
    assert redacted_refs(app, case_id) == {passages[0]["original_ref"]}


def test_messages_and_notes_are_named_by_their_event_version(app, vault, case_id):
    app.reporter_writes(_hex("rcpt-1"), f"Tambahan: {NAME} juga diancam")
    run(app, case_id, "add_note", {"officer_id": "o-sari"}, text=f"Pelapor adalah {NAME}")
    _, history, messages = app.transcript(case_id)
    message_version = messages[-1]["event_version"]
    note_version = history[-1]["event_version"]
    _redact(app, vault, case_id, {"target": {"kind": "message", "version": message_version}, "passages": [NAME]})
    _redact(app, vault, case_id, {"target": {"kind": "note", "version": note_version}, "passages": [NAME]})
    _, history, messages = app.transcript(case_id)
    assert messages[-1]["text"] == f"Tambahan: {REDACTED} juga diancam"
    assert next(h for h in history if h["kind"] == "note")["text"] == f"Pelapor adalah {REDACTED}"
    # the reporter sees the redacted dialogue too, without the officers' event numbers
    view = app.reporter_view(_hex("rcpt-1"))
    assert view["messages"][-1]["text"] == f"Tambahan: {REDACTED} juga diancam"
    assert "event_version" not in view["messages"][-1]


def test_a_redaction_widens_and_the_old_texts_are_forgotten(app, vault, case_id):
    target = {"kind": "report", "field": "what"}
    _redact(app, vault, case_id, {"target": target, "passages": ["Bambang"]})
    first = app.get_case(case_id).version
    stored = _every_stored_text(app, case_id)
    assert "Bambang" not in stored and "Sutrisno" in stored
    case, passages = _redact(app, vault, case_id, {"target": target, "passages": [f"{REDACTED} Sutrisno"]})
    assert case.report["what"] == f"Dana hibah dipotong 20%, saya {REDACTED}, staf keuangan, melihat sendiri"
    assert json.loads(vault.opened(passages[0]["original_ref"]))["passage"] == f"{REDACTED} Sutrisno"
    stored = _every_stored_text(app, case_id)
    assert "Bambang" not in stored and "Sutrisno" not in stored
    # the first redaction's text and the registration's field read as gone, the newest as redacted
    events = list(app.events.get(case_id))
    assert events[0].report["what"] == UNAVAILABLE and events[first - 1].text == UNAVAILABLE
    assert events[-1].text == case.report["what"]
    assert redaction.holders(events, target) == [(1, "report.what"), (first, "text"), (case.version, "text")]


def test_messages_and_notes_are_forgotten_in_every_replay(app, vault, case_id):
    app.reporter_writes(_hex("rcpt-1"), f"Tambahan: {NAME} juga diancam")
    run(app, case_id, "add_note", {"officer_id": "o-sari"}, text=f"Pelapor adalah {NAME}")
    _, history, messages = app.transcript(case_id)
    _redact(app, vault, case_id, {"target": {"kind": "report", "field": "what"}, "passages": [NAME]})
    _redact(app, vault, case_id, {"target": {"kind": "message", "version": messages[-1]["event_version"]},
                                  "passages": [NAME]})
    _redact(app, vault, case_id, {"target": {"kind": "note", "version": history[-1]["event_version"]},
                                  "passages": [NAME]})
    assert NAME not in _every_stored_text(app, case_id)
    assert NAME not in json.dumps(app.transcript(case_id)[1:], ensure_ascii=False)
    assert NAME not in json.dumps(app.reporter_view(_hex("rcpt-1")), ensure_ascii=False)


def test_an_unknown_target_is_refused_before_anything_is_sealed(app, vault, case_id):
    for target in ({"kind": "report", "field": "who"}, {"kind": "message", "version": 99},
                   {"kind": "note", "version": 1}):
        with pytest.raises(DomainError) as err:
            _redact(app, vault, case_id, {"target": target, "passages": ["x"]})
        assert err.value.code == "unknown_target"
    assert vault.kept == {}


# -- who may redact (insiders) -------------------------------------------------------------


def test_penerima_and_penelaah_redact_no_other_role(app, vault, case_id):
    target = {"kind": "report", "field": "what"}
    _redact(app, vault, case_id, {"target": target, "passages": ["Bambang"]}, actor=PUTRI)
    with pytest.raises(AccessDenied) as err:
        _redact(app, vault, case_id, {"target": target, "passages": ["Sutrisno"]}, actor=DEWI)
    assert err.value.code == "forbidden"


def test_another_tenant_and_a_recused_officer_meet_a_missing_case(app, vault, case_id):
    target = {"kind": "report", "field": "what"}
    with pytest.raises(AccessDenied) as err:
        _redact(app, vault, case_id, {"target": target, "passages": ["Bambang"]}, actor=BUDI)
    assert err.value.code == "not_found"
    run(app, case_id, "recuse", SARI.record(), reason="kerabat terlapor")
    with pytest.raises(AccessDenied) as err:
        _redact(app, vault, case_id, {"target": target, "passages": ["Bambang"]}, actor=SARI)
    assert err.value.code == "not_found"
    assert vault.kept == {} and NAME in app.get_case(case_id).report["what"]


def test_a_stale_version_seals_nothing(app, vault, case_id):
    with pytest.raises(DomainError) as err:
        redact(app, NoDatabase(), lambda _conn: FakeDirectory(), vault, SARI, str(case_id), 99,
               {"target": {"kind": "report", "field": "what"}, "spans": [], "passages": ["Bambang"],
                "reason": "nama"}, pending=MemoryPending())
    assert err.value.code == "stale_version" and vault.kept == {}


class NoVault:
    """A vault client that must not be reached: the walls refuse first."""

    def __getattr__(self, name):
        raise AssertionError(f"the vault was asked ({name})")


def test_an_unredaction_outside_the_walls_never_reaches_the_vault(app, vault, case_id):
    _, passages = _redact(app, vault, case_id, {"target": {"kind": "report", "field": "what"}, "passages": [NAME]})
    ref = passages[0]["original_ref"]
    args = {"reason": "Perintah pengadilan", "legal_basis": "court_order"}
    inspektur = Actor("o-agus", "agus", "35.73", ("inspektur",))
    run(app, case_id, "recuse", inspektur.record(), reason="kerabat terlapor")
    for actor, code in ((Actor("o-budi", "budi", "35.07", ("inspektur",)), "not_found"),  # another tenant
                        (inspektur, "not_found"),  # recused
                        (SARI, "forbidden"), (PUTRI, "forbidden")):  # redactors do not un-redact
        with pytest.raises(AccessDenied) as err:
            request_disclosure(NoVault(), app, NoDatabase(), lambda _conn: FakeDirectory(), actor, str(case_id), ref,
                               args)
        assert err.value.code == code, actor


def test_a_redaction_a_crash_cut_short_is_finished_by_the_sweep(app, case_id):
    """The event stored, the process gone before forgetting: the debt row makes the sweep forget."""
    pending, target = MemoryPending(), {"kind": "report", "field": "what"}
    case = app.get_case(case_id)
    pending.add(case.id, case.version + 1, target)
    app.execute(case.id, case.version, "redact", SARI.record(), target=target, reason="nama", text="[disamarkan]",
                passages=[{"start": 0, "end": 1, "hmac": "00", "original_ref": "r" * 20}])
    assert NAME in _every_stored_text(app, case_id)  # the crash: still readable
    pending.add(case.id, case.version + 2, target)  # and one whose event never came: just struck off
    assert sweep(app, pending) == 2
    assert NAME not in _every_stored_text(app, case_id) and pending.rows == {}
