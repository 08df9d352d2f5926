"""intake's one tenant catalogue: a stale copy may only refuse, and a miss
re-reads it (at most every ``miss_refresh`` seconds) so a new tenant is not
refused for the whole TTL; pages and menus may use an older copy while cases
is away, registration may not."""

from __future__ import annotations

import pytest

from peluit_intake.catalogue import TenantCatalogue, find_tenant
from peluit_intake.errors import Unavailable


class Cases:
    def __init__(self):
        self.tenants, self.calls, self.down = ["35.73"], 0, False

    def catalogue(self):
        self.calls += 1
        if self.down:
            raise Unavailable()
        return {"tenants": [{"code": t, "categories": [{"code": "korupsi"}]} for t in self.tenants]}


def codes(catalogue: dict) -> set:
    return {t["code"] for t in catalogue["tenants"]}


def test_a_miss_rereads_the_catalogue_but_not_more_often_than_miss_refresh():
    now = [100.0]
    cache, cases = TenantCatalogue(clock=lambda: now[0]), Cases()
    assert "35.73" in codes(cache.get(cases.catalogue)) and cases.calls == 1
    cases.tenants.append("35.99")
    assert "35.99" not in codes(cache.get(cases.catalogue, missing=True))  # seconds old: no reload, no hammering
    assert cases.calls == 1
    now[0] += cache.miss_refresh + 0.1
    assert "35.99" not in codes(cache.get(cases.catalogue))  # a hit path never reloads before the TTL
    assert "35.99" in codes(cache.get(cases.catalogue, missing=True)) and cases.calls == 2
    now[0] += cache.ttl + 1
    cases.tenants.remove("35.99")
    assert "35.99" not in codes(cache.get(cases.catalogue)) and cases.calls == 3


def test_an_older_copy_serves_pages_while_cases_is_away_but_never_a_registration():
    now = [100.0]
    cache, cases = TenantCatalogue(clock=lambda: now[0]), Cases()
    cases.down = True
    with pytest.raises(Unavailable):
        cache.get(cases.catalogue, stale_ok=True)  # nothing to serve yet
    cases.down = False
    cache.get(cases.catalogue)
    now[0] += cache.ttl + 1
    cases.down = True
    assert codes(cache.get(cases.catalogue, stale_ok=True)) == {"35.73"}
    with pytest.raises(Unavailable):
        cache.get(cases.catalogue)
    assert find_tenant(cache.data, "35.73")["code"] == "35.73" and find_tenant(cache.data, "35") is None


def test_refresh_reads_now_and_keeps_what_it_read():
    cache, cases = TenantCatalogue(), Cases()
    assert codes(cache.refresh(cases.catalogue)) == {"35.73"}
    cases.tenants.append("35.07")
    assert codes(cache.refresh(cases.catalogue)) == {"35.73", "35.07"}
    assert codes(cache.get(cases.catalogue)) == {"35.73", "35.07"} and cases.calls == 2
