"""The officers acting on a case, as the recipients RPC names them."""

from types import SimpleNamespace

from peluit_cases.notify_directory import acting_officers

HISTORY = [{"actor": {"id": "system"}}, {"actor": {"officer_id": "a", "tenant": "35.73"}},
           {"actor": {"officer_id": "p", "tenant": "35"}}, {"actor": {"officer_id": "a", "tenant": "35.73"}},
           {"actor": {"officer_id": "c", "tenant": "35.73"}}]


def test_the_handling_tenants_officers_who_acted_latest_first_until_there_is_a_team():
    case = SimpleNamespace(investigation=None, handling_tenant="35.73")
    assert acting_officers(case, HISTORY) == ["c", "a"]  # not the system, not another tenant's officer
    case.investigation = {"team": ["t1", "t2"]}
    assert acting_officers(case, HISTORY) == ["t1", "t2"]
