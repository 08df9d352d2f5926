"""Metadata stripping per format: the copy investigators see (the untouched
original goes sealed to the vault). Images re-encoded without EXIF/GPS/XMP/ICC
(orientation applied first), PDFs redrawn by mat2, Office and OpenDocument
packages by ``evidence_office``, audio without tags; text unchanged. Labels are
generic (``lampiran-<n>.<ext>``); the sanitised file name goes to the vault.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import struct
import subprocess
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, replace

import pikepdf
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from peluit_contracts.evidence import LABEL_MAX

from .evidence_checks import (
    Detected,
    Limits,
    Refusal,
    Refused,
    boxes,
    image_size,
    mp3_audio_start,
)
from .evidence_office import strip_package

log = logging.getLogger(__name__)

# -- stripping --------------------------------------------------------------------------

def strip(data: bytes, detected: Detected, index: int, limits: Limits) -> bytes:
    """The copy investigators see. Raises ``Refusal`` when the file cannot be
    parsed although its magic number looked right."""
    kind = detected.kind
    try:
        if kind in ("jpeg", "png"):
            return strip_image(data, kind, index, limits)
        if kind == "pdf":
            return strip_pdf(data, index, limits)
        if kind in ("docx", "xlsx", "pptx", "odt", "ods"):
            return strip_package(data, kind, index, limits, strip_image)
        if kind == "mp3":
            return strip_mp3(data, index)
        if kind == "m4a":
            return strip_m4a(data, index)
        return data  # plain text carries no hidden metadata
    except Refusal:
        raise
    except Image.DecompressionBombError:
        raise Refusal("pixel_flood", index, mp=limits.max_pixels // 1_000_000) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, zipfile.BadZipFile,
            struct.error, KeyError, IndexError):
        raise Refusal("corrupt_file", index) from None


def strip_image(data: bytes, kind: str, index: int, limits: Limits) -> bytes:
    size = image_size(data, kind)
    if size is None:
        raise Refusal("corrupt_file", index)
    if size[0] * size[1] > limits.max_pixels:
        raise Refusal("pixel_flood", index, mp=limits.max_pixels // 1_000_000)
    fmt = "JPEG" if kind == "jpeg" else "PNG"
    with Image.open(io.BytesIO(data), formats=[fmt]) as img:
        if img.size[0] * img.size[1] > limits.max_pixels:  # what Pillow itself read
            raise Refusal("pixel_flood", index, mp=limits.max_pixels // 1_000_000)
        img.load()
        # the source's own quantisation: a re-encode about as large (and as sharp) as what was sent
        quality = {}
        if fmt == "JPEG" and getattr(img, "quantization", None):
            quality = {"qtables": img.quantization}
            sampling = JpegImagePlugin.get_sampling(img)
            if sampling >= 0:
                quality["subsampling"] = sampling
        # turn the pixels the way the EXIF orientation says, before EXIF goes
        clean = ImageOps.exif_transpose(img)
    transparency = clean.info.get("transparency") if fmt == "PNG" else None
    # an empty info: Pillow would otherwise carry icc_profile, exif, comment, dpi... into the new file
    clean.info = {}
    out = io.BytesIO()
    if fmt == "JPEG":
        if clean.mode not in ("L", "RGB", "CMYK"):
            clean = clean.convert("RGB")
        clean.save(out, "JPEG", **(quality if clean.mode == img.mode else {"quality": 90}))
    else:
        extra = {"transparency": transparency} if transparency is not None else {}
        clean.save(out, "PNG", **extra)
    return out.getvalue()


MAT2 = "mat2"  # Debian's mat2 (needs its own python3-gi, poppler and cairo: not pip-installable)
MAT2_SECONDS = 60


def strip_pdf(data: bytes, index: int, limits: Limits) -> bytes:
    """mat2's lightweight mode redraws every page through poppler into a new
    cairo PDF: annotations, forms, embedded files, thumbnails, XMP and every
    object of the source are left behind, text stays selectable. But cairo
    passes JPEG and JPEG 2000 images through byte for byte (EXIF, GPS and
    all), so pikepdf then re-encodes every such image, and rewrites the file as
    one revision with no information dictionary (mat2 appends an update; cairo
    names itself). Encrypted or broken files are refused as such first."""
    try:
        with pikepdf.open(io.BytesIO(data)):
            pass
        redrawn = _mat2(data, index)
        with pikepdf.open(io.BytesIO(redrawn)) as pdf:
            if "/Info" in pdf.trailer:
                del pdf.trailer["/Info"]
            for obj in pdf.objects:
                if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                    for key in ("/Metadata", "/PieceInfo"):
                        if key in obj:
                            del obj[key]
                if isinstance(obj, pikepdf.Stream) and obj.get("/Subtype") == "/Image":
                    _reencode_pdf_image(obj, index, limits)
            out = io.BytesIO()
            pdf.save(out, fix_metadata_version=False, encryption=False, deterministic_id=True)
            return out.getvalue()
    except pikepdf.PasswordError:
        raise Refusal("encrypted_file", index) from None
    except pikepdf.PdfError:
        raise Refusal("corrupt_file", index) from None


def _reencode_pdf_image(obj: pikepdf.Stream, index: int, limits: Limits) -> None:
    """A JPEG stream is a whole JPEG file (APP1 EXIF included): re-encoded like an
    upload. JPEG 2000 (metadata boxes) becomes plain deflated pixels."""
    filters = obj.get("/Filter")
    filters = [str(f) for f in filters] if isinstance(filters, pikepdf.Array) else [str(filters)] if filters else []
    if filters[-1:] == ["/DCTDecode"]:
        raw = obj.read_raw_bytes()
        if filters[:-1] not in ([], ["/FlateDecode"]):
            raise Refusal("corrupt_file", index)  # cairo writes neither; nothing else reaches here
        jpeg = zlib.decompress(raw) if filters[:-1] else raw
        obj.write(strip_image(jpeg, "jpeg", index, limits), filter=pikepdf.Name.DCTDecode)
    elif filters[-1:] == ["/JPXDecode"]:
        pixels = pikepdf.PdfImage(obj).as_pil_image()
        if pixels.size[0] * pixels.size[1] > limits.max_pixels:
            raise Refusal("pixel_flood", index, mp=limits.max_pixels // 1_000_000)
        pixels = pixels.convert("L" if pixels.mode in ("1", "L", "LA") else "RGB")
        obj.write(zlib.compress(pixels.tobytes()), filter=pikepdf.Name.FlateDecode)
        obj["/ColorSpace"] = pikepdf.Name.DeviceGray if pixels.mode == "L" else pikepdf.Name.DeviceRGB
        obj["/BitsPerComponent"] = 8
        for key in ("/SMaskInData", "/Decode"):
            if key in obj:
                del obj[key]


def _mat2(data: bytes, index: int) -> bytes:
    with tempfile.TemporaryDirectory(prefix="peluit-pdf-") as work:
        source = os.path.join(work, "lampiran.pdf")
        with open(source, "wb") as f:
            f.write(data)
        try:
            done = subprocess.run([MAT2, "--lightweight", source], cwd=work, capture_output=True,
                                  timeout=MAT2_SECONDS, env={"PATH": "/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8"})
        except FileNotFoundError:
            # fail closed: without mat2 a PDF cannot be stripped as documented
            log.error("mat2 is not installed (Debian package mat2): PDF evidence is refused")
            raise Refusal("unsupported_type", index) from None
        except subprocess.TimeoutExpired:
            raise Refusal("unsafe_file", index) from None
        cleaned = os.path.join(work, "lampiran.cleaned.pdf")
        if done.returncode != 0 or not os.path.exists(cleaned):
            raise Refusal("unsafe_file" if done.returncode < 0 else "corrupt_file", index)
        with open(cleaned, "rb") as f:
            return f.read()


def strip_mp3(data: bytes, index: int) -> bytes:
    start = mp3_audio_start(data)
    if start is None:
        raise Refusal("corrupt_file", index)
    end = len(data)
    if end - start >= 128 and data[end - 128:end - 125] == b"TAG":  # ID3v1
        end -= 128
    if end - start >= 32 and data[end - 32:end - 24] == b"APETAGEX":  # APEv2 footer
        size, flags = struct.unpack("<II", data[end - 20:end - 12])
        end -= size + (32 if flags & 0x80000000 else 0)
        if end <= start:
            raise Refusal("corrupt_file", index)
    return data[start:end]


_M4A_METADATA = {b"udta", b"meta", b"uuid", b"ilst", b"XMP_"}


def strip_m4a(data: bytes, index: int) -> bytes:
    """Turn every metadata box (top level, ``moov``, each ``trak``) into a
    zero-filled ``free`` box of the same size: sample offsets stay valid."""
    out = bytearray(data)

    def blank(pos: int, header: int, size: int) -> None:
        out[pos + 4:pos + 8] = b"free"
        out[pos + header:pos + size] = bytes(size - header)

    try:
        for kind, pos, header, size in boxes(out, 0, len(out)):
            if kind in _M4A_METADATA:
                blank(pos, header, size)
            elif kind == b"moov":
                for k2, p2, h2, s2 in boxes(out, pos + header, pos + size):
                    if k2 in _M4A_METADATA:
                        blank(p2, h2, s2)
                    elif k2 == b"trak":
                        for k3, p3, h3, s3 in boxes(out, p2 + h2, p2 + s2):
                            if k3 in _M4A_METADATA:
                                blank(p3, h3, s3)
    except ValueError:
        raise Refusal("corrupt_file", index) from None
    return bytes(out)


# -- labels and the whole upload ----------------------------------------------------------

_UNSAFE = re.compile(r'[<>:"|?*\\/;]')


def sanitize_label(name: str | None, index: int, extension: str) -> str:
    """A file name made safe to keep and show: basename, no control or format
    characters, no path or quoting tricks, at most 120 characters, ending in
    ``extension`` (appended when the name claims another one; "" keeps it as
    sent). Intake seals it to the vault; officers see ``generic_label``."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in name
                   if unicodedata.category(ch)[0] != "C" and unicodedata.category(ch) not in ("Zl", "Zp"))
    name = _UNSAFE.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name:
        name = f"lampiran-{index}"
    if not name.lower().endswith(extension) and not (extension == ".jpg" and name.lower().endswith(".jpeg")):
        name += extension
    if len(name) > LABEL_MAX:
        suffix = name[name.rfind("."):] if "." in name[-12:] else extension
        name = name[:LABEL_MAX - len(suffix)].rstrip(" .") + suffix
    return name


def generic_label(number: int, extension: str) -> str:
    """What officers see on every channel: the reporter's own file name may name
    them ("Laporan_<name>_<NIP>.docx"), so it goes sealed with the original instead."""
    return f"lampiran-{number}{extension}"


@dataclass(frozen=True)
class Prepared:
    index: int
    label: str
    mime: str
    original: bytes
    stripped: bytes
    name: str | None = None  # the sanitised original file name, for the vault only

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.stripped).hexdigest()

    def numbered(self, number: int) -> Prepared:
        return replace(self, label=generic_label(number, self.label[self.label.rfind("."):]))


def strip_all(files: list[tuple[str | None, bytes]], detected: list[Detected], limits: Limits,
              strip=strip) -> list[Prepared]:
    """Strip every file of one upload (after ``check_all``); raises ``Refused``
    with all refusals, so nothing is stored when any file fails. ``strip``: how
    one file is stripped (intake passes the sandbox's)."""
    out, refusals = _strip([(n, name, data, kind) for n, ((name, data), kind) in
                            enumerate(zip(files, detected), 1)], limits, strip)
    if refusals:
        raise Refused(refusals)
    return out


def _strip(items: list[tuple[int, str | None, bytes, Detected]], limits: Limits,
           strip=strip) -> tuple[list[Prepared], list]:
    """(index, name, data, detected) -> the stripped files and the refusals."""
    out, refusals = [], []
    for n, name, data, kind in items:
        try:
            stripped = strip(data, kind, n, limits)
        except Refusal as refusal:
            refusals.append(refusal)
            continue
        out.append(Prepared(n, generic_label(n, kind.extension), kind.mime, data, stripped,
                            sanitize_label(name, n, "") if name else None))  # as sent, only made safe
    return out, refusals


def strip_each(checked: list[tuple[int, bytes, Detected]], limits: Limits,
               names: dict[int, str | None] | None = None, strip=strip) -> tuple[list[Prepared], list[Refusal]]:
    """Strip every checked channel attachment; a file that fails is refused alone.
    ``names``: the attachments' own file names by position (they go to the vault only)."""
    return _strip([(n, (names or {}).get(n), data, detected) for n, data, detected in checked], limits, strip)
