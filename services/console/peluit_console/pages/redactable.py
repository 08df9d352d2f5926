"""What the case page needs to offer the redaction forms (``redact`` handles them):
who may redact and which texts of a case document can be redacted."""

from __future__ import annotations

from ..web import Page

REDACTORS = ("penerima", "penelaah")
REPORT_FIELDS = ("what", "where", "when", "who", "how")


def may_redact(page: Page, doc: dict) -> bool:
    return page.officer.has(*REDACTORS) and not doc.get("as_of")


def targets(page: Page, doc: dict) -> list[tuple[str, str]]:
    """(value, label) of every text the officer may redact on this case."""
    report = doc.get("report") or {}
    out = [(f"report:{name}", page.t(f"fact_{name}")) for name in REPORT_FIELDS if report.get(name)]
    for m in doc.get("messages", []):
        if m.get("event_version") and m.get("text"):
            side = "reporter" if m.get("from") == "pelapor" else "inspektorat"
            out.append((f"message:{m['event_version']}",
                        f"{page.t('redact_message')} · {page.t(f'from_{side}')} · {page.moment(m.get('at'))['text']}"))
    for h in doc.get("history", []):
        if h.get("kind") == "note" and h.get("event_version"):
            out.append((f"note:{h['event_version']}", f"{page.t('redact_note')} · {page.moment(h.get('at'))['text']}"))
    return out
