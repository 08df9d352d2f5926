"""Redaction with a sealed original: plain Python, no broker.

An officer (penerima, penelaah) masks passages of the report text, a dialogue
message or an internal note that identify the reporter. ``plan`` turns the
marked spans into the new text (each span becomes ``REDACTED``) and the
passages that leave the case; each passage is sealed to the vault (the caller
does that, ``sealed_passage`` is what it seals) and the ``Case.PassageRedacted``
event keeps, per passage, its span, its fingerprint and the vault's
``original_ref``: never the passage.

The fingerprint is HMAC-SHA256 keyed by 32 random bytes drawn for that passage
and sealed with it, not a bare SHA-256: a short passage (a name, an NIP) would
fall to a dictionary attack on a bare hash. An auditor proves what was
redacted by having the passage disclosed (dual control, as an identity) and
recomputing the HMAC with the salt that comes with it (``verify``).

Targets: ``{"kind": "report", "field": "what"}``, ``{"kind": "message",
"version": n}`` and ``{"kind": "note", "version": n}`` (the version of the event
that wrote the message or note, ``event_version`` in the case document),
``{"kind": "evidence", "evidence_id": ...}`` (a stripped copy: ``evidence_redaction``).
A redaction of an already redacted text widens it; nothing undoes one (the
original comes back only through a disclosure).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass

from .errors import DomainError

REDACTED = "[disamarkan]"  # what a redacted passage reads as, everywhere (content.py reads it from here)

REPORT_FIELDS = ("what", "where", "when", "who", "how")
TEXT_KINDS = ("report", "message", "note")
SALT_BYTES = 32
SEALED_MIME = "text/plain"  # the vault keeps a passage like an attachment's original (a JSON document)
SEALED_FORMAT = "peluit-redacted-passage/1"
MAX_SPANS = 50


def require(condition: bool, code: str) -> None:
    if not condition:
        raise DomainError(code)


@dataclass(frozen=True)
class Passage:
    start: int  # code points, in the text before this redaction
    end: int
    text: str


@dataclass(frozen=True)
class Plan:
    text: str  # the new full text
    passages: tuple[Passage, ...]


def _markers(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(re.escape(REDACTED), text)]


def spans_of(text: str, passages: list[str]) -> list[tuple[int, int]]:
    """Every occurrence of each exact passage (what the console's form sends)."""
    out = []
    for wanted in passages:
        found = [(m.start(), m.end()) for m in re.finditer(re.escape(wanted), text)] if wanted.strip() else []
        require(bool(found), "passage_not_found")
        out.extend(found)
    return out


def plan(text: str, spans: list[tuple[int, int]]) -> Plan:
    """The new text and the passages it masks. A span that cuts into an earlier
    marker grows to cover it; overlapping or touching spans merge; a span with
    nothing but markers and blanks in it masks nothing new (refused)."""
    require(isinstance(text, str) and text != "", "unknown_target")
    require(0 < len(spans) <= MAX_SPANS, "spans_required")
    for start, end in spans:
        require(0 <= start < end <= len(text), "invalid_span")
    markers = _markers(text)
    grown = []
    for start, end in spans:
        for m_start, m_end in markers:
            if m_start < end and start < m_end:
                start, end = min(start, m_start), max(end, m_end)
        grown.append((start, end))
    merged: list[list[int]] = []
    for start, end in sorted(grown):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    passages = tuple(Passage(s, e, text[s:e]) for s, e in merged)
    for p in passages:
        require(p.text.replace(REDACTED, "").strip() != "", "nothing_to_redact")
    out, last = [], 0
    for p in passages:
        out.append(text[last:p.start] + REDACTED)
        last = p.end
    out.append(text[last:])
    return Plan("".join(out), passages)


def fingerprint(salt: bytes, passage: str) -> str:
    return hmac.new(salt, passage.encode(), hashlib.sha256).hexdigest()


def new_salt() -> bytes:
    return os.urandom(SALT_BYTES)


def sealed_passage(case_id: str, target: dict, passage: Passage, salt: bytes) -> bytes:
    """The plaintext the vault keeps for one passage (sealed by the caller)."""
    return json.dumps({"format": SEALED_FORMAT, "case_id": str(case_id), "target": target,
                       "start": passage.start, "end": passage.end, "passage": passage.text,
                       "salt": salt.hex(), "hmac": fingerprint(salt, passage.text)},
                      ensure_ascii=False, sort_keys=True).encode()


def verify(disclosed: bytes, recorded_hmac: str) -> bool:
    """An auditor's check: the disclosed passage is the one the event fingerprinted."""
    doc = json.loads(disclosed)
    return hmac.compare_digest(fingerprint(bytes.fromhex(doc["salt"]), doc["passage"]), recorded_hmac)


# -- the target and its text ------------------------------------------------------------


def target_of(raw: dict) -> dict:
    """The target as events keep it (a contract-validated body)."""
    kind = raw["kind"]
    if kind == "report":
        require(raw.get("field") in REPORT_FIELDS, "unknown_target")
        return {"kind": kind, "field": raw["field"]}
    if kind in ("message", "note"):
        require(isinstance(raw.get("version"), int) and raw["version"] > 0, "unknown_target")
        return {"kind": kind, "version": raw["version"]}
    require(kind == "evidence" and bool(raw.get("evidence_id")), "unknown_target")
    return {"kind": kind, "evidence_id": str(raw["evidence_id"])}


def current_text(case, history: list[dict], messages: list[dict], target: dict) -> str:
    """The target's text now (earlier redactions applied); ``unknown_target`` if none."""
    if target["kind"] == "report":
        text = case.report.get(target["field"])
    elif target["kind"] == "message":
        text = next((m.get("text") for m in messages if m.get("event_version") == target["version"]), None)
    else:
        text = next((h.get("text") for h in history
                     if h.get("event_version") == target["version"] and h["kind"] == "note"), None)
    require(isinstance(text, str) and text != "", "unknown_target")
    return text


# -- applying the event (called by Case and transcript) ---------------------------------


def apply(case, target: dict, text: str | None) -> None:
    """The aggregate's state after a ``PassageRedacted`` (the report, a copy's
    new digest); messages and notes live in the transcript (``patch``)."""
    if target["kind"] == "report":
        case.report = {**case.report, target["field"]: text}
    elif target["kind"] == "evidence":
        for item in case.evidence:
            if item.get("evidence_id") == target["evidence_id"]:
                item.update(sha256=target["sha256"], size=target["size"], redacted=True)


def patch(history: list[dict], messages: list[dict], target: dict, text: str | None) -> None:
    """Replace the target's text in a replayed history or dialogue."""
    if target["kind"] == "message":
        entries = [m for m in messages if m.get("event_version") == target["version"]]
    elif target["kind"] == "note":
        entries = [h for h in history if h.get("event_version") == target["version"] and h["kind"] == "note"]
    else:
        return
    for entry in entries:
        entry["text"] = text


# which field of which event held a text (for forgetting the original once redacted)
TEXT_FIELDS = {"ReporterMessage": "text", "OfficerMessage": "text", "NoteAdded": "text",
               "InformationRequested": "question", "Closed": "feedback", "PassageRedacted": "text"}


def holders(events, target: dict) -> list[tuple[int, str]]:
    """(event version, field path) of every stored field that held the target's
    text before now: the event that wrote it and every earlier redaction of it.
    Forgetting these leaves the redacted text as the only readable one."""
    out = []
    for event in events:
        name = type(event).__name__
        version = event.originator_version
        if name == "PassageRedacted":
            if event.target == target:
                out.append((version, "text"))
        elif target["kind"] == "report" and name == "Registered":
            out.append((version, f"report.{target['field']}"))
        elif target["kind"] in ("message", "note") and version == target.get("version") and name in TEXT_FIELDS:
            out.append((version, TEXT_FIELDS[name]))
    return out
