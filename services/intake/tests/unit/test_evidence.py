"""Evidence content checks and metadata stripping (plain functions, no broker):
the type comes from the bytes, limits and bombs are refused before anything
is decoded, and the copy investigators see carries no identifying metadata."""

from __future__ import annotations

import io
import secrets
import shutil
import struct
import zipfile
import zlib

import pikepdf
import pytest
from PIL import ExifTags, Image

from peluit_intake import evidence_checks as checks
from peluit_intake import evidence_strip as stripping
from peluit_intake.evidence_checks import Limits, Refusal, Refused
from peluit_common.testing import authored_pdf, gps_photo

LIMITS = Limits()
MARKER = "Canary" + secrets.token_hex(8)


# -- builders ---------------------------------------------------------------------

def jpeg_with_gps(marker: str = MARKER, size=(40, 20), orientation: int = 6) -> bytes:
    return gps_photo(marker, size, orientation)


def png(size=(8, 6), **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (1, 2, 3)).save(out, "PNG", **save)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` and holds almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return checks.PNG_MAGIC + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def pdf_with_author(marker: str = MARKER) -> bytes:
    """``authored_pdf`` plus XMP on the page itself (object-level metadata)."""
    with pikepdf.open(io.BytesIO(authored_pdf(marker))) as pdf:
        page = pdf.pages[0].obj
        page["/Metadata"] = pdf.make_stream(f"<x:xmpmeta>{marker}</x:xmpmeta>".encode())
        out = io.BytesIO()
        pdf.save(out)
    return out.getvalue()


CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Default Extension="jpeg" ContentType="image/jpeg"/>
<Override PartName="/word/document.xml" ContentType="{main}"/>
<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>
<Override PartName="/docProps/app.xml" ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/>
<Override PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-officedocument.custom-properties+xml"/>
</Types>"""
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>
<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/extended-properties" Target="docProps/app.xml"/>
<Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties" Target="docProps/custom.xml"/>
<Relationship Id="rId5" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail" Target="docProps/thumbnail.jpeg"/>
</Relationships>"""


def docx_with_author(marker: str = MARKER, main: str = DOCX_MAIN, extra: dict | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES.format(main=main))
        z.writestr("_rels/.rels", RELS)
        z.writestr("word/document.xml", (extra or {}).pop("word/document.xml", (
            '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Kuitansi pencairan</w:t></w:r></w:p></w:body></w:document>')))
        z.writestr("docProps/core.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties xmlns:cp="http://schemas.'
            'openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:creator>{marker}</dc:creator><cp:lastModifiedBy>{marker}</cp:lastModifiedBy>'
            f'<dc:title>Catatan {marker}</dc:title></cp:coreProperties>'))
        z.writestr("docProps/app.xml", (
            '<?xml version="1.0"?><Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'extended-properties"><Company>Dinas {marker}</Company><Manager>{marker}</Manager></Properties>'))
        z.writestr("docProps/custom.xml", f'<?xml version="1.0"?><Properties><p>{marker}</p></Properties>')
        z.writestr("docProps/thumbnail.jpeg", jpeg_with_gps(marker))
        z.writestr("word/media/image1.jpeg", jpeg_with_gps(marker))
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return out.getvalue()


def zip_bomb(megabytes: int = 200) -> bytes:
    """A ZIP with one zero-filled member of ``megabytes`` MB (about 0.1% of it when packed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES.format(main=DOCX_MAIN))
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            block = bytes(1_000_000)
            for _ in range(megabytes):
                member.write(block)
    return out.getvalue()


def mp3_frames(count: int = 4) -> bytes:
    header = b"\xff\xfb\x90\x00"  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417-byte frames
    return (header + bytes(413)) * count


def id3v2(marker: str) -> bytes:
    frame = b"TIT2" + struct.pack(">I", len(marker) + 1) + b"\0\0" + b"\3" + marker.encode()
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\4\0\0" + syncsafe + frame


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def m4a(marker: str = MARKER, handler: bytes = b"soun") -> bytes:
    hdlr = box(b"hdlr", bytes(8) + handler + bytes(12) + b"SoundHandler\0")
    trak = box(b"trak", box(b"tkhd", bytes(84)) + box(b"mdia", box(b"mdhd", bytes(24)) + hdlr)
               + box(b"udta", box(b"\xa9nam", marker.encode())))
    udta = box(b"udta", box(b"\xa9xyz", b"\0\x05\x15\xc7+07.9747+112.6200/" + marker.encode()))
    moov = box(b"moov", box(b"mvhd", bytes(100)) + trak + udta)
    return box(b"ftyp", b"M4A \0\0\0\0M4A mp42isom") + moov + box(b"mdat", bytes(2048))


def refusal(data: bytes, index: int = 1, limits: Limits = LIMITS) -> Refusal:
    with pytest.raises(Refusal) as info:
        checks.check(data, index, limits)
    return info.value


def check_and_strip(data: bytes, name: str = "x") -> stripping.Prepared:
    detected = checks.check_all([(name, data)], LIMITS)
    return stripping.strip_all([(name, data)], detected, LIMITS)[0]


# -- sniffing: the bytes decide, never the name ------------------------------------------

def test_a_png_named_pdf_is_a_png_and_its_label_says_so():
    prepared = check_and_strip(png(), "bukti.pdf")
    assert prepared.mime == "image/png"
    assert (prepared.label, prepared.name) == ("lampiran-1.png", "bukti.pdf")  # the name as sent, for the vault
    assert Image.open(io.BytesIO(prepared.stripped)).format == "PNG"


@pytest.mark.parametrize("data", [
    b"\x7fELF\x02\x01\x01\x00" + bytes(56) + b"\x00\x10",  # an ELF executable
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(48),  # a Windows .exe
    b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>",
    "\ufeff  \n<html lang='id'><p>halo</p></html>".encode(),
    b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    b"<?xml version='1.0'?><x/>",
    b"Catatan biasa, lalu <script>fetch('//x')</script> di tengah.",
    b"teks\x00dengan NUL",
    b"\xff\xfe b\x00u\x00k\x00a\x00n\x00",  # UTF-16
    b"bukan utf-8: \xc3\x28",
    b"escape \x1b[31m merah",
    b"PK\x03\x04" + bytes(26),  # a ZIP that is not an Office document (and is broken)
    b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
], ids=["elf", "exe", "html", "html-bom", "svg", "xml", "script-inside", "nul", "utf16", "bad-utf8", "ansi",
        "zip", "gif"])
def test_executables_markup_and_other_types_are_refused_whatever_their_name(data):
    for name in ("foto.jpg", "laporan.pdf", "catatan.txt"):
        with pytest.raises(Refused) as info:
            checks.check_all([(name, data)], LIMITS)
        assert info.value.status in (415, 422)
        assert info.value.code in ("unsupported_type", "corrupt_file")


def test_a_plain_zip_and_a_macro_document_are_refused():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("bukti.txt", "isi")
    assert refusal(out.getvalue()).code == "unsupported_type"
    docm = docx_with_author(main="application/vnd.ms-word.document.macroEnabled.main+xml")
    assert refusal(docm).code == "macro_document"
    assert refusal(docx_with_author(extra={"word/vbaProject.bin": b"x"})).code == "macro_document"


@pytest.mark.parametrize("data,mime", [
    (lambda: jpeg_with_gps(), "image/jpeg"),
    (lambda: png(), "image/png"),
    (lambda: pdf_with_author(), "application/pdf"),
    (lambda: docx_with_author(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (lambda: "Kuitansi tanggal 12 Oktober, Rp 5.000.000 <tanpa tanda tangan>\n".encode(), "text/plain"),
    (lambda: mp3_frames(), "audio/mpeg"),
    (lambda: m4a(), "audio/mp4"),
], ids=["jpeg", "png", "pdf", "docx", "text", "mp3", "m4a"])
def test_accepted_types_are_recognised_by_content(data, mime):
    assert checks.check(data(), 1, LIMITS).mime == mime


def test_xlsx_and_pptx_by_their_main_part():
    xlsx = docx_with_author(main="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
    pptx = docx_with_author(main="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml")
    assert checks.check(xlsx, 1, LIMITS).kind == "xlsx"
    assert checks.check(pptx, 1, LIMITS).kind == "pptx"


def test_video_in_an_mp4_container_is_not_audio():
    assert refusal(m4a(handler=b"vide")).code == "unsupported_type"


# -- limits ------------------------------------------------------------------------------

def test_limits_per_file_per_upload_and_count():
    small = Limits(max_file_bytes=1000, max_request_bytes=2500, max_files=3)
    text = b"a" * 900
    big = refusal(b"a" * 1001, 2, small)
    assert (big.code, big.status, big.field) == ("file_too_large", 413, "file.2")
    with pytest.raises(Refused) as info:
        checks.check_all([("a", text)] * 3 + [("b", text)], small)
    assert info.value.code == "too_many_files" and info.value.status == 413
    with pytest.raises(Refused) as info:
        checks.check_all([("a", text)] * 3, small)
    assert info.value.code == "request_too_large" and info.value.status == 413
    with pytest.raises(Refused) as info:
        checks.check_all([], small)
    assert info.value.code == "no_file" and info.value.status == 400
    assert checks.check_all([("a", text)] * 2, small)[0].kind == "text"


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_FILE_BYTES", "1234")
    monkeypatch.setenv("PELUIT_EVIDENCE_MAX_FILES", "2")
    limits = Limits.from_env()
    assert (limits.max_file_bytes, limits.max_files, limits.max_request_bytes) == (1234, 2, 25_000_000)
    assert Limits() == Limits(10_000_000, 25_000_000, 5, 40_000_000, 2000, 100_000_000, 100)


def test_every_refusal_of_an_upload_is_listed_bilingually_by_position_without_content():
    files = [("ok.txt", b"baik"), ("<b>nama</b>.jpg", b"<html>" + MARKER.encode() + b"</html>"),
             ("c.png", png_header_only(100_000, 100_000))]
    with pytest.raises(Refused) as info:
        checks.check_all(files, LIMITS)
    refused = info.value
    assert refused.status == 415 and refused.code == "unsupported_type"
    fields = refused.fields()
    assert set(fields) == {"file.2", "file.3"}
    assert [m["code"] for m in fields["file.3"]] == ["pixel_flood"]
    for messages in fields.values():
        for m in messages:
            assert m["id"] and m["en"] and m["id"] != m["en"]
    text = repr(fields)
    assert MARKER not in text and "nama" not in text and "html" not in text
    assert "2" in fields["file.2"][0]["en"]


# -- zip bombs and pixel floods --------------------------------------------------------------

def test_a_zip_with_a_200_mb_zero_member_is_refused_from_the_directory():
    bomb = zip_bomb(200)
    assert len(bomb) < 1_000_000  # ~200 KB on the wire
    assert refusal(bomb).code == "zip_bomb"


def test_a_small_zip_with_an_absurd_ratio_or_too_many_entries_is_refused():
    assert refusal(zip_bomb(5)).code == "zip_bomb"  # 5 MB of zeros: ratio ~1000
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES.format(main=DOCX_MAIN))
        for n in range(50):
            z.writestr(f"word/x{n}.xml", "<x/>")
    assert refusal(out.getvalue(), limits=Limits(max_zip_entries=20)).code == "zip_bomb"


def test_a_png_header_claiming_100000_by_100000_is_refused_without_decoding(monkeypatch):
    flood = png_header_only(100_000, 100_000)
    opened = []
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a) or pytest.fail("decoded"))
    r = refusal(flood)
    assert (r.code, r.status) == ("pixel_flood", 422)
    with pytest.raises(Refusal) as info:
        stripping.strip_image(flood, "png", 1, LIMITS)
    assert info.value.code == "pixel_flood"
    assert opened == []


def test_pixel_limits_for_jpeg_headers_and_pillows_own_guard():
    assert checks.image_size(jpeg_with_gps(size=(640, 480)), "jpeg") == (640, 480)
    big = jpeg_with_gps(size=(300, 200))
    assert refusal(big, limits=Limits(max_pixels=50_000)).code == "pixel_flood"
    assert Image.MAX_IMAGE_PIXELS == LIMITS.max_pixels
    with pytest.raises(Refusal) as info:
        stripping.strip(png_header_only(20_000, 20_000), checks.Detected("png"), 1, LIMITS)
    assert info.value.code == "pixel_flood"


def test_a_file_that_only_looks_right_is_corrupt_not_a_crash():
    for data in (checks.JPEG_MAGIC + b"\xe0\x00\x10JFIF" + bytes(30), b"%PDF-1.7\nnot really",
                 png_header_only(10, 10)[:40] + b"garbage"):
        with pytest.raises(Refused) as info:
            detected = checks.check_all([("x", data)], LIMITS)
            stripping.strip_all([("x", data)], detected, LIMITS)
        assert info.value.code == "corrupt_file" and info.value.status == 422


# -- metadata stripping ---------------------------------------------------------------------

def jpeg_segments(data: bytes) -> list[int]:
    markers, pos = [], 2
    while pos < len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    return markers


def test_a_jpeg_with_gps_loses_all_exif_and_keeps_its_orientation():
    original = jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as img:  # the test photo really carries GPS and the marker
        exif = img.getexif()
        assert exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == (7.0, 58.0, 30.0)
        assert exif[ExifTags.Base.Artist] == MARKER
    assert MARKER.encode() in original

    stripped = check_and_strip(original, "IMG_2026.jpg").stripped
    assert MARKER.encode() not in stripped
    for needle in (b"Exif", b"GPS", b"KameraHP", b"ICC_PROFILE", b"http://ns.adobe.com/xap", b"xmpmeta"):
        assert needle not in stripped
    # no APP1 (EXIF/XMP), APP2 (ICC), APP13 (IPTC) or COM segment at all
    assert not set(jpeg_segments(stripped)) & {0xE1, 0xE2, 0xED, 0xFE}
    with Image.open(io.BytesIO(stripped)) as img:
        assert dict(img.getexif()) == {}
        assert img.getexif().get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert "exif" not in img.info and "icc_profile" not in img.info and "comment" not in img.info
        # orientation 6 was applied: 40x20 stored, 20x40 shown, blue (left half) now on top
        assert img.size == (20, 40)
        r, g, b = img.convert("RGB").getpixel((10, 5))
        assert b > 150 and r < 100


def test_a_re_encoded_jpeg_keeps_the_sources_quantisation_and_so_its_size():
    from PIL import ImageFilter
    photo = Image.effect_noise((600, 400), 40).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=40)
    stripped = check_and_strip(out.getvalue()).stripped
    assert len(stripped) <= 1.1 * len(out.getvalue())  # no 3x growth that would break the size limits


def test_a_png_loses_text_chunks_exif_and_icc():
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text("Author", MARKER)
    info.add_itxt("Comment", MARKER, zip=True)
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = MARKER
    original = png(pnginfo=info, exif=exif, icc_profile=b"ICC" + MARKER.encode())
    assert MARKER.encode() in original
    stripped = check_and_strip(original).stripped
    assert MARKER.encode() not in stripped
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf", b"iCCP"):
        assert chunk not in stripped


def pdf_strings(data: bytes) -> bytes:
    """Every byte of the PDF, with each stream decoded as well."""
    chunks = [data]
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Stream):
                try:
                    chunks.append(obj.read_bytes())
                except pikepdf.PdfError:
                    chunks.append(obj.read_raw_bytes())
    return b"\n".join(chunks)


@pytest.mark.skipif(not shutil.which("mat2"), reason="needs Debian's mat2 (make install installs it as root)")
def test_a_pdf_loses_its_information_dictionary_and_xmp():
    original = pdf_with_author()
    with pikepdf.open(io.BytesIO(original)) as pdf:
        assert str(pdf.docinfo["/Author"]) == MARKER and "/Metadata" in pdf.Root
    assert MARKER.encode() in pdf_strings(original)

    stripped = check_and_strip(original, "laporan.pdf").stripped
    assert MARKER.encode() not in pdf_strings(stripped)
    with pikepdf.open(io.BytesIO(stripped)) as pdf:
        assert "/Info" not in pdf.trailer
        assert "/Metadata" not in pdf.Root
        assert "/Metadata" not in pdf.pages[0].obj
        assert len(pdf.pages) == 1


def test_a_docx_loses_its_author_company_custom_properties_and_thumbnail():
    original = docx_with_author()
    assert MARKER.encode() in zipfile.ZipFile(io.BytesIO(original)).read("docProps/core.xml")
    stripped = check_and_strip(original, "catatan.docx").stripped
    with zipfile.ZipFile(io.BytesIO(stripped)) as z:
        names = set(z.namelist())
        assert "docProps/custom.xml" not in names and "docProps/thumbnail.jpeg" not in names
        everything = b"\n".join(z.read(n) for n in names)
        assert MARKER.encode() not in everything
        core = z.read("docProps/core.xml")
        assert b"creator" not in core and b"lastModifiedBy" not in core
        assert b"Company" not in z.read("docProps/app.xml")
        assert b"custom.xml" not in z.read("[Content_Types].xml")
        rels = z.read("_rels/.rels")
        assert b"custom.xml" not in rels and b"thumbnail" not in rels and b"word/document.xml" in rels
        assert z.read("word/document.xml").endswith(b"</w:document>")
        assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in z.infolist())
        with Image.open(io.BytesIO(z.read("word/media/image1.jpeg"))) as img:
            assert dict(img.getexif()) == {}
    # still an Office document by our own rules
    assert checks.check(stripped, 1, LIMITS).kind == "docx"


def test_an_mp3_loses_its_id3_tags():
    original = id3v2(MARKER) + mp3_frames() + b"TAG" + MARKER.encode().ljust(125, b"\0")
    assert checks.check(original, 1, LIMITS).kind == "mp3"
    stripped = check_and_strip(original).stripped
    assert MARKER.encode() not in stripped
    assert stripped == mp3_frames()


def test_an_m4a_keeps_its_layout_but_loses_its_metadata_boxes():
    original = m4a()
    stripped = check_and_strip(original).stripped
    assert len(stripped) == len(original)  # sample offsets stay valid
    assert MARKER.encode() not in stripped and b"\xa9xyz" not in stripped
    assert checks.check(stripped, 1, LIMITS).kind == "m4a"


def test_text_is_kept_as_it_is():
    text = "Kuitansi: Rp 5.000.000\r\nTanggal: 12-10-2026\tLokasi: Malang\n".encode()
    assert check_and_strip(text).stripped == text


# -- labels ----------------------------------------------------------------------------

@pytest.mark.parametrize("name,ext,label", [
    ("../../etc/passwd", ".txt", "passwd.txt"),
    ("C:\\Users\\budi\\Desktop\\foto.jpg", ".jpg", "foto.jpg"),
    ("foto.JPEG", ".jpg", "foto.JPEG"),
    ("bukti\u202egpj.exe", ".png", "buktigpj.exe.png"),
    ("a\x00b\x1bc\nd.pdf", ".pdf", "abcd.pdf"),
    ('"; filename="x.html', ".txt", "__ filename=_x.html.txt"),
    ("...", ".pdf", "lampiran-3.pdf"),
    (None, ".png", "lampiran-3.png"),
    ("  spasi\u00a0 ganda  .pdf", ".pdf", "spasi ganda .pdf"),
])
def test_labels_are_sanitised_display_names(name, ext, label):
    assert stripping.sanitize_label(name, 3, ext) == label


def test_long_labels_are_cut_to_120_characters_keeping_the_extension():
    label = stripping.sanitize_label("x" * 300 + ".docx", 1, ".docx")
    assert len(label) == 120 and label.endswith(".docx")
    assert len(stripping.sanitize_label("y" * 300, 1, ".pdf")) == 120


def test_channel_attachments_stand_alone_under_the_same_limits():
    """check_each/strip_each (mail attachments, WhatsApp media): a bad file is refused by
    position, the good ones pass stripped, with generic labels; counts and sizes carry over."""
    limits = Limits(max_files=3, max_request_bytes=10_000)
    photo = jpeg_with_gps()
    files = [("Scan KTP " + MARKER + ".jpg", photo), ("x.jpg", b"<html><script>1</script></html>"),
             ("b.txt", b"bukti transfer"), ("c.txt", b"satu lagi"), ("d.txt", b"terlalu banyak")]
    checked, refusals = checks.check_each(files, limits)
    assert [n for n, _, _ in checked] == [1, 3, 4]
    assert [(r.index, r.code) for r in refusals] == [(2, "unsupported_type"), (5, "over_report_limit")]
    message = refusals[1].message()
    assert "ke-5" in message["id"] and "File 5" in message["en"] and message["id"] != message["en"]
    prepared, failed = stripping.strip_each(checked, limits)
    assert failed == [] and [p.label for p in prepared] == ["lampiran-1.jpg", "lampiran-3.txt", "lampiran-4.txt"]
    assert MARKER.encode() in photo and MARKER.encode() not in prepared[0].stripped
    assert prepared[0].original == photo
    # what a conversation accepted before counts against the same per-report limit
    checked, refusals = checks.check_each([(None, b"bukti")], limits, start=3, already=(3, 100))
    assert checked == [] and [(r.index, r.code) for r in refusals] == [(3, "over_report_limit")]
    # a file that only looks right is refused alone at stripping
    broken = b"\xff\xd8\xff\xe0" + photo[4:200]
    checked, refusals = checks.check_each([(None, broken), (None, b"teks biasa")], limits)
    prepared, failed = stripping.strip_each(checked, limits)
    assert [p.index for p in prepared] == [2] and [(r.index, r.code) for r in refusals + failed] == [
        (1, "corrupt_file")]
