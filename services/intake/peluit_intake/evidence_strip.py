"""Metadata stripping per format: the copy investigators see (the untouched
original goes sealed to the vault). Images re-encoded without EXIF/GPS/XMP/ICC
(orientation applied first), PDFs without the information dictionary, XMP and
document JavaScript, Office documents without author properties, custom
properties or thumbnail, audio without tags; text unchanged. Labels are
sanitised display names ending in the detected type.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass

import pikepdf
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from peluit_contracts.evidence import LABEL_MAX

from .evidence_checks import (
    Detected,
    Limits,
    Refusal,
    Refused,
    boxes,
    check_zip_bomb,
    image_size,
    mp3_audio_start,
    parse_xml,
    read_zip_member,
    sniff,
)

# -- stripping --------------------------------------------------------------------------

def strip(data: bytes, detected: Detected, index: int, limits: Limits) -> bytes:
    """The copy investigators see. Raises ``Refusal`` when the file cannot be
    parsed although its magic number looked right."""
    kind = detected.kind
    try:
        if kind in ("jpeg", "png"):
            return strip_image(data, kind, index, limits)
        if kind == "pdf":
            return strip_pdf(data, index)
        if kind in ("docx", "xlsx", "pptx"):
            return strip_office(data, index, limits)
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


def strip_pdf(data: bytes, index: int) -> bytes:
    try:
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if "/Info" in pdf.trailer:
                del pdf.trailer["/Info"]
            root = pdf.Root
            for key in ("/Metadata", "/PieceInfo", "/OpenAction", "/AA"):
                if key in root:
                    del root[key]
            if "/Names" in root and "/JavaScript" in root.Names:
                del root.Names["/JavaScript"]
            # XMP and private application data can also hang off pages, images, fonts...
            for obj in pdf.objects:
                if isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                    for key in ("/Metadata", "/PieceInfo"):
                        if key in obj:
                            del obj[key]
            out = io.BytesIO()
            # streams are copied as they are (no decoding: a flate bomb in a content stream stays packed);
            # unreferenced objects (the dropped XMP streams) are not written
            pdf.save(out, fix_metadata_version=False, stream_decode_level=pikepdf.StreamDecodeLevel.none,
                     encryption=False, deterministic_id=True)
            return out.getvalue()
    except pikepdf.PasswordError:
        raise Refusal("encrypted_file", index) from None
    except pikepdf.PdfError:
        raise Refusal("corrupt_file", index) from None


EMPTY_CORE = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
              b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
              b' xmlns:dcmitype="http://purl.org/dc/dcmitype/"'
              b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"></cp:coreProperties>')
EMPTY_APP = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
             b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"></Properties>')
_DROPPED_PART = re.compile(r"docProps/(custom\.xml|thumbnail\.[A-Za-z0-9]+)")
_MEDIA = re.compile(r"(word|xl|ppt)/media/[^/]+")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def strip_office(data: bytes, index: int, limits: Limits) -> bytes:
    """Blank core/app properties, drop custom properties and the thumbnail
    (with their content-type overrides and package relationships), re-encode
    embedded JPEG/PNG media, reset every entry's timestamp."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        infos = check_zip_bomb(src, index, limits)
        dropped = {i.filename for i in infos if _DROPPED_PART.fullmatch(i.filename)}
        written = set()
        for info in infos:
            name = info.filename
            if name in dropped or name in written or info.is_dir():
                continue
            if name == "docProps/core.xml":
                raw = EMPTY_CORE
            elif name == "docProps/app.xml":
                raw = EMPTY_APP
            elif name == "[Content_Types].xml":
                raw = _without(read_zip_member(src, name, index), "Override", "PartName", dropped, index)
            elif name == "_rels/.rels":
                raw = _without(read_zip_member(src, name, index), "Relationship", "Target", dropped, index)
            else:
                raw = src.read(info)
                if _MEDIA.fullmatch(name) and sniff(raw) in ("jpeg", "png"):
                    raw = strip_image(raw, sniff(raw), index, limits)
            entry = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, raw)
            written.add(name)
    return out.getvalue()


def _without(raw: bytes, tag: str, attribute: str, dropped: set[str], index: int) -> bytes:
    """The XML without the ``tag`` elements whose ``attribute`` names a dropped part.

    Edited as text, so prefixes and declarations stay exactly as Office wrote
    them; parsed (defusedxml: no DTD, no entities) before and after."""
    parse_xml(raw, index)
    element = re.compile(rb"<(?:[\w.-]+:)?" + tag.encode() + rb"\b[^>]*?(?:/>|>\s*</(?:[\w.-]+:)?"
                         + tag.encode() + rb"\s*>)")
    value = re.compile(rb"\b" + attribute.encode() + rb"\s*=\s*[\"']([^\"']*)[\"']")

    def drop(match: re.Match) -> bytes:
        found = value.search(match.group(0))
        return b"" if found and found.group(1).decode("utf-8", "replace").lstrip("/") in dropped else match.group(0)

    out = element.sub(drop, raw)
    parse_xml(out, index)
    return out


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
    """A display label only: basename, no control or format characters, no
    path or quoting tricks, at most 120 characters, ending in the extension of
    the *detected* type (appended when the name claims another one)."""
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


@dataclass(frozen=True)
class Prepared:
    index: int
    label: str
    mime: str
    original: bytes
    stripped: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.stripped).hexdigest()


def strip_all(files: list[tuple[str | None, bytes]], detected: list[Detected], limits: Limits) -> list[Prepared]:
    """Strip every file of one upload (after ``check_all``); raises ``Refused``
    with all refusals, so nothing is stored when any file fails."""
    out, refusals = _strip([(n, name, data, kind) for n, ((name, data), kind) in
                            enumerate(zip(files, detected), 1)], limits)
    if refusals:
        raise Refused(refusals)
    return out


def _strip(items: list[tuple[int, str | None, bytes, Detected]], limits: Limits) -> tuple[list[Prepared], list]:
    """(index, name, data, detected) -> the stripped files and the refusals."""
    out, refusals = [], []
    for n, name, data, kind in items:
        try:
            stripped = strip(data, kind, n, limits)
        except Refusal as refusal:
            refusals.append(refusal)
            continue
        out.append(Prepared(n, sanitize_label(name, n, kind.extension), kind.mime, data, stripped))
    return out, refusals


def strip_each(checked: list[tuple[int, bytes, Detected]], limits: Limits) -> tuple[list[Prepared], list[Refusal]]:
    """Strip every checked channel attachment; a file that fails is refused alone.
    Labels are generic (``lampiran-<n>.<ext>``): a mail client or phone names a
    file after its owner's documents, and the reporter never chose that name."""
    return _strip([(n, None, data, detected) for n, data, detected in checked], limits)
