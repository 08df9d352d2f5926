"""What several pages share: the tenants and categories (intake's public
catalogue, kept a few minutes in memory), labels for codes, and the paths
of a case."""

from __future__ import annotations

from marshmallow import ValidationError

from peluit_contracts.i18n import bilingual_errors

from ..api import ApiError
from ..texts import T
from ..web import Page

CATALOGUE_SECONDS = 300


def catalogue(page: Page) -> dict:
    """{"tenants": [{code, name, parent, categories: [{code, name: {id, en}}]}]}; empty while intake is away."""
    kit = page.kit
    kept = getattr(kit, "_catalogue", None)
    if kept and kit.clock() - kept[0] < CATALOGUE_SECONDS:
        return kept[1]
    try:
        value = page.api.tenants()
    except ApiError:
        return kept[1] if kept else {"tenants": []}
    kit._catalogue = (kit.clock(), value)
    return value


def tenant_names(page: Page) -> dict[str, str]:
    return {t["code"]: t["name"] for t in catalogue(page).get("tenants", [])}


def category_names(page: Page, tenant: str | None = None) -> dict[str, str]:
    """code -> label in the page's language; one tenant's, or every tenant's."""
    out: dict[str, str] = {}
    for t in catalogue(page).get("tenants", []):
        if tenant and t["code"] != tenant:
            continue
        for c in t.get("categories", []):
            out.setdefault(c["code"], page.pick(c.get("name")) or c["code"])
    return out


def label(page: Page, prefix: str, code: str | None) -> str:
    """The page text ``prefix_code`` (a channel, a history kind, ...), else the code itself."""
    key = f"{prefix}_{code}"
    return page.t(key) if code and key in T else (code or "")


def case_path(case_id: str, *rest: str) -> str:
    return "/".join(["/kasus", case_id, *rest])


def checked(page: Page, schema, body: dict) -> tuple[dict, dict[str, list[str]]]:
    """(body without empty values, its field errors in the page's language) by the API's own
    contract schema, so a mistake is shown beside its field before any call."""
    body = {k: v for k, v in body.items() if v not in ("", None, [])}
    try:
        schema().load(body)
    except ValidationError as err:
        return body, page.field_errors(bilingual_errors(err.messages))
    return body, {}


def refused(page: Page, err: ApiError) -> dict:
    """A refusal as a form page shows it: beside the fields it names, else above the form."""
    fields = page.field_errors(err.fields)
    return {"errors": fields, "general": [] if fields else [page.pick(err.message)]}
