"""The portal's translation catalogues (gettext through Babel, with the
machinery of ``peluit_common.pages``).

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

from pathlib import Path

from peluit_common.pages import DEFAULT_LANGUAGE, DOMAIN, LANGUAGES, TEMPLATE_OPTIONS, PageCatalogue, choose_language

__all__ = ["DEFAULT_LANGUAGE", "DOMAIN", "LANGUAGES", "choose_language"]

HERE = Path(__file__).resolve().parent

# what is extracted, relative to the package folder
METHOD_MAP = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("portal.py", "python"),
    ("portal_*.py", "python"),
]
OPTIONS_MAP = {"templates/**.html": TEMPLATE_OPTIONS}

CATALOGUE = PageCatalogue(HERE, "peluit-intake", METHOD_MAP, OPTIONS_MAP)
POT = CATALOGUE.pot
po_path = CATALOGUE.po_path
read_catalogue = CATALOGUE.read
load_translations = CATALOGUE.load
extract = CATALOGUE.extract
missing = CATALOGUE.missing


def main(argv: list[str]) -> int:
    return CATALOGUE.main(argv, __doc__)
