"""The officer's notifications: the list with read and unread (``GET
/api/v1/officer/me/inbox``), marking them read (``POST .../inbox/read``) and
the choice per kind (``GET``/``POST /api/v1/officer/me/notifications``).

The list shows what a notification mail shows: the registration number, the
kind, the deadline and a link to the case; never report text or names. A
deadline breach (and the province's breach summary) cannot be switched off:
the page shows it fixed at "immediately" and says why.
"""

from __future__ import annotations

from peluit_contracts import notify as contract

from ..api import Refused
from ..web import Page, View
from .common import case_path, checked, label, refused

PAGE_SIZE = 20


def inbox(page: Page, status: int = 200, *, general=(), notices=()) -> View:
    args = page.request.args
    unread_only = args.get("unread") == "1"
    before = args.get("before", "")[:19]
    got = page.api.get("cases", "/api/v1/officer/me/inbox", limit=PAGE_SIZE, unread="true" if unread_only else None,
                       before=before if before.isdigit() else None)
    page.remember_unread(got["unread"])
    items = [_item(page, n) for n in got["items"]]
    more = len(items) == PAGE_SIZE
    if args.get("marked") == "1":
        notices = [*notices, page.t("inbox_marked")]
    return View("inbox.html", {"page": "pemberitahuan", "items": items, "unread": got["unread"],
                               "unread_only": unread_only, "next_before": items[-1]["id"] if more else None,
                               "general": list(general), "notices": list(notices)}, status)


def _item(page: Page, n: dict) -> dict:
    return {"id": n["id"], "kind": label(page, "notice", n["kind"]), "read": n["read"],
            "registration_number": n.get("registration_number") or "",
            "case": case_path(n["case_id"]) if n.get("case_id") else None,
            "rule": n.get("deadline_rule") or "", "due": page.moment(n.get("deadline_due_at")),
            "at": page.moment(n.get("occurred_at"))}


def mark_read(page: Page):
    """One notification (``id``) or every one (``all``); back to the list the officer was on."""
    one = page.value("id").strip()
    body = {"all": True} if page.value("all") == "1" else {"ids": [int(one) if one.isdigit() else one]}
    body, errors = checked(page, contract.ReadChange, body)
    if errors:
        return inbox(page, 400, general=[m for ms in errors.values() for m in ms])
    try:
        got = page.api.post("cases", "/api/v1/officer/me/inbox/read", body)
    except Refused as err:
        return inbox(page, err.status, general=[page.pick(err.message)])
    page.remember_unread(got.get("unread"))
    return page.redirect("/pemberitahuan", marked="1", unread="1" if page.value("unread_only") == "1" else None)


# -- the choice per kind ----------------------------------------------------------------------


def preferences(page: Page, status: int = 200, *, errors=None, general=(), notices=(), kept=None) -> View:
    got = page.api.get("cases", "/api/v1/officer/me/notifications")
    me = page.api.get("cases", "/api/v1/officer/me")
    chosen = {p["kind"]: p["mode"] for p in got["preferences"]}
    kinds = [{"kind": p["kind"], "name": f"preferences.{p['kind']}", "label": label(page, "notice", p["kind"]),
              "fixed": not p["can_switch_off"],
              "mode": (kept or {}).get(p["kind"], chosen.get(p["kind"], got["default_mode"]))}
             for p in got["preferences"]]
    modes = [(m, label(page, "mode", m)) for m in contract.MODES]
    return View("inbox_preferences.html", {"page": "pemberitahuan-pengaturan", "kinds": kinds, "modes": modes,
                                           "email": me.get("email"), "errors": errors or {},
                                           "general": list(general), "notices": list(notices)}, status)


def preferences_change(page: Page):
    """Every kind the form names; a kind that cannot be off is not sent at all (it stays immediately)."""
    kept = {k: page.value(f"preferences.{k}") for k in contract.KINDS if f"preferences.{k}" in page.form}
    errors = {f"preferences.{k}": [page.message("console_notification_mode")]
              for k, mode in kept.items() if mode not in contract.MODES}
    changes = {k: mode for k, mode in kept.items() if k not in contract.ALWAYS_ON and mode in contract.MODES}
    body, schema_errors = checked(page, contract.PreferencesChange, {"preferences": changes})
    errors.update(schema_errors)
    if errors:
        return preferences(page, 400, errors=errors, kept=kept)
    try:
        page.api.post("cases", "/api/v1/officer/me/notifications", {"preferences": changes})
    except Refused as err:
        return preferences(page, err.status, **refused(page, err), kept=kept)
    return preferences(page, notices=[page.t("preferences_saved")])

