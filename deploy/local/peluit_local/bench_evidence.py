"""``make bench`` part (g): evidence stripping in the sandbox (figures only).

Per type, the median time to check and strip one file in intake's own process
(what it was) and through a sandboxed worker (what it is), a worker's start,
and files/s through the default pool of 2 workers with 8 uploads at once.
"""

from __future__ import annotations

import io
import statistics
import time
import zipfile

import eventlet
import pikepdf
from PIL import Image

from peluit_common.testing import authored_pdf, gps_photo
from peluit_intake.evidence_checks import Limits, check
from peluit_intake.evidence_sandbox import Sandbox
from peluit_intake.evidence_strip import strip

ROUNDS = 3


def photo(width: int = 4000, height: int = 3000) -> bytes:
    """A 12 MP camera-like JPEG: sensor noise over a gradient, a few MB as phones write them."""
    gradient = Image.linear_gradient("L").resize((width, height))
    noise = [Image.effect_noise((width, height), sigma) for sigma in (12, 18)]
    out = io.BytesIO()
    Image.merge("RGB", [Image.blend(gradient, noise[0], 0.3), Image.blend(gradient, noise[1], 0.3), gradient]).save(
        out, "JPEG", quality=85)
    return out.getvalue()


def pdf_with_photo(jpeg: bytes) -> bytes:
    with pikepdf.open(io.BytesIO(authored_pdf("bench"))) as pdf:
        page = pdf.pages[0]
        image = pikepdf.Stream(pdf, jpeg, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image, Width=4000,
                               Height=3000, BitsPerComponent=8, ColorSpace=pikepdf.Name.DeviceRGB,
                               Filter=pikepdf.Name.DCTDecode)
        page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
        page.Contents = pikepdf.Stream(pdf, b"q 400 0 0 300 50 50 cm /Im0 Do Q")
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


def docx_with_photo(jpeg: bytes) -> bytes:
    main = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", (
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            f'<Override PartName="/word/document.xml" ContentType="{main}"/></Types>'))
        z.writestr("word/document.xml", (
            '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/'
            'main"><w:body>' + "<w:p><w:r><w:t>Kuitansi pencairan dana</w:t></w:r></w:p>" * 2000
            + "</w:body></w:document>"))
        z.writestr("word/media/image1.jpeg", jpeg)
    return out.getvalue()


def median_ms(fn) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def bench_evidence() -> None:
    print("(g) evidence: check + strip one file, in intake's process vs a sandboxed worker "
          "(RLIMIT_AS 512 MB, RLIMIT_CPU 30 s per file)")
    limits = Limits()
    jpeg = photo()
    files = {"JPEG 12 MP": jpeg, "JPEG 64x48 with GPS": gps_photo("bench"), "PDF, 12 MP photo (mat2)":
             pdf_with_photo(jpeg), "DOCX, 12 MP photo": docx_with_photo(jpeg), "text": b"bukti transfer " * 100}
    pool = Sandbox.from_env()
    try:
        started = time.perf_counter()
        pool.check(b"x", 1, limits)
        print(f"    a worker's start (imports, limits) and its first file: {time.perf_counter() - started:.2f} s")
        print(f"    {'file':<26} {'size':>9} {'in-process':>11} {'sandboxed':>10}")
        for name, data in files.items():
            own = median_ms(lambda: strip(data, check(data, 1, limits), 1, limits))
            boxed = median_ms(lambda: pool.strip(data, pool.check(data, 1, limits), 1, limits))
            print(f"    {name:<26} {len(data) / 1e6:>7.2f}MB {own:>9.0f}ms {boxed:>8.0f}ms")
        for name in ("JPEG 12 MP", "PDF, 12 MP photo (mat2)"):
            data = files[name]
            green = eventlet.GreenPool(8)
            started = time.perf_counter()
            list(green.imap(lambda _: pool.strip(data, pool.check(data, 1, limits), 1, limits), range(16)))
            print(f"    {name}: {16 / (time.perf_counter() - started):.1f} files/s through the pool "
                  f"(2 workers, 8 at once)")
    finally:
        pool.close()
