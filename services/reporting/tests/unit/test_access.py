"""Who may see which statistics."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from peluit_common.auth import OfficerClaims
from peluit_common.web import HttpError
from peluit_contracts.i18n import message
from peluit_reporting import access


def claims(tenant, *roles):
    return OfficerClaims("o-1", tenant, tuple(roles), "u", "t", datetime(2030, 1, 1, tzinfo=timezone.utc))


def assert_access(who, tenant, allowed):
    assert access.may_see_tenant(who, tenant) is allowed
    if not allowed:
        with pytest.raises(HttpError) as err:
            access.require_tenant(who, tenant)
        assert err.value.status == 403 and err.value.code == "forbidden"
        assert err.value.message == message("stats_forbidden") and set(err.value.message) == {"id", "en"}
    else:
        assert access.require_tenant(who, tenant) == tenant


@pytest.mark.parametrize("role,allowed", [("inspektur", True), ("penelaah", True), ("tenant_admin", True),
                                          ("investigator", False), ("auditor", False)])
def test_own_tenant_by_role(role, allowed):
    assert_access(claims("35.73", role), "35.73", allowed)


@pytest.mark.parametrize("who,tenant,allowed", [
    (claims("35.73", "inspektur"), "35.07", False),  # a sibling kabupaten
    (claims("35", "inspektur"), "35.07", True),  # the province sees its own kota/kabupaten
    (claims("35", "province_admin"), "35.73", True),
    (claims("35", "penelaah"), "35.73", False),
    (claims("35", "auditor"), "35.73", False),
    (claims("35", "inspektur"), "36.01", False),  # another province's
    (claims("35", "inspektur"), "35", True),
])
def test_other_tenants(who, tenant, allowed):
    assert_access(who, tenant, allowed)


def test_a_tenant_defaults_to_the_officers_own():
    assert access.require_tenant(claims("35.73", "penelaah"), None) == "35.73"


def test_province_overview_only_for_the_province_itself():
    assert access.require_province(claims("35", "inspektur"), None) == "35"
    for who, province in [(claims("35.73", "inspektur"), None), (claims("35", "inspektur"), "36"),
                          (claims("35", "auditor"), "35")]:
        with pytest.raises(HttpError) as err:
            access.require_province(who, province)
        assert err.value.status == 403
