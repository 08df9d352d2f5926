"""Redacting a stripped copy: a region of an image blacked out, a page of a
PDF dropped; checked by reading the files back with Pillow and pikepdf."""

from __future__ import annotations

import io

import pikepdf
import pytest
from PIL import Image

from peluit_cases.evidence_redaction import redacted_copy
from peluit_cases.redaction import DomainError


def _png(color=(250, 250, 250), size=(40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def _pdf(pages: int) -> bytes:
    pdf = pikepdf.new()
    for n in range(pages):
        pdf.add_blank_page(page_size=(200 + n, 200))  # each page told apart by its width
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.mark.parametrize("mime, fmt", [("image/png", "PNG"), ("image/jpeg", "JPEG")])
def test_a_region_is_black_and_the_rest_untouched(mime, fmt):
    src = io.BytesIO()
    Image.new("RGB", (40, 30), (250, 250, 250)).save(src, fmt)
    out = redacted_copy(src.getvalue(), mime, {"region": {"x": 5, "y": 5, "width": 10, "height": 500}})
    with Image.open(io.BytesIO(out)) as img:
        assert img.format == fmt and img.size == (40, 30)
        assert max(img.getpixel((10, 20))) < 20  # inside (clipped at the bottom edge)
        assert min(img.getpixel((30, 20))) > 230  # outside


def test_a_region_outside_the_image_is_refused():
    with pytest.raises(DomainError) as err:
        redacted_copy(_png(), "image/png", {"region": {"x": 40, "y": 0, "width": 5, "height": 5}})
    assert err.value.code == "region_outside"


def test_a_page_is_dropped_and_the_others_kept():
    out = redacted_copy(_pdf(3), "application/pdf", {"page": 2})
    with pikepdf.open(io.BytesIO(out)) as pdf:
        assert [float(p.mediabox[2]) for p in pdf.pages] == [200.0, 202.0]


@pytest.mark.parametrize("data, mime, body, code", [
    (_pdf(1), "application/pdf", {"page": 1}, "page_outside"),
    (_pdf(2), "application/pdf", {"page": 3}, "page_outside"),
    (_pdf(2), "application/pdf", {"region": {"x": 0, "y": 0, "width": 1, "height": 1}}, "redaction_unsupported"),
    (b"plain text", "text/plain", {"page": 1}, "redaction_unsupported"),
])
def test_what_cannot_be_redacted_is_refused(data, mime, body, code):
    with pytest.raises(DomainError) as err:
        redacted_copy(data, mime, body)
    assert err.value.code == code
