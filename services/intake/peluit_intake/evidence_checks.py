"""Evidence content checks: plain functions, nothing decoded or extracted.

The type is decided from the bytes, never from the name or the declared type;
limits, zip bombs (from the central directory) and pixel floods (from the
header) are refused before anything is decoded. Every refusal has a stable code
and a catalogue text (``refusal_<code>``) that names a file by its position
only. The accepted types and limits: docs/channels.md (Evidence).
"""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException
from PIL import Image

from peluit_contracts.evidence import TYPES
from peluit_contracts.i18n import message

MB = 1000 * 1000


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 10 * MB
    max_request_bytes: int = 25 * MB
    max_files: int = 5
    max_pixels: int = 40_000_000
    max_zip_entries: int = 2000
    max_zip_uncompressed: int = 100 * MB
    max_zip_ratio: int = 100

    @classmethod
    def from_env(cls) -> Limits:
        d = cls()
        return cls(
            max_file_bytes=_env_int("PELUIT_EVIDENCE_MAX_FILE_BYTES", d.max_file_bytes),
            max_request_bytes=_env_int("PELUIT_EVIDENCE_MAX_REQUEST_BYTES", d.max_request_bytes),
            max_files=_env_int("PELUIT_EVIDENCE_MAX_FILES", d.max_files),
            max_pixels=_env_int("PELUIT_EVIDENCE_MAX_PIXELS", d.max_pixels),
            max_zip_entries=_env_int("PELUIT_EVIDENCE_MAX_ZIP_ENTRIES", d.max_zip_entries),
            max_zip_uncompressed=_env_int("PELUIT_EVIDENCE_MAX_ZIP_UNCOMPRESSED", d.max_zip_uncompressed),
            max_zip_ratio=_env_int("PELUIT_EVIDENCE_MAX_ZIP_RATIO", d.max_zip_ratio),
        )


# Pillow's own guard, as a second line behind our header check: above twice this
# Image.open raises DecompressionBombError before decoding.
Image.MAX_IMAGE_PIXELS = Limits.from_env().max_pixels


# -- refusals ----------------------------------------------------------------

# code -> HTTP status; the text is the catalogue's "refusal_<code>" ({n}: the file's position, 1-based).
# over_report_limit and evidence_quota are the channels' (e-mail, WhatsApp): each attachment stands alone there.
REFUSALS: dict[str, int] = {
    "no_file": 400, "too_many_files": 413, "request_too_large": 413, "file_too_large": 413, "empty_file": 422,
    "unsupported_type": 415, "macro_document": 415, "zip_bomb": 422, "pixel_flood": 422, "encrypted_file": 422,
    "corrupt_file": 422, "unsafe_file": 422, "over_report_limit": 413, "evidence_quota": 413,
}
STATUS_PRIORITY = {413: 0, 415: 1, 422: 2, 400: 3}


class Refusal(Exception):
    """One refused file (``index`` 1-based) or the upload as a whole (``index`` None)."""

    def __init__(self, code: str, index: int | None = None, **params):
        super().__init__(code)
        self.code, self.index, self.params = code, index, params

    @property
    def status(self) -> int:
        return REFUSALS[self.code]

    @property
    def field(self) -> str:
        return "file" if self.index is None else f"file.{self.index}"

    def message(self) -> dict[str, str]:
        return {**message("refusal_" + self.code, n=self.index, **self.params), "code": self.code}


class Refused(Exception):
    """Every refusal of one upload; nothing of it may be stored."""

    def __init__(self, refusals: list[Refusal]):
        super().__init__(",".join(r.code for r in refusals))
        self.refusals = refusals

    @property
    def status(self) -> int:
        return min((r.status for r in self.refusals), key=STATUS_PRIORITY.__getitem__)

    @property
    def code(self) -> str:
        return next(r.code for r in self.refusals if r.status == self.status)

    def fields(self) -> dict[str, list[dict[str, str]]]:
        out: dict[str, list[dict[str, str]]] = {}
        for r in self.refusals:
            out.setdefault(r.field, []).append(r.message())
        return out


# -- sniffing -----------------------------------------------------------------

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PDF_MAGIC = b"%PDF-"
ZIP_MAGIC = b"PK\x03\x04"

OFFICE_MAIN = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": "docx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": "xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": "pptx",
}

# WHATWG MIME sniffing's "HTML" signatures, plus XML/SVG: refused however the file is named
_MARKUP_START = re.compile(
    rb"\s*<(!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--|\?xml|svg"
    rb"|object|embed|meta|link|form|img)[\s/>]", re.IGNORECASE)
_MARKUP_ANYWHERE = re.compile(rb"<(script|html|iframe|svg|object|embed|body|meta\s+http-equiv)\b", re.IGNORECASE)
_TEXT_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def sniff(data: bytes) -> str | None:
    """The container kind by magic number: jpeg, png, pdf, zip, mp3, m4a, text or None."""
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(PDF_MAGIC):
        return "pdf"
    if data.startswith(ZIP_MAGIC):
        return "zip"
    if data[4:8] == b"ftyp":
        return "m4a"
    if data.startswith(b"ID3") or _mp3_frame(data, 0) is not None:
        return "mp3"
    if _is_plain_text(data):
        return "text"
    return None


def _is_plain_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    if _TEXT_CONTROLS.search(text):
        return False
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    return not (_MARKUP_START.match(head) or _MARKUP_ANYWHERE.search(data))


@dataclass(frozen=True)
class Detected:
    kind: str  # a key of peluit_contracts.evidence.TYPES

    @property
    def mime(self) -> str:
        return TYPES[self.kind][0]

    @property
    def extension(self) -> str:
        return TYPES[self.kind][1]


def check(data: bytes, index: int, limits: Limits) -> Detected:
    """Decide the type of one file and refuse what must not pass, cheaply:
    nothing here decodes pixels or extracts an archive."""
    if not data:
        raise Refusal("empty_file", index)
    if len(data) > limits.max_file_bytes:
        raise Refusal("file_too_large", index, mb=mb(limits.max_file_bytes))
    kind = sniff(data)
    if kind in ("jpeg", "png"):
        size = image_size(data, kind)
        if size is None:
            raise Refusal("corrupt_file", index)
        if size[0] * size[1] > limits.max_pixels or 0 in size:
            raise Refusal("pixel_flood" if 0 not in size else "corrupt_file", index,
                          mp=limits.max_pixels // 1_000_000)
        return Detected(kind)
    if kind == "zip":
        return Detected(_check_office(data, index, limits))
    if kind == "mp3":
        if mp3_audio_start(data) is None:
            raise Refusal("unsupported_type", index)
        return Detected("mp3")
    if kind == "m4a":
        _check_m4a(data, index)
        return Detected("m4a")
    if kind in ("pdf", "text"):
        return Detected(kind)
    raise Refusal("unsupported_type", index)


def check_all(files: list[tuple[str | None, bytes]], limits: Limits, check=check) -> list[Detected]:
    """Check every file of one upload; raises ``Refused`` with all refusals.
    ``check``: how one file is checked (intake passes the sandbox's)."""
    if not files:
        raise Refused([Refusal("no_file")])
    if len(files) > limits.max_files:
        raise Refused([Refusal("too_many_files", max=limits.max_files)])
    refusals: list[Refusal] = []
    if sum(len(data) for _, data in files) > limits.max_request_bytes:
        refusals.append(Refusal("request_too_large", mb=mb(limits.max_request_bytes)))
    detected = []
    for n, (_, data) in enumerate(files, 1):
        try:
            detected.append(check(data, n, limits))
        except Refusal as refusal:
            refusals.append(refusal)
    if refusals:
        raise Refused(refusals)
    return detected


def mb(limit: int) -> str:
    return f"{limit / MB:g}"


# -- image headers --------------------------------------------------------------

def image_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """(width, height) from the header alone, or None if there is none."""
    if kind == "png":
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return struct.unpack(">II", data[16:24])
    pos = 2
    while pos + 4 <= len(data):  # JPEG: walk the markers up to the first SOFn
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if length < 2:
            return None
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        if marker == 0xDA:  # scan data before any frame header
            return None
        pos += 2 + length
    return None


# -- Office (OOXML) --------------------------------------------------------------

def check_zip_bomb(zf: zipfile.ZipFile, index: int, limits: Limits) -> list[zipfile.ZipInfo]:
    infos = zf.infolist()
    if len(infos) > limits.max_zip_entries:
        raise Refusal("zip_bomb", index)
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos)
    if total > limits.max_zip_uncompressed or total > limits.max_zip_ratio * max(packed, 1):
        raise Refusal("zip_bomb", index)
    for info in infos:
        if info.file_size > 1 * MB and info.file_size > limits.max_zip_ratio * max(info.compress_size, 1):
            raise Refusal("zip_bomb", index)
    return infos


def read_zip_member(zf: zipfile.ZipFile, name: str, index: int, max_bytes: int = 2 * MB) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > max_bytes:
        raise Refusal("zip_bomb", index)
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        raise Refusal("corrupt_file", index) from None


def parse_xml(raw: bytes, index: int):
    try:
        return SafeXml.fromstring(raw)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        raise Refusal("corrupt_file", index) from None


def _read_xml(zf: zipfile.ZipFile, name: str, index: int):
    return parse_xml(read_zip_member(zf, name, index), index)


def _check_office(data: bytes, index: int, limits: Limits) -> str:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        raise Refusal("corrupt_file", index) from None
    with zf:
        infos = check_zip_bomb(zf, index, limits)
        names = {i.filename for i in infos}
        if any(i.flag_bits & 0x1 for i in infos):
            raise Refusal("encrypted_file", index)
        if "[Content_Types].xml" not in names:
            return _check_odf(zf, infos, index)
        types = _read_xml(zf, "[Content_Types].xml", index)
        content_types = [el.get("ContentType", "") for el in types.iter() if el.get("ContentType")]
        if any("macroenabled" in ct.lower() or "vbaproject" in ct.lower() for ct in content_types) or any(
                n.lower().endswith("vbaproject.bin") for n in names):
            raise Refusal("macro_document", index)
        kinds = {OFFICE_MAIN[ct] for ct in content_types if ct in OFFICE_MAIN}
        if len(kinds) != 1:
            raise Refusal("unsupported_type", index)
        return kinds.pop()


ODF_MAIN = {"application/vnd.oasis.opendocument.text": "odt", "application/vnd.oasis.opendocument.spreadsheet": "ods"}
_ODF_MACROS = re.compile(r"(Basic|Scripts)/", re.IGNORECASE)
_ODF_ENCRYPTION = b"encryption-data"


def _check_odf(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], index: int) -> str:
    """An OpenDocument text or spreadsheet: ``mimetype`` first (ODF 1.2 3.3), no
    macros (``Basic/``, ``Scripts/``), not encrypted (manifest ``encryption-data``)."""
    if not infos or infos[0].filename != "mimetype" or "META-INF/manifest.xml" not in zf.namelist():
        raise Refusal("unsupported_type", index)  # a plain ZIP archive
    kind = ODF_MAIN.get(read_zip_member(zf, "mimetype", index, max_bytes=200).decode("ascii", "replace").strip())
    if kind is None:
        raise Refusal("unsupported_type", index)
    if any(_ODF_MACROS.match(i.filename) for i in infos):
        raise Refusal("macro_document", index)
    manifest = read_zip_member(zf, "META-INF/manifest.xml", index)
    parse_xml(manifest, index)
    if _ODF_ENCRYPTION in manifest:
        raise Refusal("encrypted_file", index)
    return kind


# -- audio -----------------------------------------------------------------------------

_MP3_BITRATES = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2 layer III
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_frame(data: bytes, pos: int) -> int | None:
    """Length of the MPEG audio layer III frame at ``pos``, or None."""
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (data[pos + 1] >> 3) & 3  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5, 1 reserved
    layer = (data[pos + 1] >> 1) & 3
    bitrate_index, rate_index = data[pos + 2] >> 4, (data[pos + 2] >> 2) & 3
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _MP3_BITRATES[3 if version == 3 else 2][bitrate_index] * 1000
    rate = _MP3_RATES[version][rate_index]
    padding = (data[pos + 2] >> 1) & 1
    return (144 if version == 3 else 72) * bitrate // rate + padding


def _id3v2_end(data: bytes) -> int:
    if not data.startswith(b"ID3") or len(data) < 10:
        return 0
    size = 0
    for b in data[6:10]:
        if b & 0x80:
            return -1
        size = (size << 7) | b
    return 10 + size + (10 if data[5] & 0x10 else 0)


def mp3_audio_start(data: bytes) -> int | None:
    """Where the audio frames start (after any ID3v2 tag), if two frames follow each other there."""
    start = _id3v2_end(data)
    if start < 0 or start >= len(data):
        return None
    # some encoders leave padding between the tag and the first frame: look a little further
    for pos in range(start, min(start + 65536, len(data) - 3)):
        if data[pos] != 0xFF:
            continue
        length = _mp3_frame(data, pos)
        if not length:
            continue
        if pos + length >= len(data) - 128 or _mp3_frame(data, pos + length) is not None:
            return pos
    return None


def boxes(data: bytes | bytearray, start: int, end: int):
    """ISO BMFF boxes between ``start`` and ``end``: (type, offset, header length, size)."""
    pos = start
    while pos < end:
        if pos + 8 > end:
            raise ValueError("truncated box")
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise ValueError("truncated box")
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError("bad box size")
        yield kind, pos, header, size
        pos += size


def _child(data, kind: bytes, pos: int, header: int, size: int):
    return next(((k, p, h, s) for k, p, h, s in boxes(data, pos + header, pos + size) if k == kind), None)


M4A_BRANDS = {b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2", b"3gp4", b"3gp5", b"3gp6"}


def _check_m4a(data: bytes, index: int) -> None:
    """An MPEG-4 file with sound tracks only (no video: that is not accepted)."""
    try:
        top = list(boxes(data, 0, len(data)))
        if not top or top[0][0] != b"ftyp" or data[8:12] not in M4A_BRANDS:
            raise Refusal("unsupported_type", index)
        moov = next((b for b in top if b[0] == b"moov"), None)
        if moov is None:
            raise Refusal("corrupt_file", index)
        handlers = []
        for kind, pos, header, size in boxes(data, moov[1] + moov[2], moov[1] + moov[3]):
            if kind != b"trak":
                continue
            mdia = _child(data, b"mdia", pos, header, size)
            hdlr = mdia and _child(data, b"hdlr", *mdia[1:])
            if hdlr is None:
                raise Refusal("corrupt_file", index)
            body = hdlr[1] + hdlr[2]
            handlers.append(bytes(data[body + 8:body + 12]))
    except ValueError:
        raise Refusal("corrupt_file", index) from None
    if b"soun" not in handlers or b"vide" in handlers:
        raise Refusal("unsupported_type", index)


def check_each(files: list[tuple[str | None, bytes]], limits: Limits, start: int = 1,
               already: tuple[int, int] = (0, 0),
               check=check) -> tuple[list[tuple[int, bytes, Detected]], list[Refusal]]:
    """The channels' variant of ``check_all``: every file stands alone. Returns
    ``([(index, data, detected)], [refusals])``; ``already`` is (files, bytes)
    accepted earlier for the same report, counted against the upload limits."""
    accepted, refusals = [], []
    count, total = already
    for n, (_, data) in enumerate(files, start):
        try:
            detected = check(data, n, limits)
        except Refusal as refusal:
            refusals.append(refusal)
            continue
        if count + 1 > limits.max_files or total + len(data) > limits.max_request_bytes:
            refusals.append(Refusal("over_report_limit", n, max=limits.max_files, mb=mb(limits.max_request_bytes)))
            continue
        count, total = count + 1, total + len(data)
        accepted.append((n, data, detected))
    return accepted, refusals
