"""What the benchmarks share: percentiles, a closed-loop load of keyed
submissions against intake's JSON API, and a process's memory from /proc."""

from __future__ import annotations

import http.client
import json
import os
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
