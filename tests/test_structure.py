"""The shape of the code base: no import circle inside any package, no module
over 600 lines outside the benchmarks, and every message text in the one
bilingual catalogue (so no deliberate 4xx turns into a 500 for want of its text)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from peluit_contracts.i18n import MESSAGES

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 600
PACKAGES = {  # import name -> folder
    "peluit_common": "common/peluit_common",
    "peluit_contracts": "contracts/peluit_contracts",
    "peluit_intake": "services/intake/peluit_intake",
    "peluit_cases": "services/cases/peluit_cases",
    "peluit_vault": "services/identity-vault/peluit_vault",
    "peluit_notifications": "services/notifications/peluit_notifications",
    "peluit_reporting": "services/reporting/peluit_reporting",
    "peluit_console": "services/console/peluit_console",
    "peluit_verify": "verifier/peluit_verify",
    "peluit_chain": "chain/peluit_chain",
    "peluit_local": "deploy/local/peluit_local",
}


def tracked_python_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.split()


def module_name(package: str, folder: Path, path: Path) -> str:
    parts = list(path.relative_to(folder).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        base = REPO / folder
        for path in sorted(base.rglob("*.py")):
            found[module_name(package, base, path)] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every module of the same package that ``name`` imports, at any depth of the file."""
    package = name.split(".")[0]
    is_package = path.name == "__init__.py"
    here = name if is_package else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets.add(mod)
            targets.update(f"{mod}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t.split(".")[0] == package and t != name}


def circles() -> list[frozenset[str]]:
    known = modules()
    graph = {name: imports_of(name, path, known) for name, path in known.items()}
    # Tarjan's strongly connected components
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(frozenset(component))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    assert [sorted(c) for c in circles()] == []


def test_no_module_over_600_lines_outside_benchmarks():
    over = {}
    for name in tracked_python_files():
        if Path(name).name.startswith("bench"):
            continue
        lines = len((REPO / name).read_text().splitlines())
        if lines > MAX_LINES:
            over[name] = lines
    assert over == {}


LOOKUPS = {"message", "text"}  # peluit_contracts.i18n's lookups


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def literal_codes() -> list[tuple[str, int, str]]:
    found = []
    for folder in PACKAGES.values():
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name, where = _name(node.func), f"{path.relative_to(REPO)}"
                keywords = {k.arg: k.value for k in node.keywords}
                if name == "HttpError" and len(node.args) >= 2:
                    key = keywords.get("text", node.args[1])
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        found.append((where, node.lineno, key.value))
                elif name in LOOKUPS and node.args and isinstance(node.args[0], ast.Constant) \
                        and isinstance(node.args[0].value, str):
                    found.append((where, node.lineno, node.args[0].value))
    return found


def test_every_literal_message_code_is_in_the_catalogue():
    codes = literal_codes()
    assert len(codes) > 50  # the scan does see the code base
    assert [c for c in codes if c[2] not in MESSAGES] == []


def test_no_inline_bilingual_text_outside_the_catalogue():
    catalogue = REPO / "contracts/peluit_contracts/i18n"
    inline = []
    for folder in PACKAGES.values():
        for path in sorted((REPO / folder).rglob("*.py")):
            if catalogue in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Dict):
                    keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
                    if keys == {"id", "en"} and all(isinstance(v, ast.Constant) for v in node.values):
                        inline.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert inline == []
