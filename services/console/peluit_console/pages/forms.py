"""The case page's command forms: what each form asks, how its fields become
the officer API's body, and the choices its selects offer.

A form's field names are the API's field paths (``recommendations.0.kind``),
so a refusal's field-by-field messages land beside the field that caused
them. The body is checked with the officer API's own contract schema first
(``peluit_contracts.officer_api.COMMANDS``), so most mistakes are shown
without a round trip, in the API's words.

The choices come from the officer API's form catalogue (``GET
/api/v1/catalogue``) where it exists; until then from the tenants intake
publishes and the fallback lists below (the values the workflow checks).
"""

from __future__ import annotations

from marshmallow import ValidationError

from peluit_contracts.disclosure import LEGAL_BASES
from peluit_contracts.i18n import bilingual_errors, message
from peluit_contracts.officer_api import COMMANDS

from ..api import ApiError
from ..web import Page
from .common import catalogue, label

# fallbacks for the form catalogue (the cases service's lists: domain.py)
EXTERNAL_DESTINATIONS = ("kpk", "kejaksaan", "kepolisian", "ombudsman", "apip_kementerian")
SANCTIONS = {
    "ringan": ("teguran_lisan", "teguran_tertulis", "pernyataan_tidak_puas_tertulis"),
    "sedang": ("pemotongan_tukin_25_persen",),
    "berat": ("penurunan_jabatan", "pembebasan_dari_jabatan", "pemberhentian_dengan_hormat"),
}
RECOMMENDATION_KINDS = ("sanksi_disiplin", "rujukan_aph", "pemulihan_kerugian", "perbaikan_administrasi")
TUKIN_MONTHS = (6, 9, 12)
RECOMMENDATION_ROWS = 3
CATALOGUE_FORMS = frozenset({"forward", "record-findings"})  # the forms with choices from GET /api/v1/catalogue

# command -> the form's text fields (besides the special ones handled in ``body_of``)
TEXT_FIELDS = {
    "start-verification": (), "accept": ("note",), "reject": ("reason",), "archive": ("reason",),
    "recuse": ("reason",), "escalate": ("reason",), "request-information": ("question", "due_on"),
    "forward": ("destination", "reason"), "start-investigation": ("plan", "due_on"),
    "record-findings": ("outcome", "summary"), "complete-recommendation": ("recommendation_id", "note"),
    "close": ("reason", "feedback"), "message-reporter": ("text",), "add-note": ("text",),
}


def form_values(page: Page, command: str) -> dict:
    """What the officer typed into ``command``'s form (kept on a refusal)."""
    values = page.values(*TEXT_FIELDS[command])
    if command == "start-investigation":
        values["team"] = page.form.getlist("team")[:50]
        values["team_text"] = page.value("team_text")
    if command == "record-findings":
        for n in range(RECOMMENDATION_ROWS):
            prefix = f"recommendations.{n}."
            values.update(page.values(*(prefix + f for f in ("kind", "details", "sanction", "months", "amount"))))
    return values


def body_of(command: str, values: dict) -> tuple[dict, dict]:
    """(the API body, field errors as bilingual messages) of a form's values."""
    errors: dict[str, list] = {}
    if command == "forward":
        kind, _, destination = values.get("destination", "").partition(":")
        body = {"destination_kind": kind, "destination": destination, "reason": values.get("reason", "")}
    elif command == "start-investigation":
        team = [t.strip().lower() for t in [*values.get("team", []), *values.get("team_text", "").split()]
                if t.strip()]
        body = {"team": list(dict.fromkeys(team)), "plan": values.get("plan", ""), "due_on": values.get("due_on", "")}
        if not team:
            errors["team"] = [message("console_team")]
    elif command == "record-findings":
        body = {"outcome": values.get("outcome", ""), "summary": values.get("summary", ""),
                "recommendations": _recommendations(values, errors)}
    else:
        body = {name: values.get(name, "") for name in TEXT_FIELDS[command]}
    body = {k: v for k, v in body.items() if v not in ("", None)}
    try:
        COMMANDS[command]().load(body)
    except ValidationError as err:
        for path, messages in bilingual_errors(err.messages).items():
            errors.setdefault(_form_path(command, path), []).extend(messages)
    return body, errors


def _recommendations(values: dict, errors: dict) -> list[dict]:
    out = []
    for n in range(RECOMMENDATION_ROWS):
        prefix = f"recommendations.{n}."
        row = {f: values.get(prefix + f, "").strip() for f in ("kind", "details", "sanction", "months", "amount")}
        if not any(row.values()):
            continue
        rec = {"kind": row["kind"], "details": row["details"]}
        if row["sanction"]:
            level, _, type_ = row["sanction"].partition("/")
            rec["sanction"] = {"level": level, "type": type_}
            if row["months"]:
                rec["sanction"]["months"] = _int(row["months"])
        if row["amount"]:
            rec["amount"] = _int(row["amount"].replace(".", "").replace(",", ""))
        if not rec["kind"] or (rec["kind"] == "sanksi_disiplin" and "sanction" not in rec):
            errors.setdefault(f"recommendations.{len(out)}.kind", []).append(message("console_recommendation"))
        out.append({k: v for k, v in rec.items() if v not in ("", None)})
    return out


def _int(value: str):
    try:
        return int(value)
    except ValueError:
        return value  # the schema says what is wrong with it


def _form_path(command: str, path: str) -> str:
    """An API field path as the form names its field."""
    if command == "forward" and path in ("destination_kind", "destination"):
        return "destination"
    if command == "record-findings" and path.startswith("recommendations."):
        parts = path.split(".")
        if len(parts) >= 4 and parts[2] == "sanction":
            return ".".join(parts[:3]) if parts[3] != "months" else ".".join([*parts[:2], "months"])
    return path


# -- choices --------------------------------------------------------------------------------


def form_catalogue(page: Page) -> dict | None:
    """The officer API's form catalogue (None when it cannot be had: the fallbacks serve)."""
    try:
        return page.api.get("cases", "/api/v1/catalogue")
    except ApiError:
        return None


def choices(page: Page, case: dict, commands) -> dict:
    """The options of the selects of the forms shown; the catalogue and the team are asked
    for only when a form needs them (each is a call to the officer API)."""
    given = (form_catalogue(page) if CATALOGUE_FORMS & set(commands) else None) or {}
    tenants = given.get("tenants") or catalogue(page).get("tenants", [])
    handling = case.get("handling_tenant")
    external = given.get("external_destinations") or EXTERNAL_DESTINATIONS
    # the configured list names its bodies in both languages (cases' catalogue)
    named = {b["code"]: page.pick({"id": b["label_id"], "en": b["label_en"]}) for b in given.get("external_bodies") or []}
    sanctions = given.get("sanctions") or SANCTIONS
    kinds = given.get("recommendation_kinds") or RECOMMENDATION_KINDS
    return {
        "destinations": [
            (page.t("forward_tenants"), [(f"tenant:{t['code']}", f"{t['name']} ({t['code']})")
                                         for t in tenants if t["code"] != handling]),
            (page.t("forward_external"), [(f"external:{code}", named.get(code) or label(page, "external", code))
                                          for code in external]),
        ],
        "sanctions": [(label(page, "level", level), [(f"{level}/{t}", label(page, "sanction", t)) for t in types])
                      for level, types in sanctions.items()],
        "recommendation_kinds": [(k, label(page, "rec", k)) for k in kinds],
        "months": [(str(m), page.t("months", n=m)) for m in TUKIN_MONTHS],
        "outcomes": [(o, label(page, "outcome", o)) for o in ("terbukti", "tidak_terbukti")],
        "legal_bases": [(b, label(page, "basis", b)) for b in given.get("legal_bases") or LEGAL_BASES],
        "open_recommendations": [(r["id"], f"{r['id']}: {label(page, 'rec', r.get('kind'))}")
                                 for r in case.get("recommendations") or [] if not r.get("done")],
        "team": _team_choices(page) if "start-investigation" in commands else None,
    }


def _team_choices(page: Page) -> list | None:
    """Investigators of the officer's tenant; None when the list cannot be had: type their ids."""
    try:
        reply = page.api.get("cases", "/api/v1/officers", role="investigator", active="true", per_page=100)
    except ApiError:
        return None
    return [(o["id"], f"{o.get('display_name') or o['username']} ({o['username']})") for o in reply.get("items", [])]
