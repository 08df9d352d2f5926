"""Administration: officers (list, create with a
one-time enrolment code, roles, deactivate, reactivate, reset the second
factor), audit grants (grant, revoke, expiry), a tenant's settings
(deadline pack, information-request days, disclosure notice, retention,
holidays, categories) and the change log. Each change is the officer API's
to check and record; an enrolment code is shown once, on the page that
created it, and kept nowhere."""

from __future__ import annotations

from peluit_common.auth import ROLES

from peluit_contracts.notify import EmailChange
from peluit_contracts.officer_accounts import Category, Holiday, TenantSettingsChange
from peluit_contracts.officer_api import AuditGrant, NewOfficer

from ..api import ApiError, Forbidden, Refused
from ..web import Page, PageError, View
from .common import catalogue, checked, label, refused

OFFICER_ACTIONS = ("deactivate", "reactivate", "roles", "reset-factor", "email")
SETTINGS = ("deadline_pack", "information_request_days", "retention_years", "content_retention_years")


def _scope(page: Page) -> str:
    asked = (page.request.args.get("tenant") or page.form.get("tenant") or "").strip()[:5]
    return asked or page.officer.tenant


def _tenants(page: Page) -> list:
    """The Inspektorats a province administrator may switch between (none for a kota's admin)."""
    own = page.officer.tenant
    if not page.officer.has("province_admin") or "." in own:
        return []
    return [(t["code"], f"{t['name']} ({t['code']})") for t in catalogue(page).get("tenants", [])
            if t["code"] == own or t["code"].startswith(own + ".")]


def officers(page: Page, status: int = 200, *, errors=None, general=(), notices=(), created=None, form=None,
             email=None) -> View:
    args = page.request.args
    query = {"tenant": _scope(page), "role": args.get("role", "")[:20], "active": args.get("active", "")[:5],
             "page": args.get("page", "")[:6]}
    got = page.api.get("cases", "/api/v1/officers", **query)
    return View("admin_officers.html", {
        "page": "admin-petugas", "items": got.get("items", []), "query": query, "roles": ROLES,
        "tenants": _tenants(page), "tenant": query["tenant"],
        "errors": errors or {}, "general": list(general), "notices": list(notices), "created": created,
        "form": form or {"tenant": query["tenant"], "username": "", "display_name": "", "email": "", "roles": []},
        # the officer whose address was refused: {"id", "value", "errors"}, shown in that officer's own form
        "email_form": email or {}}, status)


def officer_create(page: Page):
    form = {"tenant": page.value("tenant").strip(), "username": page.value("username").strip(),
            "display_name": page.value("display_name").strip(), "email": page.value("email").strip(),
            "roles": [r for r in page.form.getlist("roles") if r in ROLES]}
    body, errors = checked(page, NewOfficer, {**form, "username": form["username"].lower()})
    if errors:
        return officers(page, 400, errors=errors, form=form)
    try:
        created = page.api.post("cases", "/api/v1/officers", body)
    except (Refused, Forbidden) as err:
        return officers(page, err.status, **refused(page, err), form=form)
    return officers(page, 201, created=_shown_once(page, created))


def _shown_once(page: Page, created: dict) -> dict:
    return {**created, "expires": page.moment(created.get("enrolment_expires_at"))["text"]}


def officer_action(page: Page, officer_id: str, action: str):
    if action not in OFFICER_ACTIONS:
        raise PageError(404, "console_page_not_found")
    body = {"roles": [r for r in page.form.getlist("roles") if r in ROLES]} if action == "roles" else {}
    if action == "email":  # empty: the address is removed
        return _officer_email(page, officer_id, page.value("email").strip())
    try:
        got = page.api.post("cases", f"/api/v1/officers/{officer_id}/{action}", body)
    except (Refused, Forbidden) as err:
        return officers(page, err.status, general=[page.pick(err.message)])
    created = _shown_once(page, got) if action == "reset-factor" else None
    return officers(page, notices=[page.t("admin_done", who=got.get("username", ""))], created=created)


def _officer_email(page: Page, officer_id: str, value: str):
    _, errors = checked(page, EmailChange, {"email": value}) if value else ({}, {})
    status = 400
    if not errors:
        try:
            got = page.api.post("cases", f"/api/v1/officers/{officer_id}/email", {"email": value or None})
        except (Refused, Forbidden) as err:
            shown = refused(page, err)
            errors, general, status = shown["errors"], shown["general"], err.status
            if not errors:
                return officers(page, err.status, general=general)
        else:
            return officers(page, notices=[page.t("email_saved", who=got.get("username", ""))])
    messages = errors.get("email") or [m for ms in errors.values() for m in ms]
    return officers(page, status, general=messages, email={"id": officer_id, "value": value, "errors": messages})


def grants(page: Page, status: int = 200, *, errors=None, general=(), notices=(), form=None) -> View:
    got = page.api.get("cases", "/api/v1/audit-grants", tenant=page.request.args.get("tenant", "")[:5],
                       active=page.request.args.get("active", "")[:5])
    items = [{**g, "created": page.moment(g.get("created_at")), "expires": page.moment(g.get("expires_at")),
              "revoked": page.moment(g.get("revoked_at"))} for g in got.get("items", [])]
    return View("admin_grants.html", {"page": "admin-hibah", "items": items, "errors": errors or {},
                                      "auditors": _auditors(page),
                                      "general": list(general), "notices": list(notices),
                                      "form": form or {"officer_id": "", "tenant": "", "days": "30", "reason": ""}},
                status)


def grant_create(page: Page):
    form = page.values("officer_id", "tenant", "days", "reason")
    days = form["days"].strip()
    body, errors = checked(page, AuditGrant, {**form, "tenant": form["tenant"].strip(),
                                              "days": int(days) if days.isdigit() else days})
    if errors:
        return grants(page, 400, errors=errors, form=form)
    try:
        page.api.grant_audit(body["officer_id"], body["tenant"], body["days"], body["reason"])
    except (Refused, Forbidden) as err:
        return grants(page, err.status, **refused(page, err), form=form)
    return grants(page, 201, notices=[page.t("grant_given")])


def _auditors(page: Page) -> list | None:
    """The auditors a province administrator may grant to; None: type the officer id."""
    if not page.officer.has("province_admin"):
        return None
    try:
        got = page.api.get("cases", "/api/v1/officers", role="auditor", active="true", per_page=100)
    except ApiError:
        return None
    return [(o["id"], f"{o.get('display_name') or o['username']} ({o['username']})") for o in got.get("items", [])]


def grant_revoke(page: Page, grant_id: str):
    try:
        page.api.post("cases", f"/api/v1/audit-grants/{grant_id}/revoke")
    except (Refused, Forbidden) as err:
        return grants(page, err.status, **refused(page, err))
    return grants(page, notices=[page.t("grant_revoked")])


def settings(page: Page, status: int = 200, *, errors=None, general=(), notices=(), kept=None) -> View:
    tenant = _scope(page)
    got = page.api.get("cases", f"/api/v1/tenants/{tenant}/settings")
    return View("admin_settings.html", {"page": "admin-pengaturan", "s": got, "tenant": tenant, "kept": kept or {},
                                        "tenants": _tenants(page),
                                        "packs": [(p, p) for p in got.get("packs", [])],
                                        "errors": errors or {}, "general": list(general), "notices": list(notices)},
                status)


def settings_change(page: Page, part: str):
    """``part``: settings, holidays, holiday-delete, categories."""
    tenant = _scope(page)
    kept = {"part": part, **{k: page.value(k) for k in page.form}}
    if part == "settings":
        body = {k: page.value(k).strip() for k in SETTINGS}
        for k in ("information_request_days", "retention_years", "content_retention_years"):
            body[k] = int(body[k]) if body[k].isdigit() else body[k]
        if body["content_retention_years"] == "":  # left empty: unchanged
            del body["content_retention_years"]
        body["disclosure_notice"] = page.value("disclosure_notice") == "1"
        approvals = page.value("disclosure_approvals").strip()
        if approvals:  # k: inspekturs who approve a disclosure besides the requester
            body["disclosure_approvals"] = int(approvals) if approvals.isdigit() else approvals
        body, errors = checked(page, TenantSettingsChange, body)
        path = f"/api/v1/tenants/{tenant}/settings"
    elif part == "holidays":
        body, errors = checked(page, Holiday, {k: v.strip() for k, v in page.values("date", "name").items()})
        path = f"/api/v1/tenants/{tenant}/holidays"
    elif part == "holiday-delete":
        body, errors, path = {}, {}, f"/api/v1/tenants/{tenant}/holidays/{page.value('date')}/delete"
    elif part == "categories":
        body, errors = checked(page, Category, {**{k: v.strip() for k, v in page.values(
            "code", "label_id", "label_en").items()}, "active": page.value("active") == "1"})
        path = f"/api/v1/tenants/{tenant}/categories"
    else:
        raise PageError(404, "console_page_not_found")
    if errors:
        return settings(page, 400, errors=errors, kept=kept)
    try:
        page.api.post("cases", path, body)
    except (Refused, Forbidden) as err:
        return settings(page, err.status, **refused(page, err), kept=kept)
    return settings(page, notices=[page.t("settings_saved")])


def change_log(page: Page) -> View:
    got = page.api.get("cases", "/api/v1/admin-changes", tenant=_scope(page),
                       page=page.request.args.get("page", "")[:6])
    items = [{**c, "at_": page.moment(c.get("at")), "kind_text": label(page, "change", c.get("kind"))}
             for c in got.get("items", [])]
    return View("admin_log.html", {"page": "admin-log", "items": items, "tenant": _scope(page),
                                   "tenants": _tenants(page)})
