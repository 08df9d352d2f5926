"""Untrusted files are parsed in worker processes, never in intake itself.

Checking and stripping (Pillow, pikepdf/qpdf, mat2 with poppler and cairo,
zipfile, expat) run in a small pool of ``python -m peluit_intake.evidence_worker``
processes, each under RLIMIT_AS (memory), RLIMIT_CPU (per file), no core
files (a core would hold the original) and a wall-clock deadline. A
decompression bomb or a parser crash ends that worker only: the file is refused
with ``unsafe_file`` (bilingual, by position), a fresh worker takes its place,
and intake keeps serving. The pipes are green (``eventlet.green.subprocess``),
so waiting for a worker never blocks the hub.

The parent trusts nothing a worker says: replies are length-bounded frames of
JSON plus bytes (no pickle: a worker that a parser exploit took over must not
get code into intake), refusal codes must be known ones.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import asdict

import eventlet
from eventlet.green import subprocess
from eventlet.semaphore import Semaphore
from prometheus_client import Counter

from peluit_common.settings import env_int
from peluit_contracts.evidence import MAX_FILE_BYTES, TYPES

from .evidence_checks import REFUSALS, Detected, Limits, Refusal
from .evidence_worker import read_frame, write_frame

log = logging.getLogger(__name__)

WORKER_FAILURES = Counter("peluit_intake_evidence_worker_failures_total",
                          "Evidence workers ended by a limit, a crash or a deadline", ["reason"])

class _Worker:
    def __init__(self, memory_mb: int, cpu_seconds: int, tasks: int):
        self.tasks_left = tasks
        # no PELUIT_ settings: the worker needs none, and keys or database addresses must not reach it
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "PYTHONPATH", "VIRTUAL_ENV") or k.startswith("LC_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "peluit_intake.evidence_worker", str(memory_mb), str(cpu_seconds), str(tasks)],
            # stderr: nothing (service logs are JSON lines); what went wrong comes back as a frame or exit status
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True)

    def call(self, header: dict, body: bytes, body_max: int) -> tuple[dict, bytes]:
        self.tasks_left -= 1
        write_frame(self.proc.stdin, header, body)
        return read_frame(self.proc.stdout, body_max)

    def alive(self) -> bool:
        return self.proc.poll() is None and self.tasks_left > 0

    def end(self) -> None:
        """Kill (it may be stuck in a bomb) and reap, so no zombie is left."""
        if self.proc.poll() is None:
            self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.proc.wait()


class Sandbox:
    """A pool of at most ``workers`` worker processes, started on demand and
    reused for ``tasks`` files each (then replaced: a fresh heap, a fresh CPU budget)."""

    def __init__(self, workers: int = 2, memory_mb: int = 512, cpu_seconds: int = 30, wall_seconds: int = 60,
                 tasks: int = 200):
        self.memory_mb, self.cpu_seconds, self.wall_seconds, self.tasks = memory_mb, cpu_seconds, wall_seconds, tasks
        self._slots = Semaphore(max(1, workers))
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()

    @classmethod
    def from_env(cls) -> Sandbox:
        return cls(workers=env_int("PELUIT_EVIDENCE_WORKERS", 2),
                   memory_mb=env_int("PELUIT_EVIDENCE_WORKER_MEMORY_MB", 512),
                   cpu_seconds=env_int("PELUIT_EVIDENCE_WORKER_CPU_SECONDS", 30),
                   wall_seconds=env_int("PELUIT_EVIDENCE_WORKER_WALL_SECONDS", 60))

    def check(self, data: bytes, index: int, limits: Limits) -> Detected:
        header, _ = self._run({"op": "check", "index": index, "limits": asdict(limits)}, data, index, 0)
        if header.get("kind") not in TYPES:
            log.warning("evidence worker named a type intake does not know")
            raise Refusal("unsafe_file", index)
        return Detected(header["kind"])

    def strip(self, data: bytes, detected: Detected, index: int, limits: Limits) -> bytes:
        _, body = self._run({"op": "strip", "index": index, "kind": detected.kind, "limits": asdict(limits)},
                            data, index, MAX_FILE_BYTES)
        return body

    @property
    def worker_pids(self) -> list[int]:
        """The process ids of this pool's workers, idle or busy (for operations and tests)."""
        return [w.proc.pid for w in self._live]

    def close(self) -> None:
        while self._idle:
            self._end(self._idle.pop())

    def _take(self) -> _Worker:
        """An idle worker that still runs (one may have been killed while it waited), or a new one."""
        while self._idle:
            worker = self._idle.pop()
            if worker.alive():
                return worker
            self._end(worker)
        worker = _Worker(self.memory_mb, self.cpu_seconds, self.tasks)
        self._live.add(worker)
        return worker

    def _end(self, worker: _Worker) -> None:
        worker.end()
        self._live.discard(worker)

    def _run(self, header: dict, data: bytes, index: int, body_max: int) -> tuple[dict, bytes]:
        with self._slots:
            worker = self._take()
            try:
                reply, body = self._exchange(worker, header, data, index, body_max)
            except Refusal:
                raise  # that worker is ended already
            except BaseException:
                # e.g. the caller's own deadline killed this green thread mid-exchange: the pipe may still
                # get this file's answer, which must never reach the next file
                self._end(worker)
                raise
            if worker.alive():
                self._idle.append(worker)
            else:
                self._end(worker)
        if reply.get("error"):
            # a Python exception the parsers did not map (the worker answered and lives on)
            log.warning("evidence worker: unexpected %s on file %s", reply["error"], index)
            WORKER_FAILURES.labels("exception").inc()
            raise Refusal("unsafe_file", index)
        if "refusal" in reply:
            raise _refusal(reply, index)
        return reply, body

    def _exchange(self, worker: _Worker, header: dict, data: bytes, index: int, body_max: int) -> tuple[dict, bytes]:
        """The worker's answer; a worker that dies, lies or overruns the deadline is ended and the file refused."""
        deadline = eventlet.Timeout(self.wall_seconds)
        try:
            return worker.call(header, data, body_max)
        except eventlet.Timeout as fired:
            if fired is not deadline:
                raise  # someone else's deadline
            reason, exc = "deadline", None
        except (EOFError, OSError, ValueError) as error:
            if isinstance(error, EOFError):
                with eventlet.Timeout(2, False):  # it is gone: its exit status says why
                    worker.proc.wait()
            reason, exc = _reason(worker), error
        finally:
            deadline.cancel()
        self._end(worker)
        WORKER_FAILURES.labels(reason).inc()
        log.warning("evidence worker ended on file %s: %s (%s)", index, reason, type(exc).__name__ if exc else "")
        raise Refusal("unsafe_file", index)


def _reason(worker: _Worker) -> str:
    code = worker.proc.poll()
    if code is None:
        return "protocol"
    # 3: the worker caught MemoryError (RLIMIT_AS) and ended itself
    return {3: "memory", -9: "killed", -24: "cpu_time", -11: "crash", -6: "abort"}.get(code, f"exit_{code}")


def _refusal(reply: dict, index: int) -> Refusal:
    code, params = reply.get("refusal"), reply.get("params") or {}
    if code not in REFUSALS or not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, (int, str)) and len(str(v)) < 32 for k, v in params.items()):
        log.warning("evidence worker: a refusal intake does not know")
        return Refusal("unsafe_file", index)
    return Refusal(code, index, **params)


_default: Sandbox | None = None


def sandbox() -> Sandbox:
    """The process's pool (configured from the environment on first use)."""
    global _default
    if _default is None:
        _default = Sandbox.from_env()
    return _default
