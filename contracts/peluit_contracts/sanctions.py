"""The PP 94/2021 discipline-sanction catalogue, as versioned data files.

Each published version is a file ``catalogues/sanctions-<name>.v<N>.json``
and stays in the package for ever: a recommendation records the version it
was checked against (``catalogue_version``, e.g. ``pp94-2021/1``) and events
carry it, so a subscriber reading an old event looks up the same version.
A change of the regulation is a new file with the next version, never an
edit of a published one (``contracts/tests/test_sanctions.py`` pins them).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

LEVELS = ("ringan", "sedang", "berat")
# recommendations recorded before the catalogue was data were checked against this one
FIRST_VERSION = "pp94-2021/1"


@dataclass(frozen=True)
class SanctionCatalogue:
    version: str  # "<catalogue>/<N>": what events carry
    legal_basis: str
    levels: dict  # level -> sanction code -> {"months": [...], "tukin_cut_percent": ...}

    def sanctions(self) -> dict[str, set[str]]:
        return {level: set(codes) for level, codes in self.levels.items()}

    def months_allowed(self, level: str, sanction: str) -> list[int]:
        """The durations a sanction may have ([] = no duration)."""
        return list(self.levels[level][sanction].get("months", []))

    def tukin_months(self) -> set[int]:
        return {m for codes in self.levels.values() for spec in codes.values() if "tukin_cut_percent" in spec
                for m in spec["months"]}

    def check(self, level, sanction, months) -> int | None | bool:
        """The sanction's months (None when it has no duration), or False when
        level, sanction or months are not in this catalogue."""
        if level not in self.levels or sanction not in self.levels[level]:
            return False
        allowed = self.months_allowed(level, sanction)
        if not allowed:
            return None
        if len(allowed) == 1 and months in (None, allowed[0]):
            return allowed[0]
        return months if months in allowed else False


def _parse(text: str) -> SanctionCatalogue:
    doc = json.loads(text)
    if set(doc["levels"]) != set(LEVELS):
        raise ValueError("a sanction catalogue names exactly the levels ringan, sedang, berat")
    return SanctionCatalogue(version=f"{doc['catalogue']}/{int(doc['version'])}", legal_basis=doc["legal_basis"],
                             levels=doc["levels"])


@functools.cache
def catalogues() -> dict[str, SanctionCatalogue]:
    """Every published version, by version string."""
    out = {}
    for entry in resources.files(__package__).joinpath("catalogues").iterdir():
        if entry.name.startswith("sanctions-") and entry.name.endswith(".json"):
            catalogue = _parse(entry.read_text(encoding="utf-8"))
            out[catalogue.version] = catalogue
    return out


def version_number(version: str) -> tuple[str, int]:
    name, _, number = version.rpartition("/")
    return name, int(number)


def current() -> SanctionCatalogue:
    """The newest version: what new recommendations are checked against."""
    return catalogues()[max(catalogues(), key=version_number)]


def catalogue(version: str | None) -> SanctionCatalogue:
    return catalogues()[version or FIRST_VERSION]
