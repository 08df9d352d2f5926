"""``make bench``, the public edge (parts j and k; ``python -m peluit_local.bench_edge`` alone):

(j) 50 concurrent submitters against the receipt-hash bound: acknowledged
    submissions/s beside cores ÷ CPU seconds per Argon2id hash (measured here,
    as intake's pool runs it), p50/p99, intake's resident memory (now and
    peak), the receipt hashes per submission (intake's own count), and the CPU
    each service, PostgreSQL and RabbitMQ spend per submission (from /proc,
    until every service is idle again), which says where the time goes and
    what share of one machine the hash can have at most (hash ÷ all);
(k) a flood: ``PELUIT_BENCH_FLOOD_SECONDS`` (30) of ``PELUIT_BENCH_FLOOD_RATE``
    (200) requests/s of junk, oversized and slowly sent requests from ten
    addresses, against intake with its production limits, while one reporter
    files a report a second (retrying with the same Idempotency-Key after a
    503 or 429, as a client should): every report acknowledged once, its
    latency beside the same reporter's for 10 s just before the flood,
    nothing lost (the cases registered equal the reports).
"""

from __future__ import annotations

import logging
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()
logging.getLogger("amqp").setLevel(logging.ERROR)

import collections  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import select  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import peluit_common  # noqa: E402,F401

from .bench_load import CpuMeter, hash_cost, memory_mb, pct, submit_load  # noqa: E402
from .testing import TEST_LIMITS, count_cases, running_system, sample_report  # noqa: E402

RUNS = int(os.environ.get("PELUIT_BENCH_RUNS", "3"))
SERVICES = ("intake", "cases", "identity-vault", "notifications", "reporting")


def hash_bound() -> tuple[float, float]:
    """(CPU seconds per receipt hash, cores ÷ that): the most receipts a second this machine can hash."""
    from peluit_intake.hash_pool import cores

    per = hash_cost()
    return per, cores() / per


def hashes_now(seconds: float = 3.0) -> float:
    """Receipt hashes/s that one thread per core gets from this machine right now (wall clock, its other load included)."""
    from eventlet import tpool

    from peluit_intake.hash_pool import cores
    from peluit_intake.receipts import ReceiptKeys, WorkArea

    keys, done, end = ReceiptKeys(os.urandom(32)), [0], time.monotonic() + seconds

    def hasher():
        area = WorkArea()  # each thread its own, as each slot of intake's pool
        while time.monotonic() < end:
            tpool.execute(keys.lookup_hash, "1234567812345678", area)
            done[0] += 1

    pool = eventlet.GreenPool(cores())
    for _ in range(cores()):
        pool.spawn(hasher)
    pool.waitall()
    return done[0] / seconds


def receipt_hashes_done(system) -> float:
    """Receipt hashes intake has run (its pool's wait histogram counts each one)."""
    host, port = system.ops_url("intake").split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    found = re.search(r"^peluit_intake_receipt_hash_wait_seconds_count ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else float("nan")


def bench_fifty(system) -> None:
    per, bound = hash_bound()
    ncores = round(bound * per)
    print(f"(j) 50 concurrent submitters against the receipt-hash bound, median of {RUNS} runs of 1000")
    print(f"    Argon2id receipt hash as intake runs it: {per * 1000:.1f} ms CPU -> bound {bound:.1f} hashes/s on "
          f"{ncores} cores; hashing alone on every core, now: {hashes_now():.1f}/s")
    intake = system.processes["intake"].pid
    submit_load(system, 10, 50)  # warm-up
    rss0, _ = memory_mb(intake)
    rates, p50s, p99s, errors, cpu, tails, hashes = [], [], [], 0, collections.defaultdict(list), [], []
    meter = CpuMeter(system, SERVICES)
    for _ in range(RUNS):
        meter.start()
        hashed = receipt_hashes_done(system)
        elapsed, lat, err = submit_load(system, 50, 1000)
        tails.append(meter.settle())  # what the answers set going downstream is counted too
        for name, ms in meter.per(len(lat)).items():
            cpu[name].append(ms)
        hashes.append((receipt_hashes_done(system) - hashed) / max(1, len(lat)))
        rates.append(len(lat) / elapsed)
        p50s.append(pct(lat, 50) * 1000)
        p99s.append(pct(lat, 99) * 1000)
        errors += err
    rss, peak = memory_mb(intake)
    now = hashes_now()
    rate, p50, p99 = statistics.median(rates), statistics.median(p50s), statistics.median(p99s)
    print(f"    acknowledged {rate:.1f} subs/s = {rate / bound:.2f} of the bound (target >= 0.8; runs "
          + ", ".join(f"{r / bound:.2f}" for r in rates) + f"), {rate / now:.2f} of hashing alone just after "
          f"({now:.1f}/s); p50 {p50:.0f} ms, p99 {p99:.0f} ms, p99/p50 {p99 / p50:.2f} (target <= 3); "
          f"other answers {errors}")
    print(f"    intake resident memory: {rss0:.0f} MB before, {rss:.0f} MB after, peak {peak:.0f} MB "
          "(target <= 200 MB)")
    median = {name: statistics.median(values) for name, values in cpu.items()}
    total = sum(median.values())
    print(f"    CPU ms per acknowledged submission, counted until the services were idle again (median "
          f"{statistics.median(tails):.1f} s after the last answer); receipt hashes per submission "
          f"{statistics.median(hashes):.2f}:")
    print("      " + " | ".join(f"{name} {ms:.1f}" for name, ms in median.items()) + f" | all {total:.1f}")
    # One machine: the hash gets at most its share of the CPU a submission costs everything on it.
    share = per * 1000 / total
    print(f"    on one machine the hash has at most {per * 1000:.1f} of every {total:.1f} CPU ms: at most "
          f"{1000 * ncores / total:.1f} subs/s = {share:.2f} of the bound; measured {rate / bound:.2f} "
          f"({rate / bound / share:.2f} of what this machine allows)")
    print(f"    with intake on cores of its own (the rest on other machines) the hash has {per * 1000:.1f} of intake's "
          f"{median['intake']:.1f} CPU ms: at most {per * 1000 / median['intake']:.2f} of the bound")


# -- (k) the flood ---------------------------------------------------------------------------

FLOOD_ENV = {"PELUIT_THROTTLE_SCALE": "1", "PELUIT_THROTTLE_REPORT": "200/3600", "PELUIT_PROXY_HOPS": "1"}
ATTACKERS = [f"203.0.113.{n}" for n in range(1, 11)]
REPORTER = "192.0.2.77"


def _raw(host: str, port: int, head: bytes, body: bytes = b"", drip: float = 0.0) -> str:
    """One request on its own connection; ``drip``: send the body a byte at a time, so slowly."""
    try:
        sock = socket.create_connection((host, port), timeout=60)
    except OSError:
        return "connect"
    try:
        sock.sendall(head if drip else head + body)
        if drip:
            for byte in body:
                sock.sendall(bytes([byte]))
                if select.select([sock], [], [], drip)[0]:  # intake answered (its body deadline) meanwhile
                    break
        answer = sock.recv(64)
        return answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "closed"
    except OSError:
        return "closed"  # intake ended it (the body deadline) while the body was still being sent
    finally:
        sock.close()


def flood_request(host: str, port: int, n: int) -> str:
    who = random.choice(ATTACKERS)
    kind = n % 10
    common = f"Host: {host}\r\nX-Forwarded-For: {who}\r\nContent-Type: application/json\r\n"
    if kind in (0, 1, 2):  # junk JSON
        body = b'{"tenant": [1, 2, {"x": ' + os.urandom(40).hex().encode()
        return _raw(host, port, f"POST /api/v1/reports HTTP/1.1\r\n{common}Content-Length: {len(body)}\r\n"
                                f"Connection: close\r\n\r\n".encode(), body)
    if kind == 3:  # receipts guessed: each one an Argon2id hash until the throttle stops the address
        body = json.dumps({"receipt": "".join(random.choice("0123456789") for _ in range(16))}).encode()
        return _raw(host, port, f"POST /api/v1/reports/status HTTP/1.1\r\n{common}Content-Length: {len(body)}\r\n"
                                f"Connection: close\r\n\r\n".encode(), body)
    if kind == 4:  # unknown paths and methods
        return _raw(host, port, f"DELETE /api/v1/{uuid.uuid4().hex} HTTP/1.1\r\n{common}Connection: close\r\n\r\n"
                    .encode())
    if kind in (5, 6):  # oversized: announced, then a little sent
        return _raw(host, port, f"POST /api/v1/reports/evidence HTTP/1.1\r\n{common}Content-Length: 900000000\r\n"
                                f"Connection: close\r\n\r\n".encode(), os.urandom(4096))
    if kind == 7:  # oversized JSON, really sent
        body = b'{"what": "' + b"A" * 200_000 + b'"}'
        return _raw(host, port, f"POST /api/v1/reports HTTP/1.1\r\n{common}Content-Length: {len(body)}\r\n"
                                f"Connection: close\r\n\r\n".encode(), body)
    # slow: a small body sent a byte every two seconds (slowloris)
    body = json.dumps(sample_report()).encode()[:400]
    return _raw(host, port, f"POST /api/v1/reports HTTP/1.1\r\n{common}Content-Length: {len(body)}\r\n"
                            f"Connection: close\r\n\r\n".encode(), body, drip=2.0)


def reporter(host: str, port: int, seconds: float, results: list) -> None:
    """One report a second, each retried with its own key until acknowledged."""
    start = time.monotonic()
    pool = eventlet.GreenPool(100)

    def one(n: int):
        key, body, t0, attempts = str(uuid.uuid4()), json.dumps(sample_report()), time.monotonic(), 0
        while time.monotonic() - t0 < 120:
            attempts += 1
            try:
                conn = http.client.HTTPConnection(host, port, timeout=60)
                conn.request("POST", "/api/v1/reports", body=body, headers={
                    "Content-Type": "application/json", "Idempotency-Key": key, "X-Forwarded-For": REPORTER})
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
            except OSError:
                eventlet.sleep(1)
                continue
            if resp.status == 201:
                results.append((key, json.loads(data)["registration_number"], time.monotonic() - t0, attempts))
                return
            eventlet.sleep(float(resp.getheader("Retry-After") or 1))
        results.append((key, None, time.monotonic() - t0, attempts))

    n = 0
    while time.monotonic() - start < seconds:
        pool.spawn(one, n)
        n += 1
        eventlet.sleep(max(0.0, start + n - time.monotonic()))
    pool.waitall()


def bench_flood(system) -> None:
    seconds = float(os.environ.get("PELUIT_BENCH_FLOOD_SECONDS", "30"))
    rate = float(os.environ.get("PELUIT_BENCH_FLOOD_RATE", "200"))
    with system.restarted("intake", FLOOD_ENV):
        host, port = system.url("intake").split("//")[1].split(":")
        port = int(port)
        intake = system.processes["intake"].pid
        outcomes: collections.Counter = collections.Counter()
        results: list = []
        baseline: list = []
        reporter(host, port, 10, baseline)  # the same reporter without the flood, just before it
        before = count_cases(system)
        flood = eventlet.GreenPool(5000)

        def attack(n):
            outcomes[flood_request(host, port, n)] += 1

        legit = eventlet.spawn(reporter, host, port, seconds, results)
        start, n = time.monotonic(), 0
        while time.monotonic() - start < seconds:
            flood.spawn_n(attack, n)
            n += 1
            eventlet.sleep(max(0.0, start + n / rate - time.monotonic()))
        sent = n
        legit.wait()
        flood.waitall()
        peak = memory_mb(intake)[1]
        registered = count_cases(system) - before
    acknowledged = [r for r in results if r[1] is not None]
    latencies = [r[2] for r in acknowledged]
    numbers = {r[1] for r in acknowledged}
    print(f"(k) flood: {sent} junk, oversized and slow requests in {seconds:.0f} s ({sent / seconds:.0f}/s) from "
          f"{len(ATTACKERS)} addresses; answers: "
          + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print(f"    one reporter, a report a second: {len(results)} filed, {len(acknowledged)} acknowledged, "
          f"{len(numbers)} distinct registration numbers, {registered} cases registered "
          f"({'nothing lost' if len(acknowledged) == len(results) == registered == len(numbers) else 'LOST OR DOUBLED'})")
    if latencies:
        print(f"    reporter latency (first attempt to receipt): p50 {pct(latencies, 50) * 1000:.0f} ms, "
              f"p99 {pct(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; retries "
              f"{sum(r[3] - 1 for r in results)}; intake peak resident memory {peak:.0f} MB")
    quiet = [r[2] for r in baseline if r[1] is not None]
    if quiet:
        print(f"    the same reporter just before, without the flood: {len(quiet)} of {len(baseline)} acknowledged, "
              f"p50 {pct(quiet, 50) * 1000:.0f} ms, p99 {pct(quiet, 99) * 1000:.0f} ms")


def main() -> int:
    print(f"Peluit benchmarks, the edge, on {os.cpu_count()} cores ({time.strftime('%Y-%m-%d %H:%M')})\n")
    with running_system(extra_env={"PELUIT_RPC_TIMEOUT": "30", **TEST_LIMITS}, tap=False) as system:
        bench_fifty(system)
        if float(os.environ.get("PELUIT_BENCH_FLOOD_SECONDS", "30")) > 0:  # 0: part (j) alone
            bench_flood(system)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
