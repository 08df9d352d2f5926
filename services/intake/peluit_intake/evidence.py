"""Evidence content checks and metadata stripping: plain functions, no nameko.

- The type is decided from the bytes (magic numbers and structure), never from
  the file name or the declared content type. Accepted: JPEG, PNG, PDF,
  DOCX/XLSX/PPTX (a ZIP whose ``[Content_Types].xml`` names the main part),
  plain UTF-8 text (no NUL, no control characters, nothing that looks like
  HTML/SVG/XML markup), MP3 and M4A audio.
- Limits (environment, see ``Limits.from_env``): 10 MB per file, 25 MB and 5
  files per upload. ZIP bombs (too many entries, too much uncompressed data,
  a compression ratio over 100) are refused from the central directory without
  extracting anything; pixel floods (over 40 megapixels) from the image header
  before any pixel is decoded.
- Every refusal has a stable code and a bilingual message that names the file
  by its position (1-based) only: never its name, never its content.
- ``strip`` makes the copy investigators see: images re-encoded without
  EXIF/GPS/XMP/ICC/comments (EXIF orientation applied first), PDFs rewritten
  without the document information dictionary and XMP (document and object
  level) and without document JavaScript, Office documents with blank core and
  app properties and without custom properties or thumbnail (embedded JPEG/PNG
  media re-encoded too), MP3 without ID3/APE tags, M4A with its ``udta``/``meta``
  boxes blanked. Text is unchanged. The untouched original goes sealed to the
  vault.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree

import defusedxml.ElementTree as SafeXml
import pikepdf
from defusedxml import DefusedXmlException
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from peluit_contracts.evidence import LABEL_MAX, TYPES

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

# code -> (HTTP status, Bahasa Indonesia, English); {n} is the file's position (1-based)
REFUSALS: dict[str, tuple[int, str, str]] = {
    "no_file": (400, "Lampirkan minimal satu berkas.", "Attach at least one file."),
    "too_many_files": (413, "Paling banyak {max} berkas sekali unggah.", "At most {max} files per upload."),
    "request_too_large": (413, "Jumlah ukuran berkas melebihi batas {mb} MB sekali unggah.",
                          "The files together exceed the limit of {mb} MB per upload."),
    "file_too_large": (413, "Berkas ke-{n} melebihi batas {mb} MB.", "File {n} exceeds the limit of {mb} MB."),
    "empty_file": (422, "Berkas ke-{n} kosong.", "File {n} is empty."),
    "unsupported_type": (415, "Jenis berkas ke-{n} tidak diizinkan. Yang diterima: foto JPEG/PNG, PDF, "
                              "Word/Excel/PowerPoint (DOCX/XLSX/PPTX), teks biasa (UTF-8), audio MP3/M4A.",
                         "File {n} is of a type that is not accepted. Accepted: JPEG/PNG photos, PDF, "
                         "Word/Excel/PowerPoint (DOCX/XLSX/PPTX), plain text (UTF-8), MP3/M4A audio."),
    "macro_document": (415, "Berkas ke-{n} berisi makro; simpan ulang sebagai DOCX/XLSX/PPTX tanpa makro.",
                       "File {n} contains macros; save it again as DOCX/XLSX/PPTX without macros."),
    "zip_bomb": (422, "Berkas ke-{n} terkompresi secara tidak wajar dan ditolak.",
                 "File {n} is compressed abnormally (a possible zip bomb) and was refused."),
    "pixel_flood": (422, "Gambar ke-{n} terlalu besar (lebih dari {mp} megapiksel).",
                    "Image {n} is too large (over {mp} megapixels)."),
    "encrypted_file": (422, "Berkas ke-{n} terkunci kata sandi; kirim tanpa kata sandi.",
                       "File {n} is password-protected; send it without a password."),
    "corrupt_file": (422, "Berkas ke-{n} rusak atau tidak dapat dibaca.", "File {n} is damaged or unreadable."),
    # channels (e-mail, WhatsApp): each attachment stands alone, so the upload limits are per file there
    "over_report_limit": (413, "Berkas ke-{n} melampaui batas {max} berkas atau {mb} MB per laporan.",
                          "File {n} goes over the limit of {max} files or {mb} MB per report."),
    "evidence_quota": (413, "Berkas ke-{n} melampaui batas jumlah atau ukuran bukti kasus ini.",
                       "File {n} goes over this case's limit on the number or size of evidence files."),
}
STATUS_PRIORITY = {413: 0, 415: 1, 422: 2, 400: 3}


class Refusal(Exception):
    """One refused file (``index`` 1-based) or the upload as a whole (``index`` None)."""

    def __init__(self, code: str, index: int | None = None, **params):
        super().__init__(code)
        self.code, self.index, self.params = code, index, params

    @property
    def status(self) -> int:
        return REFUSALS[self.code][0]

    @property
    def field(self) -> str:
        return "file" if self.index is None else f"file.{self.index}"

    def message(self) -> dict[str, str]:
        _, id_, en = REFUSALS[self.code]
        return {"id": id_.format(n=self.index, **self.params), "en": en.format(n=self.index, **self.params),
                "code": self.code}


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
        raise Refusal("file_too_large", index, mb=_mb(limits.max_file_bytes))
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
        if _mp3_audio_start(data) is None:
            raise Refusal("unsupported_type", index)
        return Detected("mp3")
    if kind == "m4a":
        _check_m4a(data, index)
        return Detected("m4a")
    if kind in ("pdf", "text"):
        return Detected(kind)
    raise Refusal("unsupported_type", index)


def check_all(files: list[tuple[str | None, bytes]], limits: Limits) -> list[Detected]:
    """Check every file of one upload; raises ``Refused`` with all refusals."""
    if not files:
        raise Refused([Refusal("no_file")])
    if len(files) > limits.max_files:
        raise Refused([Refusal("too_many_files", max=limits.max_files)])
    refusals: list[Refusal] = []
    if sum(len(data) for _, data in files) > limits.max_request_bytes:
        refusals.append(Refusal("request_too_large", mb=_mb(limits.max_request_bytes)))
    detected = []
    for n, (_, data) in enumerate(files, 1):
        try:
            detected.append(check(data, n, limits))
        except Refusal as refusal:
            refusals.append(refusal)
    if refusals:
        raise Refused(refusals)
    return detected


def _mb(limit: int) -> str:
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

def _check_zip_bomb(zf: zipfile.ZipFile, index: int, limits: Limits) -> list[zipfile.ZipInfo]:
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


def _read_raw(zf: zipfile.ZipFile, name: str, index: int, max_bytes: int = 2 * MB) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > max_bytes:
        raise Refusal("zip_bomb", index)
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        raise Refusal("corrupt_file", index) from None


def _parse(raw: bytes, index: int):
    try:
        return SafeXml.fromstring(raw)
    except (ElementTree.ParseError, DefusedXmlException, ValueError):
        raise Refusal("corrupt_file", index) from None


def _read_xml(zf: zipfile.ZipFile, name: str, index: int):
    return _parse(_read_raw(zf, name, index), index)


def _check_office(data: bytes, index: int, limits: Limits) -> str:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, EOFError, OSError):
        raise Refusal("corrupt_file", index) from None
    with zf:
        infos = _check_zip_bomb(zf, index, limits)
        names = {i.filename for i in infos}
        if "[Content_Types].xml" not in names:
            raise Refusal("unsupported_type", index)  # a plain ZIP archive
        if any(i.flag_bits & 0x1 for i in infos):
            raise Refusal("encrypted_file", index)
        types = _read_xml(zf, "[Content_Types].xml", index)
        content_types = [el.get("ContentType", "") for el in types.iter() if el.get("ContentType")]
        if any("macroenabled" in ct.lower() or "vbaproject" in ct.lower() for ct in content_types) or any(
                n.lower().endswith("vbaproject.bin") for n in names):
            raise Refusal("macro_document", index)
        kinds = {OFFICE_MAIN[ct] for ct in content_types if ct in OFFICE_MAIN}
        if len(kinds) != 1:
            raise Refusal("unsupported_type", index)
        return kinds.pop()


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


def _mp3_audio_start(data: bytes) -> int | None:
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


def _boxes(data: bytes | bytearray, start: int, end: int):
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
    return next(((k, p, h, s) for k, p, h, s in _boxes(data, pos + header, pos + size) if k == kind), None)


M4A_BRANDS = {b"M4A ", b"M4B ", b"mp42", b"mp41", b"isom", b"iso2", b"3gp4", b"3gp5", b"3gp6"}


def _check_m4a(data: bytes, index: int) -> None:
    """An MPEG-4 file with sound tracks only (no video: that is not accepted)."""
    try:
        boxes = list(_boxes(data, 0, len(data)))
        if not boxes or boxes[0][0] != b"ftyp" or data[8:12] not in M4A_BRANDS:
            raise Refusal("unsupported_type", index)
        moov = next((b for b in boxes if b[0] == b"moov"), None)
        if moov is None:
            raise Refusal("corrupt_file", index)
        handlers = []
        for kind, pos, header, size in _boxes(data, moov[1] + moov[2], moov[1] + moov[3]):
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
        infos = _check_zip_bomb(src, index, limits)
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
                raw = _without(_read_raw(src, name, index), "Override", "PartName", dropped, index)
            elif name == "_rels/.rels":
                raw = _without(_read_raw(src, name, index), "Relationship", "Target", dropped, index)
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
    _parse(raw, index)
    element = re.compile(rb"<(?:[\w.-]+:)?" + tag.encode() + rb"\b[^>]*?(?:/>|>\s*</(?:[\w.-]+:)?"
                         + tag.encode() + rb"\s*>)")
    value = re.compile(rb"\b" + attribute.encode() + rb"\s*=\s*[\"']([^\"']*)[\"']")

    def drop(match: re.Match) -> bytes:
        found = value.search(match.group(0))
        return b"" if found and found.group(1).decode("utf-8", "replace").lstrip("/") in dropped else match.group(0)

    out = element.sub(drop, raw)
    _parse(out, index)
    return out


def strip_mp3(data: bytes, index: int) -> bytes:
    start = _mp3_audio_start(data)
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
        for kind, pos, header, size in _boxes(out, 0, len(out)):
            if kind in _M4A_METADATA:
                blank(pos, header, size)
            elif kind == b"moov":
                for k2, p2, h2, s2 in _boxes(out, pos + header, pos + size):
                    if k2 in _M4A_METADATA:
                        blank(p2, h2, s2)
                    elif k2 == b"trak":
                        for k3, p3, h3, s3 in _boxes(out, p2 + h2, p2 + s2):
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


def check_each(files: list[tuple[str | None, bytes]], limits: Limits, start: int = 1,
               already: tuple[int, int] = (0, 0)) -> tuple[list[tuple[int, bytes, Detected]], list[Refusal]]:
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
            refusals.append(Refusal("over_report_limit", n, max=limits.max_files, mb=_mb(limits.max_request_bytes)))
            continue
        count, total = count + 1, total + len(data)
        accepted.append((n, data, detected))
    return accepted, refusals


def strip_each(checked: list[tuple[int, bytes, Detected]], limits: Limits) -> tuple[list[Prepared], list[Refusal]]:
    """Strip every checked channel attachment; a file that fails is refused alone.
    Labels are generic (``lampiran-<n>.<ext>``): a mail client or phone names a
    file after its owner's documents, and the reporter never chose that name."""
    return _strip([(n, None, data, detected) for n, data, detected in checked], limits)
