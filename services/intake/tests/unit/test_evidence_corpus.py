"""The stripped copy against a forensic examiner, on files made by real tools:
Debian's LibreOffice (headless) writes DOCX, XLSX, PPTX, ODT, ODS and a PDF
with comments, tracked changes, template path, custom properties and an
embedded photo under a marker user name; exiftool writes GPS, artist, camera,
software and XMP into JPEG, PNG and that PDF. Each stripped copy is read back
with exiftool and every part, stream and string of it is searched (decompressed)
for the markers; the originals are searched the same way first, so a marker
that never got in cannot make a test pass. ``make test`` installs the tools
(Debian packages, as root); without them these tests are skipped with a note.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import subprocess
import zipfile
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from peluit_intake import evidence_checks as checks
from peluit_intake import evidence_strip as stripping
from peluit_intake.evidence_checks import Limits

NAME = "Pelapor" + secrets.token_hex(4)  # the reporter's user name, as Office would record it
MAIL = f"{NAME.lower()}@bkd.example.go.id"
PATH = f"C:/Users/{NAME}/Templates/Surat Dinas.ott"
CAMERA = "Kamera" + secrets.token_hex(4)
MARKERS = [NAME, MAIL, f"Users/{NAME}", CAMERA]
SOFFICE, EXIFTOOL = shutil.which("soffice"), shutil.which("exiftool")
if not (SOFFICE and EXIFTOOL and shutil.which("mat2")):
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the evidence corpus: LibreOffice, exiftool or mat2 is missing (see .ci/run)")
    pytest.skip("needs Debian's libreoffice-*-nogui, libimage-exiftool-perl and mat2 (make install and make test "
                "install them as root)", allow_module_level=True)

# -- making the corpus ------------------------------------------------------------------

NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
      'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
      'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
      'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
      'xmlns:officeooo="http://openoffice.org/2009/office" '
      'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
      'xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.3"')


def meta() -> str:
    return (f"<office:meta><meta:initial-creator>{NAME}</meta:initial-creator><dc:creator>{NAME}</dc:creator>"
            f"<dc:title>Laporan {NAME}</dc:title><dc:description>{MAIL}</dc:description>"
            f'<meta:template xlink:type="simple" xlink:actuate="onRequest" xlink:title="Surat Dinas" '
            f'xlink:href="file:///{PATH}"/>'
            f'<meta:user-defined meta:name="Email">{MAIL}</meta:user-defined></office:meta>')


def change_info() -> str:
    return (f"<office:change-info><dc:creator>{NAME}</dc:creator><dc:date>2024-03-01T09:00:00</dc:date>"
            "</office:change-info>")


def annotation(text: str = "periksa angka ini") -> str:
    return (f"<office:annotation><dc:creator>{NAME}</dc:creator><dc:date>2024-03-01T09:00:00</dc:date>"
            f"<meta:creator-initials>PX</meta:creator-initials><text:p>{text}</text:p></office:annotation>")


def picture(photo: bytes, width: str = "3cm") -> str:
    return (f'<draw:frame draw:name="foto" svg:width="{width}" svg:height="2cm"><draw:image>'
            f"<office:binary-data>{base64.b64encode(photo).decode()}</office:binary-data></draw:image></draw:frame>")


def flat_odf(kind: str, body: str) -> str:
    """A flat ODF document of ``kind`` (text, spreadsheet, presentation) with the tracked metadata."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><office:document {NS} '
            f'office:mimetype="application/vnd.oasis.opendocument.{kind}">{meta()}<office:body>'
            f"<office:{kind}>{body}</office:{kind}></office:body></office:document>")


def text_document(photo: bytes) -> str:
    return flat_odf("text", f'<text:tracked-changes><text:changed-region text:id="ct1"><text:insertion>'
                    f"{change_info()}"
                    f'</text:insertion></text:changed-region><text:changed-region text:id="ct2"><text:deletion>'
                    f"{change_info()}<text:p>kalimat yang dihapus</text:p></text:deletion></text:changed-region>"
                    f"</text:tracked-changes>"
                    f'<text:p>Bukti pengadaan jalan. <text:change-start text:change-id="ct1"/>Nilai kontrak naik.'
                    f'<text:change-end text:change-id="ct1"/><text:change text:change-id="ct2"/>{annotation()}'
                    f'<text:a xlink:type="simple" xlink:href="file:///C:/Users/{NAME}/Desktop/rekap.xlsx">rekap</text:a>'
                    f"</text:p><text:p>{picture(photo)}</text:p>")


def spreadsheet(photo: bytes) -> str:
    return flat_odf("spreadsheet", f'<table:table table:name="Anggaran"><table:shapes>{picture(photo)}</table:shapes>'
                    f'<table:table-row><table:table-cell office:value-type="string"><text:p>Pagu</text:p>'
                    f'</table:table-cell><table:table-cell office:value-type="float" office:value="1250000">'
                    f"{annotation()}<text:p>1250000</text:p></table:table-cell></table:table-row></table:table>")


def presentation(photo: bytes) -> str:
    return flat_odf("presentation", f'<draw:page draw:name="1">{picture(photo)}'
                    f'<officeooo:annotation svg:x="1cm" svg:y="1cm"><dc:creator>{NAME}</dc:creator>'
                    f"<dc:date>2024-03-01T09:00:00</dc:date><text:p>cek slide</text:p></officeooo:annotation>"
                    f"</draw:page>")


def exif_tagged(path: Path) -> None:
    """GPS, artist, camera, software, comment and XMP, written as a camera app or editor would."""
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", f"-Artist={NAME}", f"-XMP-dc:Creator={NAME}",
                    f"-XMP-dc:Rights={MAIL}", f"-Make={CAMERA}", f"-Model={CAMERA}", f"-Software={CAMERA}",
                    f"-UserComment={MAIL}", "-GPSLatitude=6.1754", "-GPSLatitudeRef=S",
                    "-GPSLongitude=106.8272", "-GPSLongitudeRef=E", str(path)], check=True, timeout=60)


def soffice_binary() -> str:
    """``soffice.bin`` itself: the wrapper script and its splash launcher add about 2 s per call."""
    binary = Path(shutil.which("soffice")).resolve().parent / "soffice.bin"
    return str(binary) if binary.exists() else SOFFICE


# A Basic macro in the profile converts a list of (source, target, filter) in one LibreOffice process
# (--convert-to takes one target format per process). A file that does not load is skipped: no output.
CONVERT_MACRO = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">
Sub Convert(jobFile As String)
  On Error Resume Next
  Dim n As Integer, row As String, parts, doc
  Dim load(0) As New com.sun.star.beans.PropertyValue
  Dim notes(0) As New com.sun.star.beans.PropertyValue
  Dim store(1) As New com.sun.star.beans.PropertyValue
  load(0).Name = "Hidden" : load(0).Value = True
  notes(0).Name = "ExportNotes" : notes(0).Value = True
  store(0).Name = "FilterName"
  store(1).Name = "FilterData" : store(1).Value = notes()
  n = FreeFile
  Open jobFile For Input As #n
  Do While Not EOF(n)
    Line Input #n, row
    parts = Split(row, Chr(9))
    doc = StarDesktop.loadComponentFromURL(parts(0), "_blank", 0, load())
    store(0).Value = parts(2)
    doc.storeToURL(parts(1), store())
    doc.close(True)
  Loop
  Close #n
  StarDesktop.terminate()
End Sub
</script:module>
""".replace('"Hidden"', "&quot;Hidden&quot;").replace('"ExportNotes"', "&quot;ExportNotes&quot;").replace(
    '"FilterName"', "&quot;FilterName&quot;").replace('"FilterData"', "&quot;FilterData&quot;").replace(
    '"_blank"', "&quot;_blank&quot;")
FILTERS = {".docx": "MS Word 2007 XML", ".odt": "writer8", ".xlsx": "Calc MS Excel 2007 XML", ".ods": "calc8",
           ".pptx": "Impress MS PowerPoint 2007 XML"}
PDF_FILTERS = {".fodt": "writer_pdf_Export", ".docx": "writer_pdf_Export", ".odt": "writer_pdf_Export",
               ".xlsx": "calc_pdf_Export", ".ods": "calc_pdf_Export", ".pptx": "impress_pdf_Export"}


@pytest.fixture(scope="module")
def libreoffice(tmp_path_factory):
    """``convert(jobs)``: every (source, target) in one headless LibreOffice process (about 1 s
    plus the documents), the filter chosen by the target's extension and the source's kind."""
    work = tmp_path_factory.mktemp("libreoffice")
    profile = [f"-env:UserInstallation={(work / 'profile').as_uri()}"]
    subprocess.run([soffice_binary(), "--headless", "--norestore", *profile, "--terminate_after_init"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    (work / "profile" / "user" / "basic" / "Standard" / "Module1.xba").write_text(CONVERT_MACRO, encoding="utf-8")

    def convert(jobs: list[tuple[Path, Path]]) -> None:
        listing = work / f"jobs-{secrets.token_hex(3)}.txt"
        listing.write_text("".join(
            f"{source.as_uri()}\t{target.as_uri()}\t"
            f"{PDF_FILTERS[source.suffix] if target.suffix == '.pdf' else FILTERS[target.suffix]}\n"
            for source, target in jobs), encoding="utf-8")
        subprocess.run([soffice_binary(), "--headless", "--norestore", *profile,
                        f'macro:///Standard.Module1.Convert("{listing}")'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
    return convert


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, libreoffice) -> dict[str, bytes]:
    """kind -> the original, made once per session."""
    work = tmp_path_factory.mktemp("corpus")
    photo = work / "foto.jpg"
    Image.new("RGB", (96, 64), (180, 40, 40)).save(photo, "JPEG")
    exif_tagged(photo)
    png = work / "foto.png"
    Image.new("RGB", (96, 64), (40, 180, 40)).save(png, "PNG")
    exif_tagged(png)
    embedded = photo.read_bytes()
    sources = {}
    for name, make in (("laporan.fodt", text_document), ("anggaran.fods", spreadsheet),
                       ("paparan.fodp", presentation)):
        sources[name] = work / name
        sources[name].write_text(make(embedded), encoding="utf-8")
    out = work / "out"
    out.mkdir()
    libreoffice([(sources["laporan.fodt"], out / "laporan.docx"), (sources["laporan.fodt"], out / "laporan.odt"),
                 (sources["laporan.fodt"], out / "laporan.pdf"), (sources["anggaran.fods"], out / "anggaran.xlsx"),
                 (sources["anggaran.fods"], out / "anggaran.ods"), (sources["paparan.fodp"], out / "paparan.pptx")])
    exif_tagged(out / "laporan.pdf")  # an incremental update on top of LibreOffice's own author
    files = {"jpeg": photo, "png": png, "pdf": out / "laporan.pdf", "docx": out / "laporan.docx",
             "odt": out / "laporan.odt", "xlsx": out / "anggaran.xlsx", "ods": out / "anggaran.ods",
             "pptx": out / "paparan.pptx"}
    missing = [k for k, p in files.items() if not p.exists()]
    assert not missing, f"LibreOffice made no {missing}"
    # the corpus is what it claims: comments in the PDF, comments and tracked changes in the DOCX
    with pikepdf.open(files["pdf"]) as pdf:
        assert any("/Annots" in page.obj for page in pdf.pages)
    with zipfile.ZipFile(files["docx"]) as z:
        assert "word/comments.xml" in z.namelist() and f'w:author="{NAME}"'.encode() in z.read("word/document.xml")
    return {kind: path.read_bytes() for kind, path in files.items()}


@pytest.fixture(scope="module")
def stripped(corpus) -> dict[str, bytes]:
    out = {}
    for kind, data in corpus.items():
        detected = checks.check(data, 1, Limits())
        assert detected.kind == kind
        out[kind] = stripping.strip(data, detected, 1, Limits())
    return out


# -- reading like an examiner ---------------------------------------------------------------

def exiftool(data: bytes, tmp: Path, ext: str) -> dict:
    path = tmp / f"copy-{secrets.token_hex(3)}{ext}"
    path.write_bytes(data)
    done = subprocess.run([EXIFTOOL, "-j", "-a", "-G1", "-ee", "-b", str(path)], capture_output=True, timeout=60)
    return json.loads(done.stdout)[0]


def pieces(data: bytes) -> list[bytes]:
    """The file and everything inside it, decompressed: ZIP parts (recursively),
    PDF streams (decoded where pikepdf can) and every PDF string and name."""
    found = [data]
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for info in z.infolist():
                found += pieces(z.read(info))
    elif data.startswith(b"%PDF"):
        with pikepdf.open(io.BytesIO(data)) as pdf:
            found.append(repr(pdf.trailer).encode("utf-8", "replace"))
            for obj in pdf.objects:
                found.append(repr(obj).encode("utf-8", "replace") if not isinstance(obj, pikepdf.Stream)
                             else repr(dict(obj.items())).encode("utf-8", "replace"))
                if isinstance(obj, pikepdf.Stream):
                    found.append(obj.read_raw_bytes())
                    try:
                        found.append(obj.read_bytes())
                    except pikepdf.PdfError:
                        pass
    return found


def markers_in(data: bytes) -> set[str]:
    hits = set()
    for piece in pieces(data):
        for marker in MARKERS:
            for encoding in ("utf-8", "utf-16-be", "utf-16-le"):
                if marker.encode(encoding) in piece or marker.replace("/", "\\").encode(encoding) in piece:
                    hits.add(marker)
    return hits


EXT = {"jpeg": ".jpg", "png": ".png", "pdf": ".pdf", "docx": ".docx", "odt": ".odt", "xlsx": ".xlsx",
       "ods": ".ods", "pptx": ".pptx"}
# tags that name a person, a device, a place, a program or a path, whoever wrote them
FORBIDDEN_TAGS = ("Artist", "Author", "Creator", "Make", "Model", "Software", "GPS", "Producer", "Rights",
                  "UserComment", "Template", "LastModifiedBy", "Company", "Manager", "Application",
                  "Generator", "InitialCreator", "ThumbnailImage", "PreviewImage", "Email")


@pytest.mark.parametrize("kind", list(EXT))
def test_the_original_carries_the_markers_and_the_stripped_copy_none(corpus, stripped, kind, tmp_path):
    assert markers_in(corpus[kind]), f"the {kind} original carries no marker: the test would prove nothing"
    assert markers_in(stripped[kind]) == set()
    tags = exiftool(stripped[kind], tmp_path, EXT[kind])
    text = json.dumps(tags, ensure_ascii=False)
    assert not any(marker in text for marker in MARKERS), text
    left = sorted(k for k in tags if any(t.lower() in k.split(":")[-1].lower() for t in FORBIDDEN_TAGS))
    assert left == [], f"{kind}: exiftool still reads {left}"


def test_office_copies_drop_people_comments_settings_and_custom_parts(stripped):
    for kind in ("docx", "xlsx", "pptx", "odt", "ods"):
        with zipfile.ZipFile(io.BytesIO(stripped[kind])) as z:
            names = z.namelist()
        assert not [n for n in names if any(part in n.lower() for part in (
            "comment", "people", "person", "custom", "thumbnail", "settings.xml.rels", "revisions"))], names
        if kind in ("odt", "ods"):
            assert names[0] == "mimetype" and "settings.xml" not in names


def test_pictures_inside_pdf_and_office_files_were_re_encoded(corpus, stripped):
    """The embedded photo kept its GPS inside the LibreOffice originals; the copies hold pictures without it."""
    for kind in ("docx", "odt", "xlsx", "pptx"):
        with zipfile.ZipFile(io.BytesIO(stripped[kind])) as z:
            media = [z.read(n) for n in z.namelist() if checks.sniff(z.read(n)) in ("jpeg", "png")]
        assert media, f"{kind}: the picture is gone (it must be kept, re-encoded)"
        for raw in media:
            with Image.open(io.BytesIO(raw)) as img:
                assert not img.getexif() and "xmp" not in img.info and "exif" not in img.info


def test_every_copy_still_opens_in_libreoffice_and_the_pdf_keeps_selectable_text(stripped, libreoffice, tmp_path):
    """Stripping must not cost the evidence: LibreOffice opens every Office copy
    (one process for all), and poppler still finds the PDF's text."""
    jobs = []
    for kind in ("docx", "xlsx", "pptx", "odt", "ods"):
        source = tmp_path / f"copy-{kind}{EXT[kind]}"
        source.write_bytes(stripped[kind])
        jobs.append((source, tmp_path / f"copy-{kind}.pdf"))
    libreoffice(jobs)
    for source, rendered in jobs:
        assert rendered.exists(), f"LibreOffice could not open the stripped {source.name}"
        with pikepdf.open(rendered) as pdf:
            assert len(pdf.pages) >= 1
    pdf = tmp_path / "copy.pdf"
    pdf.write_bytes(stripped["pdf"])
    text = subprocess.run(["/usr/bin/python3", "-c", POPPLER_TEXT, pdf.as_uri()], capture_output=True,
                          timeout=60, text=True)
    assert "Bukti pengadaan jalan" in text.stdout, text.stderr


# mat2's own dependency (python3-gi with Poppler) reads the text layer
POPPLER_TEXT = """
import sys, gi
gi.require_version("Poppler", "0.18")
from gi.repository import Poppler
doc = Poppler.Document.new_from_file(sys.argv[1], None)
print("".join(doc.get_page(i).get_text() for i in range(doc.get_n_pages())))
"""
