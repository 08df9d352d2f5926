"""The PP 94/2021 sanction catalogue is versioned data."""

from __future__ import annotations

import hashlib
from importlib import resources

import pytest

from peluit_contracts import sanctions

# a published catalogue version is never edited: a change of the regulation is a new file
FROZEN = {"sanctions-pp94-2021.v1.json": "3cb7c96b4eab8d987f042b2af3025030e80748634dc77d58ec785ef16c950625"}


def test_published_catalogue_files_are_never_edited():
    folder = resources.files("peluit_contracts").joinpath("catalogues")
    for name, digest in FROZEN.items():
        assert hashlib.sha256(folder.joinpath(name).read_bytes()).hexdigest() == digest, name


def test_the_first_version_is_pp94_2021_as_the_regulation_lists_it():
    first = sanctions.catalogue(None)
    assert first.version == sanctions.FIRST_VERSION == "pp94-2021/1"
    assert first.sanctions() == {
        "ringan": {"teguran_lisan", "teguran_tertulis", "pernyataan_tidak_puas_tertulis"},
        "sedang": {"pemotongan_tukin_25_persen"},
        "berat": {"penurunan_jabatan", "pembebasan_dari_jabatan", "pemberhentian_dengan_hormat"},
    }
    assert first.tukin_months() == {6, 9, 12}
    assert first.levels["sedang"]["pemotongan_tukin_25_persen"]["tukin_cut_percent"] == 25


@pytest.mark.parametrize("level, sanction, months, expected", [
    ("sedang", "pemotongan_tukin_25_persen", 9, 9),
    ("sedang", "pemotongan_tukin_25_persen", 7, False),
    ("sedang", "pemotongan_tukin_25_persen", None, False),
    ("berat", "penurunan_jabatan", None, 12),  # a fixed duration is filled in
    ("berat", "penurunan_jabatan", 6, False),
    ("berat", "pemberhentian_dengan_hormat", None, None),
    ("ringan", "teguran_lisan", None, None),
    ("ringan", "penurunan_jabatan", None, False),
    ("sangat_berat", "teguran_lisan", None, False),
])
def test_check_against_the_catalogue(level, sanction, months, expected):
    assert sanctions.current().check(level, sanction, months) == expected


def test_the_current_version_is_the_newest_file():
    newest = max(sanctions.catalogues(), key=sanctions.version_number)
    assert sanctions.current().version == newest
