"""The case page: the report, channel, evidence (download and preview of the
stripped copies), the timeline, the dialogue and the notes, and each command
the officer may give now as a form. A command that someone else overtook
(409) shows what changed and the officer's entry again, to decide anew; a
refused one shows the API's field-by-field messages beside the fields.
Read only for a moment in the past (``?as_of=``, auditors)."""

from __future__ import annotations

import datetime as dt

from werkzeug.wrappers import Response

from peluit_common.web import SECURITY_HEADERS

from .. import rules
from ..api import Conflict, Forbidden, Refused
from ..web import Page, PageError, View
from . import redactable
from .common import case_path, category_names, label
from .forms import RECOMMENDATION_ROWS, TEXT_FIELDS, body_of, choices, form_values

PREVIEWABLE = {"image/jpeg", "image/png", "application/pdf"}


def case_page(page: Page, case_id: str) -> View:
    as_of, errors = _as_of(page)
    doc = page.api.case(case_id, as_of=as_of)
    notices = []
    done = page.request.args.get("ok", "")
    if done in TEXT_FIELDS:
        notices.append(page.t("command_done", command=page.t(f"cmd_{done}")))
    elif done in ("redact", "redact-evidence"):
        notices.append(page.t("redact_done"))
    return case_view(page, doc, errors=errors, notices=notices)


def _as_of(page: Page) -> tuple[str | None, dict]:
    """``as_of`` from the form (a local date and time in the console's zone) as ISO with its offset."""
    raw = (page.request.args.get("as_of") or "").strip()[:40]
    if not raw:
        return None, {}
    try:
        moment = dt.datetime.fromisoformat(raw.replace(" ", "T"))
    except ValueError:
        return None, {"as_of": [page.message("console_as_of")]}
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=page.kit.timezone)
    return moment.isoformat(), {}


def case_view(page: Page, doc: dict, status: int = 200, *, errors=None, general=(), notices=(),
              kept: dict | None = None, changes: list | None = None) -> View:
    """The page for a case document; ``kept``: {"command", "values"} of a form to show again."""
    officer = page.officer
    commands = rules.allowed_commands(doc)
    kept = kept or {}
    if kept and kept["command"] not in commands and not kept["command"].startswith("redact"):
        commands = [*commands, kept["command"]]
        notices = [*notices, page.t("command_no_longer")]
    names = _who(doc)
    history = [_step(page, step, names) for step in doc.get("history", [])]
    return View("case.html", {
        "page": "kasus", "doc": doc, "status": status, "errors": errors or {}, "general": list(general),
        "notices": list(notices), "commands": commands, "kept": kept, "rows": RECOMMENDATION_ROWS,
        "error_prefix": f"{kept['command']}-" if kept else "", "request_as_of": page.request.args.get("as_of", "")[:40],
        "changes": [_step(page, step, names) for step in changes] if changes is not None else None,
        "facts": _facts(page, doc), "history": history,
        "notes": [h for h in history if h["kind"] == "note"],
        "messages": [_message(page, m) for m in doc.get("messages", [])],
        "evidence": [_evidence(page, doc, e) for e in doc.get("evidence", [])],
        "team": [names.get(t, t) for t in (doc.get("investigation") or {}).get("team", [])],
        "recommendations": [_recommendation(page, r) for r in doc.get("recommendations") or []],
        "deadlines": [_deadline(page, d) for d in doc.get("deadlines") or []],
        "choices": choices(page, doc, commands) if commands else {}, "as_of": doc.get("as_of"),
        "as_of_text": page.moment(doc.get("as_of"))["text"] if doc.get("as_of") else "",
        "information_due": page.day(doc.get("information_due")),
        "auditor": officer.has("auditor"),
        "may_disclose": officer.has("investigator") and bool(not doc.get("anonymous") or doc.get("evidence") or any(
            h.get("kind") == "redacted" for h in doc.get("history", []))),
        "redact_targets": redactable.targets(page, doc) if redactable.may_redact(page, doc) else [],
    }, status)


def _who(doc: dict) -> dict[str, str]:
    """officer id -> username, from who acted on the case."""
    return {a["officer_id"]: a.get("username", a["officer_id"]) for a in
            (step.get("actor") or {} for step in doc.get("history", [])) if a.get("officer_id")}


def _facts(page: Page, doc: dict) -> list[tuple[str, str]]:
    report = doc.get("report") or {}
    categories = category_names(page, doc.get("origin_tenant"))
    out = [(page.t("fact_what"), report.get("what", "")), (page.t("fact_where"), report.get("where", "")),
           (page.t("fact_when"), report.get("when", "")), (page.t("fact_who"), report.get("who") or "–"),
           (page.t("fact_how"), report.get("how") or "–"),
           (page.t("fact_category"), categories.get(doc.get("category"), doc.get("category", ""))),
           (page.t("fact_channel"), label(page, "channel", doc.get("channel"))),
           (page.t("fact_tenant"), f"{doc.get('handling_tenant', '')} ({page.t('fact_origin')}: "
                                   f"{doc.get('origin_tenant', '')})"),
           (page.t("fact_reporter"), page.t("anonymous" if doc.get("anonymous") else "confidential")),
           (page.t("fact_registered"), page.moment(doc.get("registered_at"))["text"])]
    if report.get("terlapor_inspektorat"):
        out.append((page.t("fact_terlapor"), page.t("yes")))
    return out


def _step(page: Page, step: dict, names: dict) -> dict:
    actor = step.get("actor") or {}
    if actor.get("officer_id"):
        who = actor.get("username") or names.get(actor["officer_id"], "")
    else:
        who = page.t("actor_reporter" if actor.get("id") == "reporter" else "actor_system")
    details = []
    if step.get("destination"):
        details.append(f"→ {step['destination'].get('destination', '')}")
    if step.get("to_tenant"):
        details.append(f"→ {step['to_tenant']}")
    if step.get("due_on"):
        details.append(page.t("due", day=page.day(step["due_on"])))
    if step.get("outcome"):
        details.append(label(page, "outcome", step["outcome"]))
    if step.get("recommendation_id"):
        details.append(step["recommendation_id"])
    if step.get("rule"):
        details.append(step["rule"])
    return {"kind": step.get("kind", ""), "what": label(page, "kind", step.get("kind")), "who": who,
            "roles": ", ".join(actor.get("roles") or []), "at": page.moment(step.get("at")),
            "status": page.status_label(step.get("status")), "reason": step.get("reason") or "",
            "text": step.get("text") or step.get("note") or "", "details": " · ".join(details)}


def _message(page: Page, item: dict) -> dict:
    side = "reporter" if item.get("from") == "pelapor" else "inspektorat"
    return {"side": side, "from": page.t(f"from_{side}"), "at": page.moment(item.get("at")),
            "text": item.get("text", ""), "kind": label(page, "message", item.get("kind")),
            "due": page.day(item.get("due_on")) if item.get("kind") == "question" else "",
            "attachments": len(item.get("attachments") or [])}


def _evidence(page: Page, doc: dict, item: dict) -> dict:
    path = case_path(doc["case_id"], "bukti", item["evidence_id"])
    mime = item.get("mime", "")
    return {"label": item.get("label", ""), "mime": mime, "size": _size(item.get("size", 0)),
            "sha256": item.get("sha256", ""), "added": page.moment(item.get("added_at")),
            "download": page.url(path), "preview": page.url(path + "/pratinjau") if mime in PREVIEWABLE else None,
            "image": mime.startswith("image/"), "evidence_id": item["evidence_id"]}


def _size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{max(1, round(n / 1000))} kB"


def _recommendation(page: Page, rec: dict) -> dict:
    sanction = rec.get("sanction") or {}
    return {"id": rec.get("id", ""), "kind": label(page, "rec", rec.get("kind")), "details": rec.get("details", ""),
            "sanction": " · ".join(filter(None, [label(page, "level", sanction.get("level")),
                                                 label(page, "sanction", sanction.get("type")),
                                                 page.t("months", n=sanction["months"]) if sanction.get("months")
                                                 else ""])),
            "amount": f"Rp {rec['amount']:,}".replace(",", ".") if rec.get("amount") else "",
            "done": bool(rec.get("done")), "done_note": rec.get("done_note") or ""}


def _deadline(page: Page, item: dict) -> dict:
    state = item.get("state") or "none"
    return {"rule": item.get("rule", ""), "state": state, "label": label(page, "deadline", state),
            "due": page.moment(item.get("due_at")), "paused": bool(item.get("paused"))}


# -- commands -------------------------------------------------------------------------------


def run_command(page: Page, case_id: str, command: str):
    if command not in TEXT_FIELDS:
        raise PageError(404, "console_page_not_found")
    values = form_values(page, command)
    kept = {"command": command, "values": values}
    try:
        version = int(page.value("version"))
    except ValueError:
        raise PageError(400, "console_form_refused") from None
    body, errors = body_of(command, values)
    if errors:
        doc = page.api.case(case_id)
        return case_view(page, doc, 400, errors=page.field_errors(errors), kept=kept)
    try:
        page.api.command(case_id, command, body, version)
    except Conflict as err:
        doc = page.api.case(case_id)
        changes = err.changes if err.changes is not None else _since(doc, page.value("seen_at"))
        general = [page.message("console_changed_first")] if err.code == "stale_version" else [page.pick(err.message)]
        return case_view(page, doc, 409, general=general, kept=kept, changes=changes)
    except (Refused, Forbidden) as err:
        doc = page.api.case(case_id)
        fields = page.field_errors(err.fields)
        general = [page.pick(err.message)] if not fields or err.code != "validation_failed" else []
        return case_view(page, doc, err.status, errors=fields, general=general, kept=kept)
    return page.redirect(case_path(case_id), ok=command)


def _since(doc: dict, seen_at: str) -> list:
    """The steps after the moment the officer's page showed (``updated_at`` then)."""
    try:
        seen = dt.datetime.fromisoformat(seen_at)
    except ValueError:
        return doc.get("history", [])[-5:]
    out = []
    for step in doc.get("history", []):
        try:
            if dt.datetime.fromisoformat(step["at"]) > seen:
                out.append(step)
        except (KeyError, ValueError):
            continue
    return out


# -- evidence ----------------------------------------------------------------------------------


def evidence_download(page: Page, case_id: str, evidence_id: str) -> Response:
    """The stripped copy as the officer API sends it: an attachment, never rendered here."""
    got = page.api.evidence(case_id, evidence_id)
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff",
               "Content-Disposition": got.disposition or "attachment"}
    return Response(got.content, status=200, content_type=got.content_type, headers=headers)


def evidence_preview(page: Page, case_id: str, evidence_id: str) -> Response:
    """An image or PDF copy shown inside the case page (only those types, as what they are)."""
    got = page.api.evidence(case_id, evidence_id)
    mime = got.content_type.split(";")[0].strip().lower()
    if mime not in PREVIEWABLE:
        raise PageError(404, "console_page_not_found")
    headers = {**SECURITY_HEADERS, "X-Content-Type-Options": "nosniff", "Content-Disposition": "inline",
               "X-Frame-Options": "SAMEORIGIN", "Cross-Origin-Resource-Policy": "same-origin",
               "Content-Security-Policy": "default-src 'none'; frame-ancestors 'self'"}
    return Response(got.content, status=200, content_type=mime, headers=headers)

