"""A statistics request's query parameters, parsed with the contract's schemas
(``peluit_contracts.statistics``): a field-by-field bilingual 400, never a 500."""

from __future__ import annotations

from datetime import date, datetime

from marshmallow import ValidationError

from peluit_common.web import HttpError
from peluit_contracts.i18n import bilingual_errors, encode
from peluit_contracts.statistics import month_of


def invalid(messages) -> HttpError:
    return HttpError(400, "validation_failed", bilingual_errors(messages), text="stats_invalid_parameters")


def parse(schema, request) -> dict:
    return load(schema, request.args.to_dict())


def load(schema, data) -> dict:
    """``data`` (a query string's or an RPC's parameters) through ``schema``."""
    try:
        return schema().load(data)
    except ValidationError as err:
        raise invalid(err.messages) from None


def period(args: dict, today: date | None = None) -> tuple[date, date]:
    """``from``/``to`` months; defaults: January of this year to this month."""
    today = today or datetime.now().date()
    start = month_of(args["from_"]) if "from_" in args else date(today.year, 1, 1)
    end = month_of(args["to"]) if "to" in args else max(start, today.replace(day=1))
    if end < start:
        raise invalid({"to": [encode("stats_period")]})
    return start, end
