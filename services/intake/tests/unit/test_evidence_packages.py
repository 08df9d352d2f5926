"""Evidence stripping of documents as Word, LibreOffice and PDF writers lay
them out: Word's reviewers, people, template path and customXml; OpenDocument
packages with charts, macros or encryption; pictures inside PDFs (cairo passes
them on byte for byte). The corpus made by the real tools: test_evidence_corpus.py."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile

import pikepdf
import pytest
from PIL import Image

from peluit_intake import evidence_checks as checks

from .test_evidence import LIMITS, MARKER, check_and_strip, docx_with_author, jpeg_with_gps, pdf_strings, png, refusal


def pdf_with_images(marker: str = MARKER) -> bytes:
    """A page showing a GPS-tagged JPEG and a JPEG 2000 with an XML box naming ``marker``,
    both embedded byte for byte (as PDF writers do, and as cairo passes them on)."""
    jp2 = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 200, 10)).save(jp2, "JPEG2000")
    xml = f"<x:xmpmeta><dc:creator>{marker}</dc:creator></x:xmpmeta>".encode()
    jp2_file = jp2.getvalue() + struct.pack(">I", 8 + len(xml)) + b"xml " + xml
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(200, 200))
    images = {}
    for name, raw, size, codec in (("/Im0", jpeg_with_gps(marker, (64, 48), 1), (64, 48), "/DCTDecode"),
                                   ("/Im1", jp2_file, (32, 24), "/JPXDecode")):
        images[name] = pikepdf.Stream(pdf, raw, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image,
                                      Width=size[0], Height=size[1], BitsPerComponent=8,
                                      ColorSpace=pikepdf.Name.DeviceRGB, Filter=pikepdf.Name(codec))
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(images))
    page.Contents = pikepdf.Stream(pdf, b"q 128 0 0 96 10 10 cm /Im0 Do Q q 64 0 0 48 10 120 cm /Im1 Do Q")
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.mark.skipif(not shutil.which("mat2"), reason="needs Debian's mat2 (make install installs it as root)")
def test_images_inside_a_pdf_lose_their_exif_gps_and_xml_boxes():
    """cairo (under mat2) copies JPEG and JPEG 2000 streams byte for byte: they are re-encoded after it."""
    original = pdf_with_images()
    assert pdf_strings(original).count(MARKER.encode()) >= 2
    stripped = check_and_strip(original, "foto.pdf").stripped
    assert MARKER.encode() not in pdf_strings(stripped)
    with pikepdf.open(io.BytesIO(stripped)) as pdf:
        images = [o for o in pdf.objects if isinstance(o, pikepdf.Stream) and o.get("/Subtype") == "/Image"]
        assert len(images) == 2  # still shown
        for image in images:
            shown = pikepdf.PdfImage(image).as_pil_image()
            assert shown.size in ((64, 48), (32, 24)) and "exif" not in shown.info


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" ' \
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
PKG_RELS = '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'


def word_parts(marker: str = MARKER) -> dict:
    """What Word itself writes beside the text: reviewers, comments, the attached template, customXml."""
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    return {
        "word/document.xml": (
            f'<?xml version="1.0"?><w:document {W}><w:body><w:p w:rsidR="00A1B2C3" w:rsidRDefault="00A1B2C3">'
            f'<w:commentRangeStart w:id="0"/><w:ins w:id="1" w:author="{marker}" w:date="2024-03-01T09:00:00Z">'
            f'<w:r><w:t>Nilai kontrak naik</w:t></w:r></w:ins><w:del w:id="2" w:author="{marker}" '
            f'w:date="2024-03-01T09:00:00Z"><w:r><w:delText>lama</w:delText></w:r></w:del><w:commentRangeEnd w:id="0"/>'
            f'<w:r><w:commentReference w:id="0"/></w:r></w:p></w:body></w:document>'),
        "word/_rels/document.xml.rels": (
            f'{PKG_RELS}<Relationship Id="rId1" Type="{rel}comments" Target="comments.xml"/>'
            f'<Relationship Id="rId2" Type="http://schemas.microsoft.com/office/2011/relationships/people" '
            f'Target="people.xml"/><Relationship Id="rId3" Type="{rel}settings" Target="settings.xml"/>'
            f'<Relationship Id="rId4" Type="{rel}customXml" Target="../customXml/item1.xml"/>'
            f'<Relationship Id="rId5" Type="{rel}hyperlink" TargetMode="External" '
            f'Target="file:///C:\\Users\\{marker}\\Desktop\\rekap.xlsx"/>'
            f'<Relationship Id="rId6" Type="{rel}hyperlink" TargetMode="External" '
            f'Target="https://lpse.example.go.id/"/>'
            f'</Relationships>'),
        "word/comments.xml": f'<?xml version="1.0"?><w:comments {W}><w:comment w:id="0" w:author="{marker}" '
                             f'w:initials="PX"><w:p><w:r><w:t>cek</w:t></w:r></w:p></w:comment></w:comments>',
        "word/people.xml": (f'<?xml version="1.0"?><w15:people xmlns:w15="http://schemas.microsoft.com/office/word/'
                            f'2012/wordml"><w15:person w15:author="{marker}"><w15:presenceInfo w15:providerId="AD" '
                            f'w15:userId="{marker}@bkd.example.go.id"/></w15:person></w15:people>'),
        "word/settings.xml": (f'<?xml version="1.0"?><w:settings {W}><w:attachedTemplate r:id="rId1"/>'
                              f'<w:zoom w:percent="100"/><w:rsids><w:rsidRoot w:val="00A1B2C3"/>'
                              f'<w:rsid w:val="00A1B2C3"/></w:rsids></w:settings>'),
        "word/_rels/settings.xml.rels": (
            f'{PKG_RELS}<Relationship Id="rId1" Type="{rel}attachedTemplate" TargetMode="External" '
            f'Target="file:///C:\\Users\\{marker}\\AppData\\Roaming\\Microsoft\\Templates\\Dinas.dotm"/>'
            f'</Relationships>'),
        "customXml/item1.xml": f'<?xml version="1.0"?><NIP>{marker}</NIP>',
        "docMetadata/LabelInfo.xml": f'<?xml version="1.0"?><labelList><label siteId="{marker}"/></labelList>',
        "word/revisionInfo.xml": f'<?xml version="1.0"?><revInfo><client id="{marker}"/></revInfo>',
        "word/connections.xml": (f'<?xml version="1.0"?><connections><connection id="1"><dbPr connection="Data '
                                 f'Source=C:\\Users\\{marker}\\data.accdb" sourceFile="C:\\Users\\{marker}"/>'
                                 f'</connection></connections>'),
    }


def test_a_word_docx_loses_reviewers_comments_people_template_path_and_custom_xml():
    original = docx_with_author(extra=word_parts())
    stripped = check_and_strip(original, "catatan.docx").stripped
    with zipfile.ZipFile(io.BytesIO(stripped)) as z:
        names = set(z.namelist())
        assert not names & {"word/comments.xml", "word/people.xml", "word/_rels/settings.xml.rels",
                            "customXml/item1.xml"}
        assert MARKER.encode() not in b"\n".join(z.read(n) for n in names)
        document, rels = z.read("word/document.xml"), z.read("word/_rels/document.xml.rels")
        assert b"Nilai kontrak naik" in document and b'w:author=""' in document
        assert b"rsid" not in document and b"comment" not in document
        assert b"comments.xml" not in rels and b"people.xml" not in rels and b"customXml" not in rels
        assert b'Target="#"' in rels and b"https://lpse.example.go.id/" in rels and b"settings.xml" in rels
        settings = z.read("word/settings.xml")
        assert b"attachedTemplate" not in settings and b"rsid" not in settings and b"w:zoom" in settings


def odf(kind: str = "spreadsheet", extra: dict | None = None, marker: str = MARKER) -> bytes:
    """An OpenDocument package as LibreOffice lays it out, with a chart object that has its own meta.xml."""
    office = 'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
    meta = (f'<?xml version="1.0"?><office:document-meta {office} xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<office:meta><dc:creator>{marker}</dc:creator></office:meta></office:document-meta>")
    parts = {
        "mimetype": f"application/vnd.oasis.opendocument.{kind}",
        "content.xml": (f'<?xml version="1.0"?><office:document-content {office}><office:body/>'
                        "</office:document-content>"),
        "meta.xml": meta, "Object 1/content.xml": f'<?xml version="1.0"?><office:document-content {office}/>',
        "Object 1/meta.xml": meta, "Thumbnails/thumbnail.png": png(),
        "META-INF/manifest.xml": (
            '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
            'manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.'
            f'opendocument.{kind}"/><manifest:file-entry manifest:full-path="Thumbnails/thumbnail.png" '
            'manifest:media-type="image/png"/><manifest:file-entry manifest:full-path="Object 1/" '
            'manifest:media-type="application/vnd.oasis.opendocument.chart"/></manifest:manifest>'),
        **(extra or {})}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
    return out.getvalue()


def test_an_ods_with_a_chart_is_accepted_and_loses_every_meta_and_the_thumbnail():
    stripped = check_and_strip(odf(), "anggaran.ods")
    assert (stripped.mime, stripped.label) == ("application/vnd.oasis.opendocument.spreadsheet", "lampiran-1.ods")
    with zipfile.ZipFile(io.BytesIO(stripped.stripped)) as z:
        names = z.namelist()
        assert names[0] == "mimetype" and z.getinfo("mimetype").compress_type == zipfile.ZIP_STORED
        assert "Object 1/content.xml" in names and "Thumbnails/thumbnail.png" not in names
        assert MARKER.encode() not in b"\n".join(z.read(n) for n in names)
        assert b"Thumbnails" not in z.read("META-INF/manifest.xml")
    assert checks.check(stripped.stripped, 1, LIMITS).kind == "ods"


def test_odf_with_macros_encrypted_or_of_another_kind_is_refused():
    assert refusal(odf(extra={"Basic/Standard/Module1.xml": "<x/>"})).code == "macro_document"
    encrypted = odf(extra={"META-INF/manifest.xml": (
        '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="content.xml"><manifest:encryption-data/></manifest:file-entry>'
        "</manifest:manifest>")})
    assert refusal(encrypted).code == "encrypted_file"
    assert refusal(odf("presentation")).code == "unsupported_type"
    assert checks.check(odf("text"), 1, LIMITS).kind == "odt"
