"""Who may see which statistics, and bilingual field-by-field 400s for bad parameters."""

from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace

import pytest
from werkzeug.datastructures import MultiDict

from peluit_common.auth import OfficerClaims
from peluit_common.web import HttpError
from peluit_reporting import api


def claims(tenant, *roles):
    return OfficerClaims("o-1", tenant, tuple(roles), "u", "t", datetime(2030, 1, 1, tzinfo=timezone.utc))


def request(**args):
    return SimpleNamespace(args=MultiDict(args))


@pytest.mark.parametrize("who,tenant,allowed", [
    (claims("35.73", "inspektur"), "35.73", True),
    (claims("35.73", "penelaah"), "35.73", True),
    (claims("35.73", "tenant_admin"), "35.73", True),
    (claims("35.73", "investigator"), "35.73", False),
    (claims("35.73", "auditor"), "35.73", False),
    (claims("35.73", "inspektur"), "35.07", False),
    (claims("35", "inspektur"), "35.07", True),
    (claims("35", "province_admin"), "35.73", True),
    (claims("35", "penelaah"), "35.73", False),
    (claims("35", "auditor"), "35.73", False),
    (claims("35", "inspektur"), "36.01", False),
    (claims("35", "inspektur"), "35", True),
])
def test_tenant_access(who, tenant, allowed):
    assert api.may_see_tenant(who, tenant) is allowed
    if not allowed:
        with pytest.raises(HttpError) as err:
            api.require_tenant(who, tenant)
        assert err.value.status == 403 and set(err.value.message) == {"id", "en"}


def test_province_overview_only_for_the_province_itself():
    assert api.require_province(claims("35", "inspektur"), None) == "35"
    for who, province in [(claims("35.73", "inspektur"), None), (claims("35", "inspektur"), "36"),
                          (claims("35", "auditor"), "35")]:
        with pytest.raises(HttpError) as err:
            api.require_province(who, province)
        assert err.value.status == 403


@pytest.mark.parametrize("schema,args,field", [
    (api.StatsQuery, {"tenant": "35.7x"}, "tenant"),
    (api.StatsQuery, {"from": "2026-13"}, "from"),
    (api.StatsQuery, {"from": "2026-05", "to": "2026-04"}, "to"),
    (api.StatsQuery, {"from": "2000-01", "to": "2026-04"}, "to"),
    (api.StatsQuery, {"tenant": "35.73", "bogus": "1"}, "bogus"),
    (api.ExportQuery, {"year": "dua ribu"}, "year"),
    (api.ExportQuery, {"year": "1999"}, "year"),
    (api.ProvinceQuery, {"province": "35.73"}, "province"),
])
def test_bad_parameters_are_a_bilingual_400_per_field(schema, args, field):
    with pytest.raises(HttpError) as err:
        api.parse(schema, request(**args))
    assert err.value.status == 400
    assert list(err.value.fields) == [field]
    assert all(set(m) == {"id", "en"} for m in err.value.fields[field])


def test_period_defaults_to_this_year():
    args = api.parse(api.StatsQuery, request(tenant="35.73"))
    assert api.period(args, today=date(2026, 11, 15)) == (date(2026, 1, 1), date(2026, 11, 1))
    args = api.parse(api.StatsQuery, request(**{"from": "2025-02", "to": "2025-04"}))
    assert api.period(args) == (date(2025, 2, 1), date(2025, 4, 1))
