"""Deadline packs and working-day arithmetic for the case aggregate.

Plain Python with no clock of its own (``now`` is always a parameter), so the
aggregate, the scheduler and an auditor replaying a case get the same answer.
Packs and holidays are configuration, validated on load so a bad file fails
loudly. How a rule's clock starts, pauses and stops: docs/domain.md,
"Deadlines".
"""

from __future__ import annotations

import calendar as _calendar
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

HERE = Path(__file__).resolve().parent
PACKS_FILE = HERE / "deadline_packs.json"
HOLIDAYS_FILE = HERE / "holidays_id.json"

CLOCK_EVENTS = (
    "registered", "acknowledged", "verification_started", "information_requested",
    "information_received", "investigation_started", "field_investigation_started",
    "investigation_completed", "feedback_sent", "closed",
)
UNITS = ("working_days", "calendar_days", "months")
HOLIDAY_KINDS = ("national_holiday", "cuti_bersama")
END_OF_DAY = time(23, 59, 59)


class ConfigError(ValueError):
    """A pack or holiday file that does not validate; the message names the file, pack and field."""


# --- configuration schemas ---------------------------------------------------

_CODE = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="Must be lower_snake_case.")


class _StrictBool(fields.Boolean):
    # "no", 0 or "false" in a config file is a mistake, not False.
    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class _Bilingual(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1))
    en = fields.String(required=True, validate=validate.Length(min=1))


class _RuleSchema(Schema):
    code = fields.String(required=True, validate=_CODE)
    label = fields.Nested(_Bilingual, required=True)
    description = fields.String(load_default="")
    starts_on = fields.String(required=True, validate=validate.OneOf(CLOCK_EVENTS))
    stops_on = fields.List(fields.String(validate=validate.OneOf(CLOCK_EVENTS)), required=True,
                           validate=validate.Length(min=1))
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit = fields.String(required=True, validate=validate.OneOf(UNITS))
    approaching_before = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    pauses_while_waiting_for_reporter = _StrictBool(required=True)

    @validates_schema
    def _consistent(self, data, **kwargs):
        errors = {}
        if data["starts_on"] in data["stops_on"]:
            errors["stops_on"] = ["Must not contain the starts_on event."]
        elif "closed" not in data["stops_on"]:
            errors["stops_on"] = ["Must contain 'closed': a closed case has no open clock."]
        if data["approaching_before"] > data["amount"]:
            errors["approaching_before"] = ["Must not be greater than amount."]
        if data["pauses_while_waiting_for_reporter"] and data["starts_on"] == "information_requested":
            errors["pauses_while_waiting_for_reporter"] = [
                "Must be false for a clock that starts on information_requested."]
        if errors:
            raise ValidationError(errors)


class _PackSchema(Schema):
    code = fields.String(required=True, validate=_CODE)
    name = fields.Nested(_Bilingual, required=True)
    description = fields.String(load_default="")
    rules = fields.List(fields.Nested(_RuleSchema), required=True, validate=validate.Length(min=1))

    @validates_schema
    def _unique_rules(self, data, **kwargs):
        codes = [r["code"] for r in data["rules"]]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValidationError({"rules": [f"Duplicate rule code(s): {', '.join(dupes)}."]})


class _HolidaySchema(Schema):
    date = fields.Date(required=True)
    name = fields.Nested(_Bilingual, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(HOLIDAY_KINDS))
    estimated = _StrictBool(required=True)


class _HolidayFileSchema(Schema):
    description = fields.String(load_default="")
    holidays = fields.List(fields.Nested(_HolidaySchema), required=True)


def _describe(messages: Mapping, raw: Any, path: str = "") -> list[str]:
    """Flatten marshmallow's nested messages into 'rules[2](investigation).amount: ...' lines."""
    out = []
    for key, value in messages.items():
        if isinstance(key, int):
            sub = raw[key] if isinstance(raw, list) and key < len(raw) else None
            code = sub.get("code") if isinstance(sub, dict) else None
            name = f"{path}[{key}]" + (f"({code})" if isinstance(code, str) else "")
        else:
            sub = raw.get(key) if isinstance(raw, dict) else None
            name = path if key == "_schema" else (f"{path}.{key}" if path else str(key))
        if isinstance(value, Mapping):
            out += _describe(value, sub, name)
        else:
            out += [f"{name or '(top level)'}: {m}" for m in value]
    return out


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {path}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None


# --- packs -------------------------------------------------------------------

@dataclass(frozen=True)
class DeadlineRule:
    code: str
    label: dict[str, str]
    starts_on: str
    stops_on: tuple[str, ...]
    amount: int
    unit: str
    approaching_before: int
    pauses_while_waiting_for_reporter: bool
    description: str = ""


@dataclass(frozen=True)
class DeadlinePack:
    code: str
    name: dict[str, str]
    rules: tuple[DeadlineRule, ...]
    description: str = ""

    def rule(self, code: str) -> DeadlineRule:
        for r in self.rules:
            if r.code == code:
                return r
        raise KeyError(f"pack {self.code!r} has no rule {code!r}")


def _build_pack(raw: Any, where: str) -> DeadlinePack:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected an object, got {type(raw).__name__}")
    try:
        data = _PackSchema().load(raw)
    except ValidationError as exc:
        raise ConfigError(f"{where}: " + "; ".join(_describe(exc.messages, raw))) from None
    rules = tuple(DeadlineRule(**{**r, "stops_on": tuple(r["stops_on"])}) for r in data["rules"])
    return DeadlinePack(code=data["code"], name=data["name"], rules=rules, description=data["description"])


def load_packs(path: str | Path | None = None) -> dict[str, DeadlinePack]:
    """Read and validate every pack of a pack file (the shipped one by default), keyed by code."""
    path = Path(path) if path else PACKS_FILE
    raw = _read_json(path, "deadline pack file")
    packs_raw = raw.get("packs") if isinstance(raw, dict) else None
    if not isinstance(packs_raw, list) or not packs_raw:
        raise ConfigError(f"deadline pack file {path}: expected an object with a non-empty 'packs' list")
    packs: dict[str, DeadlinePack] = {}
    for i, p in enumerate(packs_raw):
        code = p.get("code") if isinstance(p, dict) else None
        label = repr(code) if isinstance(code, str) else f"#{i}"
        pack = _build_pack(p, f"deadline pack file {path}: pack {label}")
        if pack.code in packs:
            raise ConfigError(f"deadline pack file {path}: pack {label}: code: Duplicate pack code.")
        packs[pack.code] = pack
    return packs


def override(pack: DeadlinePack, rule_code: str, **changes: Any) -> DeadlinePack:
    """A tenant's variant of a pack, e.g. ``override(lapor, "information_request", amount=21)``.

    Validated like the file, so a tenant setting cannot produce a rule the file could not.
    """
    pack.rule(rule_code)  # KeyError for an unknown rule
    raw = asdict(pack)
    raw["rules"] = [{**r, "stops_on": list(r["stops_on"]), **(changes if r["code"] == rule_code else {})}
                    for r in raw["rules"]]
    return _build_pack(raw, f"tenant override of pack {pack.code!r}, rule {rule_code!r}")


# --- holidays and working days -----------------------------------------------

@dataclass(frozen=True)
class Holiday:
    date: date
    name: dict[str, str]
    kind: str
    estimated: bool


def load_holiday_entries(path: str | Path | None = None) -> list[Holiday]:
    """Every entry of a holiday file (the shipped Indonesian one by default), with names for display."""
    path = Path(path) if path else HOLIDAYS_FILE
    raw = _read_json(path, "holiday file")
    try:
        data = _HolidayFileSchema().load(raw)
    except ValidationError as exc:
        raise ConfigError(f"holiday file {path}: " + "; ".join(_describe(exc.messages, raw))) from None
    return sorted((Holiday(**h) for h in data["holidays"]), key=lambda h: h.date)


def load_holidays(path: str | Path | None = None, extra: Iterable[date] = (),
                  cuti_bersama: bool = True) -> dict[int, list[date]]:
    """Non-working dates per year: the file's holidays plus a tenant's own regional ones (``extra``)."""
    dates = {h.date for h in load_holiday_entries(path) if cuti_bersama or h.kind != "cuti_bersama"}
    dates.update(extra)
    by_year: dict[int, list[date]] = {}
    for d in sorted(dates):
        by_year.setdefault(d.year, []).append(d)
    return by_year


class WorkingCalendar:
    """Working days: not a weekend day (Monday=0 .. Sunday=6) and not a holiday."""

    def __init__(self, holidays: Iterable[date] = (), weekend: Iterable[int] = (5, 6)):
        self.holidays = frozenset(holidays)
        self.weekend = frozenset(weekend)
        if not self.weekend <= set(range(7)) or len(self.weekend) == 7:
            raise ValueError(f"weekend must be weekday numbers 0-6 leaving a working day: {sorted(self.weekend)}")

    @classmethod
    def from_holidays(cls, by_year: Mapping[int, Iterable[date]], weekend: Iterable[int] = (5, 6)):
        return cls((d for dates in by_year.values() for d in dates), weekend)

    def is_working_day(self, d: date) -> bool:
        return d.weekday() not in self.weekend and d not in self.holidays

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after ``start`` (before it when n < 0); ``start`` itself never counts."""
        step, left, d = (1 if n >= 0 else -1), abs(n), start
        while left:
            d += timedelta(days=step)
            if self.is_working_day(d):
                left -= 1
        return d

    def working_days_between(self, a: date, b: date) -> int:
        """Working days in (a, b], so add_working_days(a, n) == b gives n; negative when b < a."""
        if b < a:
            return -self.working_days_between(b, a)
        return sum(self.is_working_day(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


def load_calendar(path: str | Path | None = None, extra: Iterable[date] = (),
                  weekend: Iterable[int] = (5, 6)) -> WorkingCalendar:
    return WorkingCalendar.from_holidays(load_holidays(path, extra), weekend)


def add_months(d: date, n: int) -> date:
    """Calendar months, the day clamped to the month's end (Jan 31 + 1 = Feb 28 or 29)."""
    year, month0 = divmod(d.month - 1 + n, 12)
    year += d.year
    return date(year, month0 + 1, min(d.day, _calendar.monthrange(year, month0 + 1)[1]))


# --- due dates ---------------------------------------------------------------

@dataclass(frozen=True)
class ClockEvent:
    kind: str
    at: datetime


@dataclass(frozen=True)
class Deadline:
    rule_code: str
    label: dict[str, str]
    due_at: datetime | None          # None while not_started
    approaching_at: datetime | None
    satisfied_at: datetime | None
    paused_days: int                 # in the rule's unit; calendar days for months
    state: str                       # running | paused | satisfied | breached | not_started


def _aware(at: datetime, what: str) -> None:
    if not isinstance(at, datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {at!r}")


def _due_day(rule: DeadlineRule, start: date, paused: int, cal: WorkingCalendar) -> date:
    if rule.unit == "working_days":
        return cal.add_working_days(start, rule.amount + paused)
    if rule.unit == "calendar_days":
        return start + timedelta(days=rule.amount + paused)
    return add_months(start, rule.amount) + timedelta(days=paused)


def _approaching_day(rule: DeadlineRule, due: date, cal: WorkingCalendar) -> date:
    n = rule.approaching_before
    if rule.unit == "working_days":
        return cal.add_working_days(due, -(n - 1))  # due is a working day: the last n working days
    if rule.unit == "calendar_days":
        return due - timedelta(days=n - 1)
    return add_months(due, -n) + timedelta(days=1)


def _pauses(events: list[ClockEvent]) -> list[tuple[int, int | None]]:
    """(request index, answer index or None) for each request for information to the reporter."""
    out, open_at = [], None
    for i, e in enumerate(events):
        if e.kind == "information_requested" and open_at is None:
            open_at = i
        elif e.kind == "information_received" and open_at is not None:
            out.append((open_at, i))
            open_at = None
    if open_at is not None:
        out.append((open_at, None))
    return out


def _deadline(rule, events, pauses, cal, zone, now) -> Deadline:
    starts = [i for i, e in enumerate(events) if e.kind == rule.starts_on]
    if not starts:
        return Deadline(rule.code, rule.label, None, None, None, 0, "not_started")
    s = starts[-1]

    def local(at: datetime) -> date:
        return at.astimezone(zone).date()

    start_day = local(events[s].at)
    stop = next((i for i in range(s + 1, len(events)) if events[i].kind in rule.stops_on), None)
    satisfied_at = events[stop].at if stop is not None else None

    paused, still_paused = 0, False
    due = _due_day(rule, start_day, 0, cal)
    if rule.pauses_while_waiting_for_reporter:
        for asked, answered in pauses:
            if (answered is not None and answered <= s) or (stop is not None and asked >= stop):
                continue  # wholly before this clock started, or after it stopped
            begin = events[max(asked, s)].at
            if local(begin) > due:
                break  # asked after the deadline had passed: that does not undo the breach
            ends = [i for i in (answered, stop) if i is not None]
            end = events[min(ends)].at if ends else now
            still_paused = not ends
            if rule.unit == "working_days":
                paused += cal.working_days_between(local(begin), local(end))
            else:
                paused += (local(end) - local(begin)).days
            due = _due_day(rule, start_day, paused, cal)

    due_at = datetime.combine(due, END_OF_DAY, zone)
    approaching_at = datetime.combine(_approaching_day(rule, due, cal), time(0), zone)
    if satisfied_at is not None:
        state = "satisfied" if satisfied_at <= due_at else "breached"
    elif still_paused:
        state = "paused"
    else:
        state = "breached" if now > due_at else "running"
    return Deadline(rule.code, rule.label, due_at, approaching_at, satisfied_at, paused, state)


def compute_deadlines(pack: DeadlinePack, history: list[ClockEvent], calendar: WorkingCalendar,
                      tz: str = "Asia/Jakarta", *, now: datetime) -> list[Deadline]:
    """One Deadline per rule of ``pack`` (in pack order) as of ``now``; later events are ignored."""
    _aware(now, "now")
    previous = None
    for e in history:
        if e.kind not in CLOCK_EVENTS:
            raise ValueError(f"unknown clock event {e.kind!r}; expected one of {', '.join(CLOCK_EVENTS)}")
        _aware(e.at, f"clock event {e.kind!r}")
        if previous is not None and e.at < previous:
            raise ValueError(f"clock events out of order at {e.kind!r} ({e.at.isoformat()})")
        previous = e.at
    events = [e for e in history if e.at <= now]
    zone, pauses = ZoneInfo(tz), _pauses(events)
    return [_deadline(rule, events, pauses, calendar, zone, now) for rule in pack.rules]


def due_notices(deadlines: Iterable[Deadline], now: datetime) -> list[tuple[str, str]]:
    """(rule_code, "approaching" | "breached") due by ``now``, oldest first; the scheduler emits each once.

    A late-satisfied deadline still owes its breach notice; a satisfied, paused
    or not started one owes no breach notice.
    """
    _aware(now, "now")
    found = []
    for order, d in enumerate(deadlines):
        if d.state in ("not_started", "satisfied"):
            continue
        if now >= d.approaching_at:
            found.append((d.approaching_at, order, 0, d.rule_code, "approaching"))
        if d.state in ("running", "breached") and now > d.due_at:
            found.append((d.due_at, order, 1, d.rule_code, "breached"))
    return [(code, kind) for *_, code, kind in sorted(found)]


# --- the officer's view: open rules and their state ----------------------------

QUEUE_STATES = ("on_time", "approaching", "breached")


def is_open(d: Deadline) -> bool:
    """A clock that has started and not stopped (a late stop is not open)."""
    return d.satisfied_at is None and d.state in ("running", "paused", "breached")


def queue_state(d: Deadline, now: datetime) -> str:
    """``on_time``, ``approaching`` or ``breached`` for an open rule; a paused
    clock is on time (it does not run while the reporter is asked). The case
    index computes the same in SQL (``case_index.STATE``)."""
    if d.state == "paused" or now < d.approaching_at:
        return "on_time"
    return "breached" if now > d.due_at else "approaching"


def nearest_open(found: Iterable[Deadline]) -> Deadline | None:
    """The open rule due first (the work queue sorts and filters by it)."""
    return min((d for d in found if is_open(d)), key=lambda d: d.due_at, default=None)
