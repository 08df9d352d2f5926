"""The console's translation catalogues (gettext through Babel, with the
machinery of ``peluit_common.pages``): ``messages.pot``, ``id.po`` and
``en.po`` beside this file, committed, compiled in memory at start-up.

Page strings are written in English (the msgids); officers see Bahasa
Indonesia unless they ask for English (``?lang=en``).

Maintenance::

    python -m peluit_console.i18n extract   # refresh messages.pot and merge it into every .po
    python -m peluit_console.i18n check     # exit 1 if a language lacks a translation
"""

from __future__ import annotations

from pathlib import Path

from peluit_common.pages import TEMPLATE_OPTIONS, PageCatalogue

HERE = Path(__file__).resolve().parent

# what is extracted, relative to the package folder
METHOD_MAP = [
    ("templates/**.html", "jinja2.ext:babel_extract"),
    ("texts.py", "python"),
    ("pages/**.py", "python"),
]
CATALOGUE = PageCatalogue(HERE, "peluit-console", METHOD_MAP, {"templates/**.html": TEMPLATE_OPTIONS})


def main(argv: list[str]) -> int:
    return CATALOGUE.main(argv, __doc__)
