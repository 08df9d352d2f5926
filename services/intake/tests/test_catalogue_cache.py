"""intake's catalogue cache: a stale copy may only refuse, and a miss re-reads
it (at most every ``miss_refresh`` seconds) so a new tenant is not refused for
the whole TTL."""

from __future__ import annotations

from peluit_intake.service import Catalogue


class Cases:
    def __init__(self):
        self.tenants, self.calls = ["35.73"], 0

    def catalogue(self):
        self.calls += 1
        return {"tenants": [{"code": t, "categories": [{"code": "korupsi"}]} for t in self.tenants]}


def test_a_miss_rereads_the_catalogue_but_not_more_often_than_miss_refresh():
    cache, cases = Catalogue(), Cases()
    cache.setup()
    assert "35.73" in cache.get(cases) and cases.calls == 1
    cases.tenants.append("35.99")
    assert "35.99" not in cache.get(cases, missing=True)  # seconds old: no reload, no hammering
    assert cases.calls == 1
    cache.loaded_at -= cache.miss_refresh + 0.1
    assert "35.99" not in cache.get(cases)  # a hit path never reloads before the TTL
    assert "35.99" in cache.get(cases, missing=True) and cases.calls == 2
