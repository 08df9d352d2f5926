"""The evidence sandbox with real worker processes: decompression bombs (a PDF
object stream, a PNG, an Office XML part), a CPU hog and a crashing parser end
or fail one worker only; the file is refused with a catalogue code and the pool
serves the next file at once; waiting never blocks the eventlet hub. Small
limits keep the bombs small and fast; the defaults are in docs/channels.md."""

from __future__ import annotations

import io
import os
import resource
import signal
import struct
import zipfile
import zlib
from functools import cache

import eventlet
import pytest

from peluit_common.testing import png_bomb
from peluit_intake.evidence_checks import Limits, Refusal, Refused, check_all
from peluit_intake.evidence_sandbox import Sandbox
from peluit_intake.evidence_strip import strip_all

LIMITS = Limits()


@pytest.fixture
def pool():
    sandbox = Sandbox(workers=1, memory_mb=256, cpu_seconds=20, wall_seconds=30)
    yield sandbox
    sandbox.close()


@cache
def objstm_bomb(padding: int = 400_000_000) -> bytes:
    """A valid PDF 1.5 whose catalog lives in an object stream padded with
    ``padding`` spaces: about 400 kB that a reader must inflate to 400 MB."""
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>"]
    body, offsets = b"", []
    for obj in objs:
        offsets.append(len(body))
        body += obj + b"\n"
    head = b" ".join(b"%d %d" % (n, off) for n, off in zip((1, 2, 3), offsets)) + b"\n"
    deflate = zlib.compressobj(9)
    parts = [deflate.compress(head + body)]
    chunk = b" " * 10_000_000
    parts += [deflate.compress(chunk) for _ in range(padding // len(chunk))]
    data = b"".join(parts) + deflate.flush()
    out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n"
    stream_at = len(out)
    out += (b"4 0 obj\n<< /Type /ObjStm /N 3 /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
            % (len(head), len(data)) + data + b"\nendstream\nendobj\n")
    xref_at = len(out)
    rows = [struct.pack(">BIH", 0, 0, 65535)] + [struct.pack(">BIH", 2, 4, i) for i in range(3)] + [
        struct.pack(">BIH", 1, stream_at, 0), struct.pack(">BIH", 1, xref_at, 0)]
    xref = b"".join(rows)
    return out + (b"5 0 obj\n<< /Type /XRef /Size 6 /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n" % len(xref)
                  + xref + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_at)


@cache
def office_bomb(elements: int = 1_500_000) -> bytes:
    """A DOCX whose document.xml holds 1.5 million small elements with random
    attributes: it compresses only ~6:1 (no zip-bomb ratio to refuse) and the
    XML tree of it needs several hundred MB."""
    noise = os.urandom(elements * 2).hex()
    xml = ('<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
           + "".join(f'<w:p w:n="{noise[i * 4:i * 4 + 4]}"/>' for i in range(elements)) + "</w:document>")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>'))
        z.writestr("word/document.xml", xml)
    return out.getvalue()


def refused(pool: Sandbox, data: bytes) -> Refusal:
    with pytest.raises(Refusal) as info:
        pool.strip(data, pool.check(data, 1, LIMITS), 1, LIMITS)
    return info.value


def assert_still_serving(pool: Sandbox) -> None:
    assert pool.check(b"bukti transfer", 2, LIMITS).kind == "text"
    assert pool.strip(b"bukti transfer", pool.check(b"bukti transfer", 2, LIMITS), 2, LIMITS) == b"bukti transfer"


def test_a_pdf_object_stream_bomb_is_refused_and_intake_never_holds_it(pool):
    bomb = objstm_bomb()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    refusal = refused(pool, bomb)
    # qpdf itself reports the failed allocation as a broken file; the memory it wanted was the worker's
    assert refusal.code in ("unsafe_file", "corrupt_file") and refusal.index == 1
    assert refusal.message()["id"] and refusal.message()["en"]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100 * 1024  # kB: not in intake
    assert_still_serving(pool)


@pytest.mark.parametrize("bomb", [png_bomb, office_bomb], ids=["png", "office"])
def test_a_bomb_ends_its_worker_only_and_the_file_is_refused_bilingually(pool, bomb):
    data = bomb()
    assert len(data) < LIMITS.max_file_bytes  # it passes every cheap check: only decoding shows it
    assert pool.check(data, 1, LIMITS)
    before = pool.worker_pids
    refusal = refused(pool, data)
    assert (refusal.code, refusal.status) == ("unsafe_file", 422)
    assert refusal.message()["id"].startswith("Berkas ke-1") and "File 1" in refusal.message()["en"]
    assert before and not set(before) & set(pool.worker_pids)  # that worker is gone
    assert not os.path.exists(f"/proc/{before[0]}")  # and reaped
    assert_still_serving(pool)


def test_a_cpu_hog_is_ended_by_its_cpu_time_limit():
    sandbox = Sandbox(workers=1, memory_mb=4096, cpu_seconds=1, wall_seconds=60)
    try:
        data = office_bomb()
        assert refused(sandbox, data).code == "unsafe_file"  # 1.5 million elements take longer to parse
        assert_still_serving(sandbox)
    finally:
        sandbox.close()


def test_a_parser_that_crashes_ends_one_worker_and_the_hub_kept_running():
    """A segfault in a parser, simulated by the signal itself, while another
    green thread keeps ticking: the wait for the worker is green."""
    sandbox = Sandbox(workers=1, memory_mb=1024, cpu_seconds=60, wall_seconds=60)
    ticks = []

    def ticker():
        while True:
            ticks.append(1)
            eventlet.sleep(0.02)

    def crash_the_worker():
        eventlet.sleep(0.5)
        for pid in sandbox.worker_pids:
            os.kill(pid, signal.SIGSEGV)

    try:
        data = png_bomb()
        sandbox.check(data, 1, LIMITS)  # the worker is up
        green = [eventlet.spawn(ticker), eventlet.spawn(crash_the_worker)]
        with pytest.raises(Refusal) as info:
            sandbox.strip(data, sandbox.check(data, 1, LIMITS), 1, LIMITS)
        assert info.value.code == "unsafe_file"
        assert len(ticks) >= 10, "the hub was blocked while the worker ran"
        for g in green:
            g.kill()
        assert_still_serving(sandbox)
    finally:
        sandbox.close()


def test_a_worker_killed_while_idle_is_replaced_before_it_is_given_a_file(pool):
    """E.g. the container's OOM killer or an operator ended it between uploads: no file may be lost to that."""
    pool.check(b"bukti", 1, LIMITS)
    [idle] = pool.worker_pids
    os.kill(idle, signal.SIGKILL)
    eventlet.sleep(0.2)
    assert_still_serving(pool)
    assert idle not in pool.worker_pids


def test_a_call_cut_short_by_the_callers_own_deadline_never_answers_the_next_file(pool):
    """A request deadline (or a killed green thread) mid-file: that worker's answer, still on
    its way, must not become the answer for someone else's file."""
    data = png_bomb()
    detected = pool.check(data, 1, LIMITS)
    [busy] = pool.worker_pids
    with pytest.raises(eventlet.Timeout):
        with eventlet.Timeout(0.3):
            pool.strip(data, detected, 1, LIMITS)
    assert busy not in pool.worker_pids
    assert_still_serving(pool)


def test_a_whole_upload_goes_through_the_sandbox_and_one_bomb_refuses_it(pool):
    files = [("catatan.txt", b"bukti"), ("foto.png", png_bomb())]
    detected = check_all(files, LIMITS, pool.check)
    with pytest.raises(Refused) as info:
        strip_all(files, detected, LIMITS, pool.strip)
    assert [(r.code, r.index) for r in info.value.refusals] == [("unsafe_file", 2)]


def test_workers_run_under_their_limits_without_intakes_settings(pool, monkeypatch):
    monkeypatch.setenv("PELUIT_INTAKE_SECRET_CANARY", "rahasia")
    pool.check(b"bukti", 1, LIMITS)
    [pid] = pool.worker_pids
    limits = {line[:26].strip(): line[26:].split() for line in open(f"/proc/{pid}/limits").read().splitlines()[1:]}
    assert limits["Max address space"][:2] == [str(256 * 1024 * 1024)] * 2
    assert limits["Max core file size"][:2] == ["0", "0"]
    assert int(limits["Max cpu time"][0]) <= 21  # this file's budget on top of what the worker used
    assert open(f"/proc/{pid}/oom_score_adj").read().strip() == "1000"
    assert b"PELUIT_" not in open(f"/proc/{pid}/environ", "rb").read()

