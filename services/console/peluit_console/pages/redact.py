"""The redaction form of the case page (penerima, penelaah): the officer
picks a report field, a message or a note, pastes the passage that identifies
the reporter (every occurrence is masked) and gives a reason. cases seals each
passage into the vault; the page then shows ``[disamarkan]`` in its place."""

from __future__ import annotations

from ..api import Conflict, Forbidden, Refused
from ..web import Page, PageError
from .common import case_path

REDACTORS = ("penerima", "penelaah")
REPORT_FIELDS = ("what", "where", "when", "who", "how")
FIELDS = ("target", "passage", "reason")


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


def _target(raw: str) -> dict | None:
    kind, _, name = raw.partition(":")
    if kind == "report" and name in REPORT_FIELDS:
        return {"kind": kind, "field": name}
    if kind in ("message", "note") and name.isdigit():
        return {"kind": kind, "version": int(name)}
    return None


def redact_submit(page: Page, case_id: str):
    from .case import case_view  # the case page renders this form

    values = page.values(*FIELDS)
    kept = {"command": "redact", "values": values}
    try:
        version = int(page.value("version"))
    except ValueError:
        raise PageError(400, "console_form_refused") from None
    target = _target(values["target"])
    errors = {name: [page.message("required")] for name in FIELDS if not values[name].strip()}
    if target is None and "target" not in errors:
        errors["target"] = [page.message("invalid")]
    if errors:
        return case_view(page, page.api.case(case_id), 400, errors=errors, kept=kept)
    body = {"target": target, "passages": [values["passage"]], "reason": values["reason"]}
    try:
        page.api.redact(case_id, body, version)
    except Conflict as err:
        general = [page.message("console_changed_first")] if err.code == "stale_version" else [page.pick(err.message)]
        return case_view(page, page.api.case(case_id), 409, general=general, kept=kept)
    except (Refused, Forbidden) as err:
        fields = page.field_errors(err.fields)
        general = [page.pick(err.message)] if not fields or err.code != "validation_failed" else []
        return case_view(page, page.api.case(case_id), err.status, errors=fields, general=general, kept=kept)
    return page.redirect(case_path(case_id), ok="redact")
