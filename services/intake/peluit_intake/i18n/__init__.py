"""The portal's translation catalogues (gettext through Babel).

``messages.pot`` and one ``<lang>.po`` per language (``id.po``, ``en.po``) live
beside this file and are committed; the ``.po`` files are compiled in memory
when intake starts (``load_translations``), so no build step can be
forgotten and no ``.mo`` file goes stale.

Template and portal strings are written in English (the msgids); Bahasa
Indonesia is the default language the reporter sees.

Maintenance::

    python -m peluit_intake.i18n extract   # refresh messages.pot and merge it into every .po
    python -m peluit_intake.i18n check     # exit 1 if a language lacks a translation
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
DOMAIN = "messages"

HERE = Path(__file__).resolve().parent
PACKAGE = HERE.parent
POT = HERE / f"{DOMAIN}.pot"

# what is extracted, relative to the package folder
METHOD_MAP = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("portal.py", "python"),
    ("portal_*.py", "python"),
]
OPTIONS_MAP = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true", "silent": "false",
                                     "newstyle_gettext": "true"}}


def choose_language(*candidates: str | None) -> str:
    """The first candidate that is a language we speak, else Bahasa Indonesia.
    Only an explicit ``lang`` parameter counts: no cookie (none may exist
    before a receipt), no Accept-Language guessing."""
    for value in candidates:
        if value in LANGUAGES:
            return value
    return DEFAULT_LANGUAGE


def po_path(lang: str) -> Path:
    return HERE / f"{lang}.po"


def read_catalogue(lang: str) -> Catalog:
    with po_path(lang).open("rb") as fp:
        return read_po(fp, locale=lang, domain=DOMAIN)


def compile_catalogue(catalog: Catalog) -> Translations:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def load_translations() -> dict[str, Translations]:
    return {lang: compile_catalogue(read_catalogue(lang)) for lang in LANGUAGES}


def extract() -> Catalog:
    """Every translatable string in the templates and the portal's code."""
    catalog = Catalog(project="peluit-intake", domain=DOMAIN, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(PACKAGE), METHOD_MAP, OPTIONS_MAP, strip_comment_tags=True):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def _write(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
    path.write_bytes(buf.getvalue())


def missing(lang: str, template: Catalog | None = None) -> list[str]:
    """msgids of ``template`` (default: a fresh extraction) that ``lang``
    does not translate (absent, empty or fuzzy)."""
    template = template or extract()
    catalog = read_catalogue(lang)
    out = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id, message.context)
        if found is None or found.fuzzy or not (found.string if isinstance(found.string, str)
                                                 else all(found.string)):
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    template = extract()
    if command == "extract":
        _write(POT, template)
        for lang in LANGUAGES:
            catalog = read_catalogue(lang) if po_path(lang).exists() else Catalog(locale=lang, domain=DOMAIN)
            catalog.update(template, no_fuzzy_matching=True)
            catalog.obsolete.clear()
            _write(po_path(lang), catalog)
        command = "check"
    if command == "check":
        bad = {lang: missing(lang, template) for lang in LANGUAGES}
        for lang, ids in bad.items():
            for msgid in ids:
                print(f"{lang}: untranslated: {msgid!r}")
        return 1 if any(bad.values()) else 0
    print(__doc__)
    return 2

