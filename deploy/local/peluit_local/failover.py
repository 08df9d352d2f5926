"""Two of everything, driven from outside: which instance leads, a keyed
submission load that fails over between intake instances as a load balancer
would, and how long a leader's takeover takes. Used by
``tests/system/test_failover.py`` and ``make bench-scale`` (part n).

The leaders are rows, not processes: the cases relay, case index and envelope
log and the reporting follower each lock their position row ``FOR UPDATE SKIP
LOCKED`` for one step (a page) at a time, so the leader is whichever instance
holds that lock now. Each instance names itself in ``application_name``
(``cases/1``), so PostgreSQL says which one holds it.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from .system import instance_name
from .testing import admin_connect, eventually, sample_report

# leader: (service, table, key column, key)
LEADERS = {
    "relay": ("cases", "relay_position", "name", "domain"),
    "case index": ("cases", "relay_position", "name", "case_index"),
    "envelope log": ("cases", "relay_position", "name", "envelope_log"),
    "reporting follower": ("reporting", "tracking", "upstream", "cases"),
}
TAKEOVER_LIMIT = 5.0  # seconds, issue 18: another instance takes over within 5 s


def position(system, leader: str) -> int:
    service, table, column, key = LEADERS[leader]
    with admin_connect(system, service) as conn:
        return conn.execute(f"SELECT position FROM peluit.{table} WHERE {column} = %s", (key,)).fetchone()[0]


def holders(system, service: str) -> dict[str, str]:
    """{leader: instance (``cases.1``)} for ``service``'s leaders whose row an open transaction holds
    now. A row locked ``FOR UPDATE`` carries the locker's transaction id in ``xmax``, and a running
    transaction holds a lock on its own id."""
    mine = {key: leader for leader, (svc, _, _, key) in LEADERS.items() if svc == service}
    _, table, column, _ = LEADERS[next(iter(mine.values()))]
    with admin_connect(system, service) as conn:
        rows = conn.execute(
            f"SELECT r.{column}, a.application_name FROM peluit.{table} r"
            " JOIN pg_locks l ON l.locktype = 'transactionid' AND l.transactionid = r.xmax"
            " AND l.granted AND l.mode = 'ExclusiveLock' JOIN pg_stat_activity a ON a.pid = l.pid").fetchall()
    out = {}
    for key, application in rows:
        if key in mine and "/" in application:
            name, index = application.rsplit("/", 1)
            out[mine[key]] = instance_name(name, int(index))
    return out


def kill_leader(system, leader: str, timeout: float = 20, prefer: float = 3) -> tuple[str, dict[str, str], float]:
    """kill -9 the instance caught holding ``leader``'s row (under load it is held most of the
    time), for ``prefer`` seconds only at a moment it holds every leader of its service at once:
    (that instance, what each of its service's leaders was held by then, when)."""
    service = LEADERS[leader][0]
    everything = sum(1 for svc, *_ in LEADERS.values() if svc == service)
    start = time.monotonic()
    while time.monotonic() < start + timeout:
        held = holders(system, service)
        if leader in held and (list(held.values()).count(held[leader]) == everything
                               or time.monotonic() > start + prefer):
            killed_at = time.monotonic()
            system.kill(held[leader])
            return held[leader], held, killed_at
        time.sleep(0.005)
    raise AssertionError(f"no instance was seen leading the {leader} in {timeout:.0f} s")


def takeover_seconds(system, leaders: dict[str, tuple[int, float]], timeout: float = 30) -> dict[str, float]:
    """{leader: seconds from its leading instance's death until its position moved on}, given
    {leader: (position then, monotonic time of the kill)}: under load that is another instance at
    work. inf: not within ``timeout``."""
    taken: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(taken) < len(leaders) and time.monotonic() < deadline:
        for leader, (before, since) in leaders.items():
            if leader not in taken and position(system, leader) > before:
                taken[leader] = time.monotonic() - since
        time.sleep(0.02)
    return {leader: taken.get(leader, float("inf")) for leader in leaders}


def kill_the_leaders(system) -> tuple[dict[str, str], dict[str, float], list[str]]:
    """Under load, kill -9 the cases instance leading the relay and the reporting instance leading
    the follower; measure every leader's takeover, then start the two again (``wait_ready`` is the
    caller's). ({leader: the instance that held it when its service's instance was killed, '-' none},
    {leader: takeover seconds}, [the two instances])."""
    killed, led, since = [], {}, {}
    for first in ("relay", "reporting follower"):
        name, held, at = kill_leader(system, first)
        killed.append(name)
        for leader, (service, *_) in LEADERS.items():
            if service == LEADERS[first][0]:
                # read after the kill: the dead instance commits nothing more (a move by the survivor
                # meanwhile makes the takeover look later, never earlier)
                led[leader], since[leader] = held.get(leader, "-"), (position(system, leader), at)
    taken = takeover_seconds(system, since)
    for name in killed:
        system.start(name)
    return led, taken, killed


@dataclass
class Load:
    """Reports keyed by Idempotency-Key from ``concurrency`` submitters, spread over the intake
    instances. A connection refused or cut goes to the next instance with the same key (what a load
    balancer does for an instance that went away); an HTTP answer other than 201 is recorded in
    ``errors`` and, with ``retry_errors``, submitted again with the same key (the reporter's retry)."""

    system: object
    tenant: str = "35.78"
    concurrency: int = 4
    retry_errors: bool = False
    acknowledged: dict = field(default_factory=dict)  # key -> registration number
    errors: list = field(default_factory=list)  # (key, status)
    failovers: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list = field(default_factory=list)

    def __post_init__(self):
        self._urls = itertools.cycle([self.system.url(n) for n in self.system.instance_names("intake")])

    def start(self) -> Load:
        for _ in range(self.concurrency):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wait_for(self, count: int, timeout: float = 60) -> None:
        if not eventually(lambda: len(self.acknowledged) >= count, timeout=timeout, interval=0.05):
            raise AssertionError(f"{len(self.acknowledged)} of {count} reports acknowledged in {timeout:.0f} s")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(120)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            key = str(uuid.uuid4())
            body = sample_report(tenant=self.tenant, what=f"Laporan uji dua instans {key}")
            deadline = time.monotonic() + 90  # a key is seen through even after stop(): none is left unanswered
            while time.monotonic() < deadline:
                try:
                    resp = session.post(next(self._urls) + "/api/v1/reports", json=body, timeout=30,
                                        headers={"Idempotency-Key": key})
                except requests.ConnectionError:
                    self.failovers += 1
                    time.sleep(0.05)
                    continue
                if resp.status_code == 201:
                    self.acknowledged[key] = resp.json()["registration_number"]
                    break
                self.errors.append((key, resp.status_code))
                if not self.retry_errors:
                    break
                time.sleep(0.3)
            else:
                self.errors.append((key, "gave up"))


def registration_numbers(system, tenant: str) -> list[int]:
    """The serial numbers of every case registered for ``tenant``, as stored (repeats kept)."""
    with admin_connect(system, "cases") as conn:
        rows = conn.execute(
            "SELECT convert_from(state, 'UTF8')::jsonb->>'registration_number' FROM peluit.cases_events"
            " WHERE topic LIKE %s", ("%Case.Registered",)).fetchall()
    return sorted(int(n.rsplit("/", 1)[1]) for (n,) in rows if n.split("/")[1] == tenant)


def followers_converged(system, numbers: list[str], timeout: float = 60) -> dict[str, bool]:
    """Notifications and reporting hold exactly one row for each of ``numbers`` (and no more), and
    reporting's status counts agree with its cases."""
    numbers = list(numbers)
    out = {}
    for name, service, query in (
            ("notifications", "notifications",
             "SELECT count(*), count(DISTINCT registration_number) FROM peluit.officer_notification"
             " WHERE registration_number = ANY(%s)"),
            ("reporting", "reporting",
             "SELECT count(*), count(DISTINCT registration_number) FROM peluit.case_summary"
             " WHERE registration_number = ANY(%s)")):
        with admin_connect(system, service) as conn:
            out[name] = bool(eventually(lambda: conn.execute(query, (numbers,)).fetchone() == (
                len(numbers), len(numbers)), timeout=timeout))
    with admin_connect(system, "reporting") as conn:
        per_tenant = dict(conn.execute("SELECT tenant, count(*) FROM peluit.case_summary GROUP BY tenant").fetchall())
        counted = dict(conn.execute("SELECT tenant, sum(count) FROM peluit.tenant_status_count GROUP BY tenant"))
    out["reporting counts"] = per_tenant == counted
    return out
