"""The sandboxed evidence worker (``python -m peluit_intake.evidence_worker
MEMORY_MB CPU_SECONDS TASKS``): limits first, then one file per frame on stdin,
one answer per frame on stdout (``evidence_sandbox`` is the other side).

Limits are set before a single untrusted byte is read: RLIMIT_AS (an
allocation past it fails: MemoryError, or the process dies), RLIMIT_CPU per
file (SIGXCPU ends the process), RLIMIT_CORE 0 (a core dump would hold the
reporter's original), RLIMIT_FSIZE (mat2's temporary files), and the highest
OOM score (a container at its memory limit loses a worker, not intake). mat2
runs as a child and inherits them.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys

MB = 1024 * 1024
HEADER_MAX = 64 * 1024
_LENGTHS = struct.Struct(">IQ")  # header length, body length


def write_frame(stream, header: dict, body: bytes = b"") -> None:
    raw = json.dumps(header).encode()
    stream.write(_LENGTHS.pack(len(raw), len(body)) + raw)
    stream.write(body)
    stream.flush()


def read_frame(stream, body_max: int) -> tuple[dict, bytes]:
    """One frame; ``EOFError`` when the other side is gone, ``ValueError`` when it lies."""
    head_len, body_len = _LENGTHS.unpack(_read_exact(stream, _LENGTHS.size))
    if head_len > HEADER_MAX or body_len > body_max:
        raise ValueError("frame too large")
    header = json.loads(_read_exact(stream, head_len))
    if not isinstance(header, dict):
        raise ValueError("bad header")
    return header, _read_exact(stream, body_len)


def _read_exact(stream, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("worker gone")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def limit(memory_mb: int, cpu_seconds: int, tasks: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:  # when the container as a whole runs out of memory, the kernel ends a worker, never intake
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * MB, memory_mb * MB))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * MB, 256 * MB))
    # the hard CPU limit covers every file this worker may take; the soft one is moved per file
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds * (tasks + 1)))


def cpu_budget(cpu_seconds: int) -> None:
    """The next file may use ``cpu_seconds`` more CPU time than this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    resource.setrlimit(resource.RLIMIT_CPU, (min(used + cpu_seconds, hard), hard))


def serve(memory_mb: int, cpu_seconds: int, tasks: int) -> None:
    limit(memory_mb, cpu_seconds, tasks)
    # imported after the limits: the parsers' own start-up runs under them too
    from .evidence_checks import Detected, Limits, Refusal, check
    from .evidence_strip import strip

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the parent's pipe
    for _ in range(tasks):
        try:
            header, data = read_frame(stdin, 64 * MB)
        except EOFError:
            return
        cpu_budget(cpu_seconds)
        index, limits = header["index"], Limits(**header["limits"])
        try:
            if header["op"] == "check":
                write_frame(stdout, {"kind": check(data, index, limits).kind})
            else:
                write_frame(stdout, {}, strip(data, Detected(header["kind"]), index, limits))
        except Refusal as refusal:
            write_frame(stdout, {"refusal": refusal.code, "params": refusal.params})
        except MemoryError:
            os._exit(3)  # the heap may be half-built: end here, the parent refuses the file
        except Exception as exc:  # a parser fault we did not map: the parent refuses the file
            write_frame(stdout, {"error": type(exc).__name__})
        del data


if __name__ == "__main__":
    serve(*(int(arg) for arg in sys.argv[1:4]))
