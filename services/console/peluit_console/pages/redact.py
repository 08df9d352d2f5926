"""The redaction form of the case page (penerima, penelaah): the officer
picks a report field, a message or a note, pastes the passage that identifies
the reporter (every occurrence is masked) and gives a reason. cases seals each
passage into the vault; the page then shows ``[disamarkan]`` in its place."""

from __future__ import annotations

from ..api import Conflict, Forbidden, Refused
from ..web import Page, PageError
from .case import case_view
from .common import case_path
from .redactable import REPORT_FIELDS

FIELDS = ("target", "passage", "reason")


def _target(raw: str) -> dict | None:
    kind, _, name = raw.partition(":")
    if kind == "report" and name in REPORT_FIELDS:
        return {"kind": kind, "field": name}
    if kind in ("message", "note") and name.isdigit():
        return {"kind": kind, "version": int(name)}
    return None


def _version(page: Page) -> int:
    try:
        return int(page.value("version"))
    except ValueError:
        raise PageError(400, "console_form_refused") from None


def redact_submit(page: Page, case_id: str):
    values = page.values(*FIELDS)
    kept = {"command": "redact", "values": values}
    version = _version(page)
    target = _target(values["target"])
    errors = {name: [page.message("required")] for name in FIELDS if not values[name].strip()}
    if target is None and "target" not in errors:
        errors["target"] = [page.message("invalid")]
    if errors:
        return _again(page, case_id, 400, errors=errors, kept=kept)
    body = {"target": target, "passages": [values["passage"]], "reason": values["reason"]}
    return _sent(page, case_id, kept, lambda: page.api.redact(case_id, body, version))


def redact_evidence_submit(page: Page, case_id: str, evidence_id: str):
    """A region of an image copy (x, y, width, height) or a page of a PDF copy."""
    names = ("x", "y", "width", "height") if page.value("page") == "" else ("page",)
    values = page.values(*names, "reason")
    kept = {"command": "redact-evidence", "evidence_id": evidence_id, "values": values}
    version = _version(page)
    numbers, errors = {}, {}
    for name in names:
        raw = values[name].strip()
        if not raw.isdigit() or int(raw) > 100_000 or (name in ("width", "height", "page") and int(raw) < 1):
            errors[name] = [page.message("invalid")]
        else:
            numbers[name] = int(raw)
    if not values["reason"].strip():
        errors["reason"] = [page.message("required")]
    if errors:
        return _again(page, case_id, 400, errors=errors, kept=kept)
    body = {"page": numbers["page"]} if "page" in numbers else {"region": numbers}
    return _sent(page, case_id, kept,
                 lambda: page.api.redact_evidence(case_id, evidence_id, {**body, "reason": values["reason"]}, version))


def _again(page: Page, case_id: str, status: int, **kwargs):
    return case_view(page, page.api.case(case_id), status, **kwargs)


def _sent(page: Page, case_id: str, kept: dict, send):
    """``send()`` to the officer API; a refusal or a stale version shows the entry again."""
    try:
        send()
    except Conflict as err:
        general = [page.message("console_changed_first")] if err.code == "stale_version" else [page.pick(err.message)]
        return _again(page, case_id, 409, general=general, kept=kept)
    except (Refused, Forbidden) as err:
        fields = page.field_errors(err.fields)
        general = [page.pick(err.message)] if not fields or err.code != "validation_failed" else []
        return _again(page, case_id, err.status, errors=fields, general=general, kept=kept)
    return page.redirect(case_path(case_id), ok="redact")
