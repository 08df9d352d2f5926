"""Deadline packs, holiday calendar and due-date arithmetic: pure functions, no services."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from peluit_cases.deadlines import (
    CLOCK_EVENTS, PACKS_FILE, ClockEvent, ConfigError, DeadlinePack, DeadlineRule, WorkingCalendar,
    add_months, compute_deadlines, due_notices, load_calendar, load_holiday_entries, load_holidays,
    load_packs, override,
)

JKT = ZoneInfo("Asia/Jakarta")
PACKS = load_packs()
LAPOR, WISE, EU = PACKS["lapor"], PACKS["wise"], PACKS["eu2019_1937"]
CAL = load_calendar()


def wib(y, m, d, hh=9, mm=0, ss=0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=JKT)


def end_of(y, m, d) -> datetime:
    return wib(y, m, d, 23, 59, 59)


def ev(kind: str, at: datetime) -> ClockEvent:
    return ClockEvent(kind, at)


def by_code(deadlines):
    return {d.rule_code: d for d in deadlines}


def compute(pack, history, now, **kw):
    return by_code(compute_deadlines(pack, history, CAL, now=now, **kw))


def notices_at(history, now):
    """The notices a LAPOR case with this history owes at ``now``."""
    return due_notices(compute_deadlines(LAPOR, history, CAL, now=now), now)


# --- working days ------------------------------------------------------------

def test_weekends_are_skipped():
    cal = WorkingCalendar([])
    fri, sat = date(2026, 11, 20), date(2026, 11, 21)
    assert not cal.is_working_day(sat) and not cal.is_working_day(date(2026, 11, 22))
    assert cal.add_working_days(fri, 1) == date(2026, 11, 23)  # Friday + 1 = Monday
    assert cal.add_working_days(sat, 1) == date(2026, 11, 23)
    assert cal.add_working_days(fri, 5) == date(2026, 11, 27)
    assert cal.add_working_days(date(2026, 11, 18), 3) == date(2026, 11, 23)
    assert cal.add_working_days(date(2026, 11, 23), -1) == fri
    assert cal.add_working_days(fri, 0) == fri
    assert cal.working_days_between(fri, date(2026, 11, 23)) == 1
    assert cal.working_days_between(date(2026, 11, 23), fri) == -1
    for n in range(0, 30):  # working_days_between inverts add_working_days
        assert cal.working_days_between(fri, cal.add_working_days(fri, n)) == n


def test_a_holiday_inside_the_window_is_skipped():
    assert not CAL.is_working_day(date(2026, 8, 17))  # Hari Kemerdekaan, a Monday
    assert CAL.add_working_days(date(2026, 8, 14), 1) == date(2026, 8, 18)
    cal = WorkingCalendar([date(2026, 11, 24)])
    assert cal.add_working_days(date(2026, 11, 23), 2) == date(2026, 11, 26)
    assert cal.working_days_between(date(2026, 11, 23), date(2026, 11, 26)) == 2


def test_custom_weekend():
    cal = WorkingCalendar([], weekend=(4, 5))  # Friday and Saturday off
    assert cal.add_working_days(date(2026, 11, 19), 1) == date(2026, 11, 22)  # Thursday + 1 = Sunday
    with pytest.raises(ValueError):
        WorkingCalendar([], weekend=range(7))


def test_tenant_adds_regional_holidays_on_top():
    hari_jadi = date(2026, 4, 1)  # e.g. Hari Jadi Kota Malang, if the tenant closes its offices
    assert CAL.is_working_day(hari_jadi)
    holidays = load_holidays(extra=[hari_jadi])
    assert hari_jadi in holidays[2026]
    cal = WorkingCalendar.from_holidays(holidays)
    assert cal.add_working_days(date(2026, 3, 31), 1) == date(2026, 4, 2)
    assert not load_calendar(extra=[hari_jadi]).is_working_day(hari_jadi)


def test_idul_fitri_2026_week_is_not_working_time():
    # Cuti bersama Nyepi 18, Nyepi 19, cuti bersama 20, Idul Fitri 21-22, cuti bersama 23-24 March.
    week = [date(2026, 3, 18) + timedelta(days=i) for i in range(7)]
    assert not any(CAL.is_working_day(d) for d in week)
    registered = wib(2026, 3, 17, 10)
    d = compute(LAPOR, [ev("registered", registered), ev("verification_started", registered)],
                now=wib(2026, 3, 17, 11))
    assert d["first_response"].state == "satisfied"
    assert d["verification"].due_at == end_of(2026, 3, 31)  # 25, 26, 27, 30, 31
    d = compute(LAPOR, [ev("registered", registered)], now=wib(2026, 3, 24))
    assert d["first_response"].due_at == end_of(2026, 3, 27)  # 25, 26, 27
    assert d["first_response"].state == "running"


def test_cuti_bersama_can_be_left_out():
    assert date(2026, 3, 20) in load_holidays()[2026]
    assert date(2026, 3, 20) not in load_holidays(cuti_bersama=False)[2026]
    assert date(2026, 3, 21) in load_holidays(cuti_bersama=False)[2026]


# --- timezone ----------------------------------------------------------------

def test_jakarta_date_not_utc_date():
    # Thursday 18:00 UTC is already Friday 01:00 in Jakarta.
    history = [ev("registered", datetime(2026, 3, 12, 18, 0, tzinfo=timezone.utc))]
    now = datetime(2026, 3, 13, 0, 0, tzinfo=timezone.utc)
    jakarta = compute(LAPOR, history, now)["first_response"]
    assert jakarta.due_at == end_of(2026, 3, 25)  # counting from Friday, across the Idul Fitri week
    assert jakarta.due_at.tzinfo == JKT
    utc = compute(LAPOR, history, now, tz="UTC")["first_response"]
    assert utc.due_at == datetime(2026, 3, 17, 23, 59, 59, tzinfo=ZoneInfo("UTC"))


def test_friday_evening_utc_is_saturday_in_jakarta():
    history = [ev("registered", datetime(2026, 3, 13, 18, 0, tzinfo=timezone.utc))]  # Sat 01:00 WIB
    now = datetime(2026, 3, 14, tzinfo=timezone.utc)
    assert compute(EU, history, now)["acknowledge"].due_at == end_of(2026, 3, 21)
    assert compute(EU, history, now, tz="UTC")["acknowledge"].due_at.date() == date(2026, 3, 20)
    # Saturday or Friday: the first working day counted is the same Monday.
    assert compute(LAPOR, [ev("registered", wib(2026, 3, 13, 17))], now)["first_response"].due_at == \
        compute(LAPOR, history, now)["first_response"].due_at


# --- states ------------------------------------------------------------------

def test_satisfied_before_due_and_breached_after():
    registered = ev("registered", wib(2026, 11, 2))  # Monday: due Thursday 5 November
    on_time = compute(LAPOR, [registered, ev("verification_started", end_of(2026, 11, 5))],
                      now=wib(2026, 11, 20))["first_response"]
    assert on_time.state == "satisfied" and on_time.satisfied_at == end_of(2026, 11, 5)
    late_at = wib(2026, 11, 6, 0, 0, 30)
    late = compute(LAPOR, [registered, ev("information_requested", late_at)],
                   now=wib(2026, 11, 20))["first_response"]
    assert late.state == "breached" and late.satisfied_at == late_at
    assert late.due_at == end_of(2026, 11, 5)


def test_running_until_the_end_of_the_last_day():
    history = [ev("registered", wib(2026, 11, 2))]
    assert compute(LAPOR, history, now=end_of(2026, 11, 5))["first_response"].state == "running"
    breached = compute(LAPOR, history, now=wib(2026, 11, 6, 0, 0, 0))["first_response"]
    assert breached.state == "breached" and breached.satisfied_at is None


def test_not_started_rules_have_no_dates():
    d = compute(LAPOR, [ev("registered", wib(2026, 11, 2))], now=wib(2026, 11, 3))
    for code in ("verification", "investigation", "field_investigation", "information_request"):
        assert d[code].state == "not_started" and d[code].due_at is None and d[code].approaching_at is None
    assert [x.rule_code for x in compute_deadlines(LAPOR, [], CAL, now=wib(2026, 11, 3))] == \
        [r.code for r in LAPOR.rules]


def test_closed_stops_every_clock():
    history = [ev("registered", wib(2026, 11, 2)), ev("verification_started", wib(2026, 11, 3)),
               ev("information_requested", wib(2026, 11, 4)), ev("closed", wib(2026, 11, 5))]
    d = compute(LAPOR, history, now=wib(2027, 1, 4))
    assert {x.state for x in d.values() if x.due_at} == {"satisfied"}


def test_events_after_now_are_ignored():
    history = [ev("registered", wib(2026, 11, 2)), ev("verification_started", wib(2026, 11, 10))]
    assert compute(LAPOR, history, now=wib(2026, 11, 4))["first_response"].state == "running"
    assert compute(LAPOR, history, now=wib(2026, 11, 11))["first_response"].state == "breached"


def test_bad_history_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_deadlines(LAPOR, [ev("registered", datetime(2026, 11, 2, 9))], CAL, now=wib(2026, 11, 3))
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_deadlines(LAPOR, [], CAL, now=datetime(2026, 11, 3))
    with pytest.raises(ValueError, match="unknown clock event 'verified'"):
        compute_deadlines(LAPOR, [ev("verified", wib(2026, 11, 2))], CAL, now=wib(2026, 11, 3))
    with pytest.raises(ValueError, match="out of order"):
        compute_deadlines(LAPOR, [ev("registered", wib(2026, 11, 3)), ev("closed", wib(2026, 11, 2))],
                          CAL, now=wib(2026, 11, 4))


# --- pauses ------------------------------------------------------------------

VERIFYING = [ev("registered", wib(2026, 10, 30)), ev("verification_started", wib(2026, 11, 2))]


def test_pause_pushes_the_due_date_by_paused_working_days():
    assert compute(LAPOR, VERIFYING, now=wib(2026, 11, 3))["verification"].due_at == end_of(2026, 11, 9)
    history = VERIFYING + [ev("information_requested", wib(2026, 11, 4, 10)),
                           ev("information_received", wib(2026, 11, 9, 8))]
    d = compute(LAPOR, history, now=wib(2026, 11, 10, 12))
    # Thursday 5, Friday 6 and Monday 9 did not count: 5 + 3 working days from Monday 2.
    assert d["verification"].paused_days == 3
    assert d["verification"].due_at == end_of(2026, 11, 12)
    assert d["verification"].state == "running"
    assert d["first_response"].state == "satisfied"  # satisfied on 2 November
    assert d["information_request"].state == "satisfied"
    assert d["information_request"].satisfied_at == wib(2026, 11, 9, 8)


def test_first_response_does_not_pause():
    history = [ev("registered", wib(2026, 11, 2)), ev("information_requested", wib(2026, 11, 3)),
               ev("information_received", wib(2026, 11, 10))]
    d = compute(LAPOR, history, now=wib(2026, 11, 11))
    assert d["first_response"].state == "satisfied" and d["first_response"].paused_days == 0


def test_open_request_pauses_the_clock():
    history = VERIFYING + [ev("information_requested", wib(2026, 11, 4, 10))]
    d = compute(LAPOR, history, now=wib(2026, 11, 10, 12))
    assert d["verification"].state == "paused"
    assert d["verification"].paused_days == 4  # 5, 6, 9, 10 November so far
    assert d["verification"].due_at == end_of(2026, 11, 13)
    info = d["information_request"]
    assert info.state == "running" and info.due_at == end_of(2026, 11, 18)  # 14 calendar days
    assert info.approaching_at == wib(2026, 11, 16, 0, 0)
    assert compute(LAPOR, history, now=wib(2026, 11, 19))["information_request"].state == "breached"


def test_calendar_day_pause():
    rule = DeadlineRule("custom", {"id": "Uji", "en": "Test"}, "registered", ("closed",), 10,
                        "calendar_days", 2, True)
    pack = DeadlinePack("t", {"id": "Uji", "en": "Test"}, (rule,))
    history = [ev("registered", wib(2026, 11, 1)), ev("information_requested", wib(2026, 11, 3)),
               ev("information_received", wib(2026, 11, 6))]
    d = compute(pack, history, now=wib(2026, 11, 7))["custom"]
    assert d.paused_days == 3 and d.due_at == end_of(2026, 11, 14)


def test_a_request_after_the_due_date_does_not_undo_the_breach():
    history = VERIFYING + [ev("information_requested", wib(2026, 11, 10, 10))]
    d = compute(LAPOR, history, now=wib(2026, 11, 20))["verification"]
    assert d.state == "breached" and d.paused_days == 0 and d.due_at == end_of(2026, 11, 9)


def test_a_new_request_gets_a_fresh_clock_and_every_pause_counts():
    history = VERIFYING + [
        ev("information_requested", wib(2026, 11, 2, 10)), ev("information_received", wib(2026, 11, 3, 10)),
        ev("information_requested", wib(2026, 11, 5, 10)), ev("information_received", wib(2026, 11, 6, 10)),
        ev("information_requested", wib(2026, 11, 9, 10)),
    ]
    d = compute(LAPOR, history, now=wib(2026, 11, 9, 12))
    assert d["information_request"].state == "running"
    assert d["information_request"].due_at == end_of(2026, 11, 23)
    assert d["verification"].state == "paused" and d["verification"].paused_days == 2


def test_desk_investigation_hands_over_to_field_investigation():
    history = [ev("registered", wib(2026, 11, 2)), ev("verification_started", wib(2026, 11, 2)),
               ev("investigation_started", wib(2026, 11, 4)),
               ev("field_investigation_started", wib(2026, 11, 16))]
    d = compute(LAPOR, history, now=wib(2026, 11, 30))
    assert d["verification"].state == "satisfied"
    assert d["investigation"].state == "satisfied"
    assert d["field_investigation"].state == "running"
    assert d["field_investigation"].due_at.date() == CAL.add_working_days(date(2026, 11, 16), 60)


# --- approaching and months --------------------------------------------------

def test_approaching_time():
    # First response due Wednesday 25 November; warn 1 working day before: from Wednesday 00:00.
    d = compute(LAPOR, [ev("registered", wib(2026, 11, 20, 16))], now=wib(2026, 11, 20, 17))
    assert d["first_response"].due_at == end_of(2026, 11, 25)
    assert d["first_response"].approaching_at == wib(2026, 11, 25, 0, 0)
    # Desk investigation: 14 working days due Friday 20; the last 3 working days start Wednesday 18.
    d = compute(LAPOR, [ev("investigation_started", wib(2026, 11, 2))], now=wib(2026, 11, 3))
    assert d["investigation"].due_at == end_of(2026, 11, 20)
    assert d["investigation"].approaching_at == wib(2026, 11, 18, 0, 0)
    # Across a weekend: due Monday 23 with 2 working days' notice is from Friday 20.
    pack = override(LAPOR, "first_response", approaching_before=2)
    d = compute(pack, [ev("registered", wib(2026, 11, 18))], now=wib(2026, 11, 18))
    assert d["first_response"].due_at == end_of(2026, 11, 23)
    assert d["first_response"].approaching_at == wib(2026, 11, 20, 0, 0)
    # Calendar days: acknowledge 7 days after 2 November is 9 November, 2 days' notice from the 8th.
    d = compute(EU, [ev("registered", wib(2026, 11, 2))], now=wib(2026, 11, 3))
    assert d["acknowledge"].due_at == end_of(2026, 11, 9)
    assert d["acknowledge"].approaching_at == wib(2026, 11, 8, 0, 0)


def test_months_clamp_to_the_end_of_the_month():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 3, 31), 1) == date(2026, 4, 30)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    one_month = override(EU, "feedback", amount=1)
    d = compute(one_month, [ev("registered", wib(2026, 1, 31, 10))], now=wib(2026, 2, 1))["feedback"]
    assert d.due_at == end_of(2026, 2, 28)
    d = compute(EU, [ev("registered", wib(2026, 1, 31, 10))], now=wib(2026, 2, 1))["feedback"]
    assert d.due_at == end_of(2026, 4, 30)
    assert d.approaching_at == wib(2026, 3, 31, 0, 0)  # the last month: 31 March to 30 April


# --- notices -----------------------------------------------------------------

def test_due_notices_approaching_before_breached():
    history = [ev("registered", wib(2026, 11, 2))]  # first response due Thursday 5 November
    assert notices_at(history, wib(2026, 11, 4)) == []
    assert notices_at(history, wib(2026, 11, 5, 8)) == [("first_response", "approaching")]
    assert notices_at(history, wib(2026, 11, 6, 8)) == \
        [("first_response", "approaching"), ("first_response", "breached")]


def test_due_notices_nothing_for_satisfied_or_not_started_rules():
    history = [ev("registered", wib(2026, 11, 2)), ev("verification_started", wib(2026, 11, 3))]
    assert compute(LAPOR, history, wib(2026, 11, 6, 8))["first_response"].state == "satisfied"
    assert notices_at(history, wib(2026, 11, 6, 8)) == []  # verification is due Tuesday 10 November
    assert notices_at(history, wib(2026, 11, 11, 8)) == [("verification", "approaching"), ("verification", "breached")]


def test_due_notices_late_satisfaction_still_owes_the_breach_and_pause_owes_none():
    history = [ev("registered", wib(2026, 11, 2)), ev("verification_started", wib(2026, 11, 9))]
    assert ("first_response", "breached") in notices_at(history, wib(2026, 11, 9, 12))
    paused = VERIFYING + [ev("information_requested", wib(2026, 11, 9, 10))]  # on the due day
    now = wib(2026, 11, 30)
    deadlines = compute_deadlines(LAPOR, paused, CAL, now=now)
    assert by_code(deadlines)["verification"].state == "paused"
    notices = due_notices(deadlines, now)
    assert ("verification", "breached") not in notices
    # Oldest first: the reporter's 14 days ran out on 23 November; the paused verification
    # clock moved with the pause (15 working days) and is due today.
    assert notices == [("information_request", "approaching"), ("information_request", "breached"),
                       ("verification", "approaching")]
    assert by_code(deadlines)["verification"].due_at == end_of(2026, 11, 30)


# --- packs -------------------------------------------------------------------

def _rules(pack):
    return {r.code: (r.amount, r.unit, r.pauses_while_waiting_for_reporter) for r in pack.rules}


def test_shipped_packs_load_and_validate():
    assert set(PACKS) == {"lapor", "wise", "eu2019_1937"}
    assert _rules(LAPOR) == {
        "first_response": (3, "working_days", False), "verification": (5, "working_days", True),
        "investigation": (14, "working_days", True), "field_investigation": (60, "working_days", True),
        "information_request": (14, "calendar_days", False),
    }
    assert _rules(WISE) == {"response": (30, "calendar_days", False),
                            "information_request": (14, "calendar_days", False)}
    assert _rules(EU) == {"acknowledge": (7, "calendar_days", False), "feedback": (3, "months", False),
                          "information_request": (14, "calendar_days", False)}
    for pack in PACKS.values():
        assert pack.name["id"] and pack.name["en"] and pack.description
        for rule in pack.rules:
            assert rule.label["id"] and rule.label["en"] and rule.description
            assert "closed" in rule.stops_on and rule.starts_on in CLOCK_EVENTS
            assert 1 <= rule.approaching_before <= rule.amount


def test_tenant_overrides_the_archive_period():
    pack = override(LAPOR, "information_request", amount=21)
    assert pack.rule("information_request").amount == 21 and LAPOR.rule("information_request").amount == 14
    assert pack.rule("first_response") == LAPOR.rule("first_response")
    d = compute(pack, [ev("information_requested", wib(2026, 11, 2))], now=wib(2026, 11, 3))
    assert d["information_request"].due_at == end_of(2026, 11, 23)
    with pytest.raises(ConfigError, match=r"'information_request'.*amount: Must be greater than or equal to 1"):
        override(LAPOR, "information_request", amount=0)
    with pytest.raises(KeyError):
        override(LAPOR, "no_such_rule", amount=3)


def _write_packs(tmp_path, mutate):
    raw = json.loads(PACKS_FILE.read_text())
    mutate(raw)
    path = tmp_path / "packs.json"
    path.write_text(json.dumps(raw))
    return path


@pytest.mark.parametrize("mutate, expected", [
    (lambda raw: raw["packs"][0]["rules"][2].update(amount=0, unit="weeks"),
     [r"pack 'lapor'", r"rules\[2\]\(investigation\)\.amount: Must be greater than or equal to 1",
      r"rules\[2\]\(investigation\)\.unit: Must be one of"]),
    (lambda raw: raw["packs"][1]["rules"][0]["label"].pop("en"),
     [r"pack 'wise'", r"rules\[0\]\(response\)\.label\.en: Missing data for required field"]),
    (lambda raw: raw["packs"][2]["rules"][1].update(starts_on="acknowledgement_sent"),
     [r"pack 'eu2019_1937'", r"rules\[1\]\(feedback\)\.starts_on: Must be one of"]),
    (lambda raw: raw["packs"][0]["rules"][0].update(stops_on=["verification_started"]),
     [r"rules\[0\]\(first_response\)\.stops_on: Must contain 'closed'"]),
    (lambda raw: raw["packs"][0]["rules"][1].update(pauses_while_waiting_for_reporter="yes"),
     [r"rules\[1\]\(verification\)\.pauses_while_waiting_for_reporter: Not a valid boolean"]),
    (lambda raw: raw["packs"][0]["rules"][1].update(approaching_before=9),
     [r"rules\[1\]\(verification\)\.approaching_before: Must not be greater than amount"]),
    (lambda raw: raw["packs"][0]["rules"][1].update(amount_days=5),
     [r"rules\[1\]\(verification\)\.amount_days: Unknown field"]),
    (lambda raw: raw["packs"][0]["rules"].append(dict(raw["packs"][0]["rules"][0])),
     [r"pack 'lapor': rules: Duplicate rule code\(s\): first_response"]),
    (lambda raw: raw["packs"].append(dict(raw["packs"][1])), [r"pack 'wise': code: Duplicate pack code"]),
    (lambda raw: raw["packs"][1].pop("code"), [r"pack #1: code: Missing data for required field"]),
    (lambda raw: raw.update(packs=[]), [r"non-empty 'packs' list"]),
])
def test_malformed_pack_file_fails_loudly(tmp_path, mutate, expected):
    path = _write_packs(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_packs(path)
    message = str(info.value)
    assert str(path) in message
    for pattern in expected:
        assert re.search(pattern, message), message


def test_invalid_json_names_the_line(tmp_path):
    path = tmp_path / "packs.json"
    path.write_text('{"packs": [\n  {"code": "lapor",}\n]}')
    with pytest.raises(ConfigError, match=r"not valid JSON \(line 2"):
        load_packs(path)


# --- holiday file ------------------------------------------------------------

REQUIRED = ["Tahun Baru 20", "Isra Mikraj", "Nyepi", "Wafat Isa Almasih", "Hari Buruh", "Kenaikan Isa Almasih",
            "Waisak", "Hari Lahir Pancasila", "Idul Adha", "Tahun Baru Islam", "Hari Kemerdekaan", "Maulid Nabi",
            "Hari Raya Natal"]
ISLAMIC = ["Isra Mikraj", "Idul Fitri", "Idul Adha", "Tahun Baru Islam", "Maulid Nabi"]


@pytest.mark.parametrize("year", [2025, 2026, 2027])
def test_holiday_file_covers_the_national_holidays(year):
    national = [h for h in load_holiday_entries() if h.date.year == year and h.kind == "national_holiday"]
    names = [h.name["id"] for h in national]
    for required in REQUIRED:
        assert sum(required in n for n in names) == 1, (year, required)
    assert sum(n.startswith("Idul Fitri") for n in names) == 2
    for h in national:
        assert h.name["en"]
        if year >= 2026 and any(n in h.name["id"] for n in ISLAMIC):
            assert h.estimated, h
        if year == 2025:
            assert not h.estimated, h
    assert date(year, 8, 17) in load_holidays()[year] and date(year, 12, 25) in load_holidays()[year]


def test_holiday_dates_we_rely_on():
    holidays = {h.date: h for h in load_holiday_entries()}
    assert holidays[date(2026, 3, 21)].name["en"] == "Eid al-Fitr" and holidays[date(2026, 3, 21)].estimated
    assert holidays[date(2026, 3, 20)].kind == "cuti_bersama"
    assert holidays[date(2025, 3, 31)].name["id"] == "Idul Fitri 1446 H"
    assert not holidays[date(2026, 1, 1)].estimated


def test_malformed_holiday_file_fails_loudly(tmp_path):
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps({"holidays": [
        {"date": "2026-01-01", "name": {"id": "Tahun Baru", "en": "New Year"}, "kind": "national_holiday",
         "estimated": False},
        {"date": "2026-02-30", "name": {"id": "X"}, "kind": "regional", "estimated": "no"},
    ]}))
    with pytest.raises(ConfigError) as info:
        load_holidays(path)
    message = str(info.value)
    for part in ("holidays[1].date: Not a valid date", "holidays[1].name.en: Missing data",
                 "holidays[1].kind: Must be one of", "holidays[1].estimated: Not a valid boolean"):
        assert part in message, message
