"""Exports without a database: a formula in a code cannot run in a spreadsheet."""

from __future__ import annotations

from peluit_reporting import export

def test_a_spreadsheet_formula_in_a_code_is_neutralised():
    assert export._cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert export._cell("korupsi") == "korupsi" and export._cell(None) == ""

