"""The work queue: the cases the officer may see, filtered, paged. Today's
officer API filters by status, category and number; when its reply carries
``counts`` (the work-queue extension), the page also offers channel,
deadline state and sort order, and shows each case's deadline and channel."""

from __future__ import annotations

from marshmallow import ValidationError

from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.officer_api import CASE_STATUSES, CaseListQuery

from ..web import Page, View
from .common import category_names, label

PER_PAGE = 25
EXTENDED = ("channel", "deadline", "sort")
CHANNELS = ("web", "email", "whatsapp", "letter", "phone", "walk_in", "integration")
DEADLINE_STATES = ("on_time", "approaching", "breached", "none")
SORTS = ("deadline", "registered", "updated")


def work_queue(page: Page) -> View:
    args = page.request.args
    asked = {name: (args.get(name) or "").strip()[:64] for name in ("status", "category", "number", "page",
                                                                      *EXTENDED)}
    errors = {}
    try:
        CaseListQuery().load({k: v for k, v in asked.items() if v and k not in EXTENDED})
    except ValidationError as err:
        errors = page.field_errors(bilingual_errors(err.messages))
        for name in errors:
            asked[name] = ""
    params = {k: v for k, v in asked.items() if v and k not in EXTENDED}
    params["per_page"] = PER_PAGE
    extended = {k: v for k, v in asked.items() if v and k in EXTENDED}
    reply = page.api.cases(**params, **extended)
    if "counts" not in reply:
        extended = {}  # this officer API does not filter by them: offer nothing it would ignore
    categories = category_names(page)
    rows = [_row(page, item, categories) for item in reply.get("items", [])]
    total, number = int(reply.get("total", 0)), int(reply.get("page", 1))
    last = max(1, -(-total // int(reply.get("per_page", PER_PAGE) or PER_PAGE)))
    counts = reply.get("counts") or {}
    keep = {**{k: v for k, v in asked.items() if v and k != "page"}}
    return View("queue.html", {
        "page": "antrean", "rows": rows, "total": total, "number": number, "last": last, "asked": asked,
        "errors": errors, "extended": "counts" in reply,
        "show_deadline": any(r["deadline"] is not None for r in rows) or "counts" in reply,
        "show_channel": any(r["channel"] for r in rows),
        "statuses": [(s, page.status_label(s) + (f" ({counts[s]})" if s in counts else "")) for s in CASE_STATUSES],
        "counts": [(page.status_label(s), counts[s]) for s in CASE_STATUSES if counts.get(s)],
        "categories": sorted(categories.items(), key=lambda c: c[1].casefold()),
        "channels": [(c, label(page, "channel", c)) for c in CHANNELS],
        "deadline_states": [(d, label(page, "deadline", d)) for d in DEADLINE_STATES],
        "sorts": [(s, label(page, "sort", s)) for s in SORTS],
        "prev_url": page.url("/antrean", **keep, page=number - 1) if number > 1 else None,
        "next_url": page.url("/antrean", **keep, page=number + 1) if number < last else None,
    }, 400 if errors else 200)


def _row(page: Page, item: dict, categories: dict) -> dict:
    status = item.get("status")
    code = status.get("code") if isinstance(status, dict) else status
    deadline = item.get("deadline") if "deadline" in item else None
    return {
        "case_id": item["case_id"], "number": item.get("registration_number", ""),
        "status": code, "status_label": page.status_label(code),
        "category": categories.get(item.get("category"), item.get("category", "")),
        "channel": label(page, "channel", item.get("channel")) if item.get("channel") else "",
        "tenant": item.get("handling_tenant", ""),
        "registered": page.moment(item.get("registered_at")), "updated": page.moment(item.get("updated_at")),
        "deadline": _deadline(page, deadline) if isinstance(deadline, dict) else ({} if "deadline" in item else None),
    }


def _deadline(page: Page, deadline: dict) -> dict:
    state = deadline.get("state") or "none"
    return {"state": state, "label": label(page, "deadline", state), "due": page.moment(deadline.get("due_at")),
            "rule": deadline.get("rule", "")}
