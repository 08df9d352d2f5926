"""Assisted intake: a penerima types in a report brought by a walk-in
reporter, a letter or a telephone call, and prints the receipt slip for the
reporter. The identity (when the reporter gives one) passes through this
request's memory only, on its way to intake, which seals it for the vault;
the console never logs or keeps it. The slip is intake's own printable page
(``POST /api/v1/assisted-reports?format=html``), shown once."""

from __future__ import annotations

import secrets

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from peluit_common.web import SECURITY_HEADERS
from peluit_contracts.i18n import bilingual_errors
from peluit_contracts.reports import AssistedReportSchema

from ..api import Forbidden, Refused
from ..web import Page, View
from .common import catalogue

REPORT_FIELDS = ("tenant", "category", "channel", "what", "where", "when", "who", "how")
IDENTITY_FIELDS = ("name", "nik", "nip", "email", "phone", "address")
CHANNELS = ("walk_in", "letter", "phone")
KEY_CHARS = 64


def assisted_form(page: Page) -> View:
    form = {name: "" for name in (*REPORT_FIELDS, *(f"identity.{k}" for k in IDENTITY_FIELDS))}
    form.update(tenant=page.officer.tenant, channel="walk_in", identity_mode="anonim", terlapor_inspektorat=False)
    return _view(page, form)


def _view(page: Page, form: dict, status: int = 200, *, errors=None, general=()) -> View:
    tenants = catalogue(page).get("tenants", [])
    chosen = next((t for t in tenants if t["code"] == form.get("tenant")), None)
    categories = {c["code"]: page.pick(c.get("name")) for t in ([chosen] if chosen else tenants)
                  for c in t.get("categories", [])}
    return View("assisted.html", {
        "page": "laporan-langsung", "form": form, "errors": errors or {}, "general": list(general),
        "tenants": [(t["code"], f"{t['name']} ({t['code']})") for t in tenants],
        "categories": sorted(categories.items(), key=lambda c: (c[0] == "lainnya", c[1].casefold())),
        "channels": [(c, page.t(f"channel_{c}")) for c in CHANNELS],
        "idempotency_key": form.get("idempotency_key") or secrets.token_urlsafe(32)}, status)


def assisted_submit(page: Page):
    form = page.values(*REPORT_FIELDS, *(f"identity.{k}" for k in IDENTITY_FIELDS))
    form["terlapor_inspektorat"] = page.value("terlapor_inspektorat") == "1"
    form["identity_mode"] = "rahasia" if page.value("identity_mode") == "rahasia" else "anonim"
    key = page.value("idempotency_key")
    form["idempotency_key"] = key if 16 <= len(key) <= KEY_CHARS and key.replace("-", "").replace("_", "").isalnum() \
        else ""
    body, errors = _body(page, form)
    if errors:
        return _view(page, form, 400, errors=errors)
    try:
        slip = page.api.assisted_report(body, form["idempotency_key"] or secrets.token_urlsafe(32))
    except (Refused, Forbidden) as err:
        fields = page.field_errors(err.fields)
        general = [] if fields else [page.pick(err.message)]
        return _view(page, form, err.status, errors=fields, general=[*general, page.t("assisted_kept")])
    # intake's slip as it came: its own policy (no script, its inline print style) travels with it
    headers = {**SECURITY_HEADERS, "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}
    return Response(slip.content, status=201, content_type="text/html; charset=utf-8", headers=headers)


def _body(page: Page, form: dict) -> tuple[dict, dict]:
    """The API's body from the form, checked by intake's own schema; an identity only if "confidential"."""
    identity = {k: form[f"identity.{k}"] for k in IDENTITY_FIELDS if form[f"identity.{k}"].strip()}
    confidential = form["identity_mode"] == "rahasia"
    data = {**{name: form[name] for name in REPORT_FIELDS if form[name].strip()},
            "terlapor_inspektorat": form["terlapor_inspektorat"], **({"identity": identity} if confidential else {})}
    errors: dict[str, list[str]] = {} if confidential or not identity else {
        "identity": [page.message("console_identity_conflict")]}
    try:
        AssistedReportSchema().load(data)
    except ValidationError as err:
        for path, messages in page.field_errors(bilingual_errors(err.messages)).items():
            errors.setdefault(path, []).extend(messages)
    return data, errors
