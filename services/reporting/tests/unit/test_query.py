"""Query parameters: the contract's schemas, bilingual field-by-field 400s
for anything else (never a 500), and the period's defaults."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from werkzeug.datastructures import MultiDict

from peluit_common.web import HttpError
from peluit_contracts.i18n import message
from peluit_contracts.statistics import ExportQuery, ProvinceExportQuery, ProvinceQuery, PublicQuery, StatsQuery
from peluit_reporting.query import load, parse, period


def request(**args):
    return SimpleNamespace(args=MultiDict(args))


@pytest.mark.parametrize("schema,args,field", [
    (StatsQuery, {"tenant": "35.7x"}, "tenant"),
    (StatsQuery, {"from": "2026-13"}, "from"),
    (StatsQuery, {"from": "2026-05", "to": "2026-04"}, "to"),
    (StatsQuery, {"from": "2000-01", "to": "2026-04"}, "to"),
    (StatsQuery, {"tenant": "35.73", "bogus": "1"}, "bogus"),
    (ExportQuery, {"year": "dua ribu"}, "year"),
    (ExportQuery, {"year": "1999"}, "year"),
    (ProvinceQuery, {"province": "35.73"}, "province"),
    (ProvinceExportQuery, {"province": "35.73"}, "province"),
    (ProvinceExportQuery, {"year": "2101"}, "year"),
    (ProvinceExportQuery, {"tenant": "35.73"}, "tenant"),  # a province export names no tenant
    # years no date can hold, or that the statistics cannot reach (a 500 before)
    (StatsQuery, {"to": "0000-01"}, "to"),
    (StatsQuery, {"from": "0000-01"}, "from"),
    (ProvinceQuery, {"to": "0000-01"}, "to"),
    (ProvinceQuery, {"from": "9999-12"}, "from"),
    (StatsQuery, {"to": "1999-12"}, "to"),
    (StatsQuery, {"to": "\u0662\u0660\u0662\u0666-01"}, "to"),  # digits of another script
    (PublicQuery, {"year": "2101"}, "year"),
    (PublicQuery, {"tenant": "35\x00"}, "tenant"),
])
def test_bad_parameters_are_a_bilingual_400_per_field(schema, args, field):
    with pytest.raises(HttpError) as err:
        parse(schema, request(**args))
    assert err.value.status == 400 and err.value.code == "validation_failed"
    assert err.value.message == message("stats_invalid_parameters")
    assert list(err.value.fields) == [field]
    assert all(set(m) == {"id", "en"} for m in err.value.fields[field])


def test_rpc_parameters_go_through_the_same_schema():
    assert load(PublicQuery, {"tenant": "35.73", "year": 2026}) == {"tenant": "35.73", "year": 2026}
    assert load(PublicQuery, {}) == {}
    for bad, field in (({"year": "dua"}, "year"), ({"tenant": "35.7x"}, "tenant"), ({"sort": "x"}, "sort"),
                       (["35.73"], "_schema")):
        with pytest.raises(HttpError) as err:
            load(PublicQuery, bad)
        assert err.value.status == 400 and list(err.value.fields) == [field]


def test_a_month_out_of_range_says_so():
    with pytest.raises(HttpError) as err:
        parse(StatsQuery, request(to="0000-01"))
    assert err.value.fields["to"] == [message("stats_month")]


def test_period_defaults_to_this_year():
    args = parse(StatsQuery, request(tenant="35.73"))
    assert period(args, today=date(2026, 11, 15)) == (date(2026, 1, 1), date(2026, 11, 1))
    args = parse(StatsQuery, request(**{"from": "2025-02", "to": "2025-04"}))
    assert period(args) == (date(2025, 2, 1), date(2025, 4, 1))
    assert period(parse(StatsQuery, request(**{"from": "2100-12"})), today=date(2026, 1, 1)) == (
        date(2100, 12, 1), date(2100, 12, 1))


def test_a_last_month_before_the_default_first_is_a_400():
    args = parse(StatsQuery, request(to="2025-12"))
    with pytest.raises(HttpError) as err:
        period(args, today=date(2026, 3, 1))
    assert err.value.status == 400 and err.value.fields == {"to": [message("stats_period")]}
