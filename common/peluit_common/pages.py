"""Server-rendered pages (intake's portal, the officers' console): gettext
catalogues through Babel, and the Jinja2 environment that uses them.

Each site keeps ``messages.pot`` and one ``<lang>.po`` per language in its own
``i18n`` folder, committed; the ``.po`` files are compiled in memory at start-up
(no ``.mo`` file to forget or to go stale). Strings are written in English (the
msgids); Bahasa Indonesia is the language shown unless English is asked for.
Needs the ``pages`` extra of peluit-common (Jinja2, Babel).
"""

from __future__ import annotations

import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
DOMAIN = "messages"
# templates are extracted with the options they are rendered with
TEMPLATE_OPTIONS = {"extensions": "jinja2.ext.i18n", "trimmed": "true", "silent": "false",
                    "newstyle_gettext": "true"}


def choose_language(*candidates: str | None) -> str:
    """The first candidate that is a language we speak, else Bahasa Indonesia.
    Only an explicit ``lang`` parameter counts: no cookie, no Accept-Language guessing."""
    for value in candidates:
        if value in LANGUAGES:
            return value
    return DEFAULT_LANGUAGE


class PageCatalogue:
    """The catalogues of one site: ``folder`` holds them, its parent is the
    package whose files ``method_map`` (Babel's, relative to the package) names."""

    def __init__(self, folder: Path, project: str, method_map: list, options_map: dict):
        self.folder, self.package, self.project = Path(folder), Path(folder).parent, project
        self.method_map, self.options_map = method_map, options_map
        self.pot = self.folder / f"{DOMAIN}.pot"

    def po_path(self, lang: str) -> Path:
        return self.folder / f"{lang}.po"

    def read(self, lang: str) -> Catalog:
        with self.po_path(lang).open("rb") as fp:
            return read_po(fp, locale=lang, domain=DOMAIN)

    def load(self) -> dict[str, Translations]:
        """Every language's catalogue, compiled in memory."""
        out = {}
        for lang in LANGUAGES:
            buf = io.BytesIO()
            write_mo(buf, self.read(lang), use_fuzzy=False)
            buf.seek(0)
            out[lang] = Translations(buf, domain=DOMAIN)
        return out

    def extract(self) -> Catalog:
        """Every translatable string of the site's templates and code."""
        catalog = Catalog(project=self.project, domain=DOMAIN, charset="utf-8")
        for filename, lineno, message, comments, context in extract_from_dir(
                str(self.package), self.method_map, self.options_map, strip_comment_tags=True):
            catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
        return catalog

    def missing(self, lang: str, template: Catalog | None = None) -> list[str]:
        """msgids of ``template`` (default: a fresh extraction) that ``lang``
        does not translate (absent, empty or fuzzy)."""
        template = template or self.extract()
        catalog = self.read(lang)
        out = []
        for entry in template:
            if not entry.id:
                continue
            found = catalog.get(entry.id, entry.context)
            translated = found is not None and not found.fuzzy and (
                found.string if isinstance(found.string, str) else all(found.string))
            if not translated:
                out.append(entry.id if isinstance(entry.id, str) else entry.id[0])
        return out

    def _write(self, path: Path, catalog: Catalog) -> None:
        buf = io.BytesIO()
        write_po(buf, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
        path.write_bytes(buf.getvalue())

    def main(self, argv: list[str], usage: str | None) -> int:
        """``extract`` (refresh the .pot, merge it into every .po, then check) or ``check``
        (exit 1 if a language lacks a translation)."""
        command = argv[0] if argv else "check"
        template = self.extract()
        if command == "extract":
            self._write(self.pot, template)
            for lang in LANGUAGES:
                catalog = self.read(lang) if self.po_path(lang).exists() else Catalog(locale=lang, domain=DOMAIN)
                catalog.update(template, no_fuzzy_matching=True)
                catalog.obsolete.clear()
                self._write(self.po_path(lang), catalog)
            command = "check"
        if command == "check":
            bad = {lang: self.missing(lang, template) for lang in LANGUAGES}
            for lang, ids in bad.items():
                for msgid in ids:
                    print(f"{lang}: untranslated: {msgid!r}")
            return 1 if any(bad.values()) else 0
        print(usage)
        return 2


def jinja_environment(templates: Path, translations: Translations, **globals_) -> Environment:
    """Autoescaped, strict about undefined names, gettext installed (trimmed,
    new style: ``_("... %(n)s", n=...)``), templates read once."""
    environment = Environment(loader=FileSystemLoader(str(templates)), autoescape=True, undefined=StrictUndefined,
                              extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                              auto_reload=False)
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_translations(translations, newstyle=True)
    environment.globals.update(globals_)
    return environment
