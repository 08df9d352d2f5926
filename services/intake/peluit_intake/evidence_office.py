"""Metadata stripping for Office (OOXML: DOCX/XLSX/PPTX) and OpenDocument
(ODT/ODS) packages: our own code, not mat2 (docs/channels.md says why).

Both are ZIP packages of XML parts. Parts that only carry people, history or
hidden files are dropped with every relationship, content-type override and
manifest entry naming them; every other XML part is scrubbed as text (so
prefixes and declarations stay exactly as the application wrote them) and
parsed again (defusedxml) to prove it is still well-formed; every embedded
JPEG/PNG is re-encoded; every entry gets the same timestamp.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile

from .evidence_checks import Limits, check_zip_bomb, parse_xml, sniff

EMPTY_CORE = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
              b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
              b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
              b' xmlns:dcmitype="http://purl.org/dc/dcmitype/"'
              b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"></cp:coreProperties>')
EMPTY_APP = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
             b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
             b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"></Properties>')
EMPTY_ODF_META = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
                  b'<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
                  b' office:version="1.3"><office:meta/></office:document-meta>')
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)

# parts that carry people (comments, their authors, reviewers), history, hidden files or paths; revisionInfo
# names each editing client by a GUID, docMetadata the organisation's sensitivity labels
_OOXML_DROPPED = re.compile(
    r"docProps/(custom\.xml|thumbnail\.[^/]+)|customXml/.*|docMetadata/.*|\[trash\]/.*"
    r"|(word|xl|ppt)/(comments[^/]*\.xml|people\.xml|persons/.*|threadedComments/.*|commentAuthors\.xml"
    r"|authors\.xml|comments/.*|revisions/.*|revisionInfo\.xml|printerSettings/.*|embeddings/.*|activeX/.*"
    r"|webSettings\.xml)"
    r"|word/_rels/settings\.xml\.rels",  # holds only the attached template's path and mail-merge sources
    re.IGNORECASE)
# OpenDocument: settings.xml names printers and paths; Thumbnails is a picture of page 1
_ODF_DROPPED = re.compile(r"(.*/)?settings\.xml|Thumbnails/.*|Configurations2/.*|layout-cache", re.IGNORECASE)
_ODF_KEPT_BINARY = re.compile(r"mimetype|(.*/)?(Pictures|ObjectReplacements)/[^/]+")

# attributes naming people or machines (tracked changes, comments, shared workbooks) and paths
_PERSON_ATTRIBUTES = re.compile(
    rb"(\s(?:[\w.-]+:)?(?:author|initials|userId|providerId|userName|creator|lastModifiedBy"
    rb"|connection|sourceFile|odcFile))"  # the last three: a workbook's data connections (paths, logins)
    rb"(\s*=\s*)(\"[^\"]*\"|'[^']*')")
_RSID = re.compile(rb"\s(?:[\w.-]+:)?rsid\w*\s*=\s*(\"[^\"]*\"|'[^']*')")
# elements removed whole: revision-session ids, the attached template, document variables, mail merge,
# document GUIDs and cloud revision pointers, absolute paths, comment anchors (their part is dropped)
_REMOVED_ELEMENT = re.compile(
    rb"<((?:[\w.-]+:)?(?:rsids|rsidRoot|rsid|attachedTemplate|docVars|mailMerge|docId|revisionPtr|absPath"
    rb"|commentRangeStart|commentRangeEnd|commentReference))(?:\s[^>]*?)?(?:/>|(?<!/)>.*?</\1\s*>)", re.DOTALL)
# elements whose text names a person (ODF meta and change-info, author fields)
_PERSON_ELEMENTS = re.compile(
    rb"<((?:[\w.-]+:)?(?:creator|initial-creator|creator-initials|author-name|author-initials|printed-by"
    rb"|sender-[\w-]+))((?:\s[^>]*?)?)(?<!/)>.*?</\1\s*>", re.DOTALL)
_RELATIONSHIP = re.compile(rb"<(?:[\w.-]+:)?Relationship\b[^>]*?(?:/>|>\s*</(?:[\w.-]+:)?Relationship\s*>)")
_TARGET = re.compile(rb"\s(Target)\s*=\s*(\"[^\"]*\"|'[^']*')")
_EXTERNAL = re.compile(rb"\sTargetMode\s*=\s*[\"']External[\"']")
_SAFE_LINK = re.compile(rb"[\"'](https?:|mailto:)", re.IGNORECASE)
# ODF links: a part of the package ("Pictures/1.png", "./Object 1") or the web stay; a path out of the
# package ("../../C:/Users/<name>/...", "file:///...", "\\\\server\\share") is a user path and goes
_ODF_LINK = re.compile(rb"(\sxlink:href\s*=\s*)(\"[^\"]*\"|'[^']*')")
_INTERNAL_LINK = re.compile(rb"[\"'](?:https?:|mailto:|#|(?:\./)?(?![./\\])(?![^\"']*\.\.)[^:\\\"']*[\"']$)",
                            re.IGNORECASE)


def scrub_xml(raw: bytes, index: int) -> bytes:
    """One XML part without people, revision-session ids, template and local paths."""
    parse_xml(raw, index)
    out = _PERSON_ATTRIBUTES.sub(lambda m: m.group(1) + m.group(2) + b'""', raw)
    out = _RSID.sub(b"", out)
    out = _REMOVED_ELEMENT.sub(b"", out)
    out = _PERSON_ELEMENTS.sub(lambda m: b"<" + m.group(1) + m.group(2) + b"></" + m.group(1) + b">", out)
    out = _ODF_LINK.sub(lambda m: m.group(0) if _INTERNAL_LINK.match(m.group(2)) else m.group(1) + b'""', out)
    parse_xml(out, index)
    return out


def _relationships(raw: bytes, part: str, dropped: set[str], index: int) -> bytes:
    """A ``.rels`` part without relationships to dropped parts; external targets
    other than web and mail links (local files: ``file:///C:/Users/...``) become ``#``."""
    parse_xml(raw, index)
    base = posixpath.dirname(posixpath.dirname(part))  # word/_rels/document.xml.rels -> word

    def keep(match: re.Match) -> bytes:
        element = match.group(0)
        target = _TARGET.search(element)
        if target is None:
            return element
        if _EXTERNAL.search(element):
            return element if _SAFE_LINK.match(target.group(2)) else \
                element[:target.start(2)] + b'"#"' + element[target.end(2):]
        path = target.group(2)[1:-1].decode("utf-8", "replace")
        resolved = path.lstrip("/") if path.startswith("/") else posixpath.normpath(posixpath.join(base, path))
        return b"" if resolved in dropped else element

    out = _RELATIONSHIP.sub(keep, raw)
    parse_xml(out, index)
    return out


def _without_entries(raw: bytes, tag: bytes, attribute: bytes, dropped: set[str], index: int) -> bytes:
    """The XML without the ``tag`` elements whose ``attribute`` names a dropped part
    (``[Content_Types].xml`` overrides, ODF ``manifest:file-entry``)."""
    parse_xml(raw, index)
    element = re.compile(rb"<(?:[\w.-]+:)?" + tag + rb"\b[^>]*?(?:/>|>\s*</(?:[\w.-]+:)?" + tag + rb"\s*>)")
    value = re.compile(rb"\s(?:[\w.-]+:)?" + attribute + rb"\s*=\s*[\"']([^\"']*)[\"']")

    def drop(match: re.Match) -> bytes:
        found = value.search(match.group(0))
        return b"" if found and found.group(1).decode("utf-8", "replace").lstrip("/") in dropped else match.group(0)

    out = element.sub(drop, raw)
    parse_xml(out, index)
    return out


def strip_package(data: bytes, kind: str, index: int, limits: Limits, strip_image) -> bytes:
    """The stripped copy of an OOXML (``docx``/``xlsx``/``pptx``) or ODF
    (``odt``/``ods``) package; ``strip_image(raw, kind, index, limits)``
    re-encodes embedded pictures."""
    odf = kind in ("odt", "ods")
    parts: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as src:
        infos = [i for i in check_zip_bomb(src, index, limits) if not i.is_dir()]
        dropped = {i.filename for i in infos if (_ODF_DROPPED if odf else _OOXML_DROPPED).fullmatch(i.filename)}
        for info in infos:
            if info.filename in dropped or info.filename in parts:
                continue
            raw = _part(src, info, odf, dropped, index, limits, strip_image)
            if raw is None:
                dropped.add(info.filename)
            else:
                parts[info.filename] = raw
    # the lists of parts, once every dropped part is known
    for name, tag, attribute in (("[Content_Types].xml", b"Override", b"PartName"),
                                 ("META-INF/manifest.xml", b"file-entry", b"full-path")):
        if name in parts:
            parts[name] = _without_entries(parts[name], tag, attribute, dropped, index)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, raw in parts.items():
            entry = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            # ODF 1.2 3.3: "mimetype" first and stored, so the type can be read at a fixed offset
            entry.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, raw)
    return out.getvalue()


def _part(src: zipfile.ZipFile, info: zipfile.ZipInfo, odf: bool, dropped: set[str], index: int,
          limits: Limits, strip_image) -> bytes | None:
    """One kept part's new bytes, or None to drop it after all."""
    name = info.filename
    if not odf and name == "docProps/core.xml":
        return EMPTY_CORE
    if not odf and name == "docProps/app.xml":
        return EMPTY_APP
    if odf and (name == "meta.xml" or name.endswith("/meta.xml")):
        return EMPTY_ODF_META
    raw = src.read(info)
    found = sniff(raw)
    if found in ("jpeg", "png"):
        return strip_image(raw, found, index, limits)
    if name.endswith(".rels"):
        return _relationships(raw, name, dropped, index)
    if name in ("[Content_Types].xml", "META-INF/manifest.xml", "mimetype"):
        return raw  # rewritten at the end (the lists) or plain ASCII (mimetype)
    if name.endswith((".xml", ".rdf")):  # not VML: Office writes it as HTML-like, not well-formed XML
        return scrub_xml(raw, index)
    if odf and not _ODF_KEPT_BINARY.fullmatch(name):
        return None  # an embedded OLE object or other file: "embedded files" are not passed on
    return raw
