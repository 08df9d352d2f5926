"""What the benchmarks share: percentiles, a closed-loop load of keyed
submissions against intake's JSON API, a process's memory from /proc, the
receipt hash's CPU as intake spends it, and the CPU a load costs each service,
PostgreSQL and RabbitMQ (``CpuMeter``)."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import time
import uuid

import eventlet

from .testing import sample_report


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def submit_load(system, concurrency: int, total: int, instances: list[str] | None = None,
                ) -> tuple[float, list[float], int]:
    """(seconds, latencies of the 201s, other answers): ``concurrency`` submitters, ``total`` reports;
    submitter i sends to intake instance i modulo ``instances`` (default: ``intake`` alone)."""
    addresses = [system.url(name).split("//")[1].split(":") for name in instances or ["intake"]]
    latencies: list[float] = []
    errors = [0]
    remaining = [total]

    def submitter(i):
        host, port = addresses[i % len(addresses)]
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        while remaining[0] > 0:
            remaining[0] -= 1
            body = json.dumps(sample_report(identity={"name": f"Bench {i}", "email": f"bench{i}@example.id"}))
            t0 = time.perf_counter()
            conn.request("POST", "/api/v1/reports", body=body,
                         headers={"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())})
            resp = conn.getresponse()
            resp.read()
            if resp.status == 201:
                latencies.append(time.perf_counter() - t0)
            else:
                errors[0] += 1

    pool = eventlet.GreenPool(concurrency)
    t0 = time.perf_counter()
    for i in range(concurrency):
        pool.spawn(submitter, i)
    pool.waitall()
    return time.perf_counter() - t0, latencies, errors[0]


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, in MB."""
    fields = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used."""
    with open(f"/proc/{pid}/stat") as fh:
        parts = fh.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def hash_cost(runs: int = 30) -> float:
    """CPU seconds per receipt hash as intake's pool runs it (in a slot's work area)."""
    from peluit_intake.receipts import ReceiptKeys, WorkArea

    keys, area = ReceiptKeys(os.urandom(32)), WorkArea()
    keys.lookup_hash("1234567812345678", area)
    t0 = time.process_time()
    for _ in range(runs):
        keys.lookup_hash("1234567812345678", area)
    return (time.process_time() - t0) / runs


def broker_pid() -> int | None:
    """The process listening on RabbitMQ's port (the machine's one node), if ``ss`` can tell."""
    try:
        out = subprocess.run(["ss", "-Hltnp", "sport = :5672"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    start = out.find("pid=")
    return int(out[start + 4:].split(",")[0]) if start >= 0 else None


class CpuMeter:
    """CPU seconds spent from ``start()`` on by each service's process, by the PostgreSQL
    backends of this system's databases and by the broker (less its own rate just before:
    the node is shared with whatever else runs on the machine)."""

    def __init__(self, system, services):
        self.system, self.services, self.broker = system, tuple(services), broker_pid()

    def _backends(self) -> list[int]:
        import psycopg

        from . import bootstrap

        with psycopg.connect(bootstrap.admin_dsn("postgres"), autocommit=True) as conn:
            return [pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname LIKE %s",
                                                   (self.system.prefix + "\\_%",))]

    def _read(self) -> dict:
        """{service: seconds, ("PostgreSQL", pid): seconds per backend, "RabbitMQ": seconds}"""
        got = {s: _cpu(self.system.processes[s].pid) for s in self.services}
        got.update({("PostgreSQL", pid): _cpu(pid) for pid in self._backends()})
        if self.broker:
            got["RabbitMQ"] = _cpu(self.broker)
        return got

    def start(self, idle_seconds: float = 2.0) -> None:
        """Start counting, after measuring the broker's rate while this system is idle."""
        first = _cpu(self.broker) if self.broker else 0.0
        time.sleep(idle_seconds)
        self.broker_idle = ((_cpu(self.broker) if self.broker else 0.0) - first) / idle_seconds
        self.t0, self.before = time.monotonic(), self._read()

    def settle(self, quiet_ms: float = 30.0, step: float = 0.5, limit: float = 60.0) -> float:
        """Wait until the services are idle again (their work downstream of the answers done:
        cases' envelopes, notifications, reporting), the last ``step`` using under ``quiet_ms``
        of CPU; the seconds waited."""
        t0, last = time.monotonic(), sum(self._read()[s] for s in self.services)
        while time.monotonic() - t0 < limit:
            time.sleep(step)
            now = sum(self._read()[s] for s in self.services)
            if (now - last) * 1000 < quiet_ms:
                break
            last = now
        return time.monotonic() - t0

    def per(self, count: int) -> dict[str, float]:
        """CPU milliseconds per ``count`` (acknowledged submissions) since ``start``, by process."""
        after, seconds = self._read(), time.monotonic() - self.t0
        spent: dict[str, float] = {}
        for key, value in after.items():  # a backend started meanwhile counts from 0; one that ended is lost
            name = key[0] if isinstance(key, tuple) else key
            spent[name] = spent.get(name, 0.0) + value - self.before.get(key, 0.0)
        if "RabbitMQ" in spent:
            spent["RabbitMQ"] = max(0.0, spent["RabbitMQ"] - self.broker_idle * seconds)
        return {k: v / max(1, count) * 1000 for k, v in spent.items()}


def _cpu(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # a backend that ended meanwhile: its time is gone with it
        return 0.0
