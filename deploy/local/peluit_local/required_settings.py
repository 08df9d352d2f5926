"""The settings each service must be given in production, derived from its code.

    python -m peluit_local.required_settings      # one line per service

Reads the source (no import, no start): a setting is required in production
where the code reads it through ``peluit_common.settings`` with no default
(``env("X")``), with a default that names this machine (``env("X",
"127.0.0.1")``, see ``settings.loopback``), or as a key file
(``secret_bytes("X", ...)``); through helpers too, following the variable name
through parameters (``load_verify_key()`` -> ``secret_bytes(name_env, ...)``,
``db_conninfo()`` -> ``env(f"{prefix}_NAME")``). A service needs what its own
package reads and what the shared code it references reads, and the
``${VAR:default}`` entries of ``deploy/nameko.yaml`` with a loopback default
when it uses the broker or serves HTTP.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from peluit_common.settings import loopback

REPO = Path(__file__).resolve().parents[3]
SHARED = {"peluit_common": REPO / "common" / "peluit_common", "peluit_contracts": REPO / "contracts" / "peluit_contracts"}
READERS = {"env": "default", "env_int": "default", "env_float": "default", "secret_bytes": "file"}
SETTINGS = "peluit_common.settings"
Template = tuple  # parts: str, or ("param", name)


def service_packages() -> dict[str, Path]:
    """Service name (its folder) -> its package folder."""
    out = {}
    for folder in sorted((REPO / "services").iterdir()):
        packages = [p for p in folder.iterdir() if p.name.startswith("peluit_") and (p / "__init__.py").exists()]
        if packages:
            out[folder.name] = packages[0]
    return out


@dataclass
class Function:
    qualname: str
    module: "Module"
    node: ast.AST
    params: list = field(default_factory=list)
    defaults: dict = field(default_factory=dict)


@dataclass
class Module:
    name: str
    tree: ast.Module
    imports: dict = field(default_factory=dict)  # local name -> qualified name
    defs: dict = field(default_factory=dict)  # top-level name -> qualified name


class Code:
    """Every module of the shared packages and the services, parsed once."""

    def __init__(self):
        self.modules: dict[str, Module] = {}
        self.functions: dict[str, Function] = {}
        self.classes: dict[str, list[str]] = {}  # class -> its methods
        for package, path in [*SHARED.items(), *((p.name, p) for p in service_packages().values())]:
            for file in sorted(path.rglob("*.py")):
                parts = file.relative_to(path.parent).with_suffix("").parts
                name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
                self._add(Module(name, ast.parse(file.read_text(), str(file))), file.name == "__init__.py")
        self.sinks = self._sinks()

    def _add(self, module: Module, package: bool) -> None:
        self.modules[module.name] = module
        base = module.name if package else module.name.rpartition(".")[0]
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ImportFrom):
                origin = node.module or ""
                if node.level:  # from . import x / from ..y import x
                    parts = base.split(".")
                    origin = ".".join(parts[: len(parts) - node.level + 1] + ([origin] if origin else []))
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = f"{origin}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:  # import a.b binds a; import a.b as c binds c to a.b
                    if alias.asname:
                        module.imports[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        module.imports[top] = top
        for node in module.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(module, f"{module.name}.{node.name}", node)
                module.defs[node.name] = f"{module.name}.{node.name}"
            elif isinstance(node, ast.ClassDef):
                qual = f"{module.name}.{node.name}"
                module.defs[node.name] = qual
                self.classes[qual] = [self._function(module, f"{qual}.{item.name}", item) for item in node.body
                                      if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))]
        self._function(module, f"{module.name}.<module>", module.tree)

    def _function(self, module: Module, qual: str, node) -> str:
        fn = Function(qual, module, node)
        if not isinstance(node, ast.Module):
            args = node.args
            fn.params = [a.arg for a in [*args.posonlyargs, *args.args]]
            for arg, default in zip(reversed(fn.params), reversed(args.defaults)):
                fn.defaults[arg] = default
            for arg, default in zip(args.kwonlyargs, args.kw_defaults):
                fn.params.append(arg.arg)
                if default is not None:
                    fn.defaults[arg.arg] = default
        self.functions[qual] = fn
        return qual

    # -- name resolution -------------------------------------------------------------

    def resolve(self, module: Module, expr) -> str | None:
        """The qualified name an expression refers to, when it is a module-level name."""
        if isinstance(expr, ast.Name):
            return module.defs.get(expr.id) or module.imports.get(expr.id)
        if isinstance(expr, ast.Attribute):
            owner = self.resolve(module, expr.value)
            return f"{owner}.{expr.attr}" if owner else None
        return None

    def canonical(self, qual: str | None) -> str | None:
        """Follow re-exports (``from .x import f`` in a package) to the definition."""
        for _ in range(5):
            if qual is None or qual in self.functions or qual in self.classes:
                return qual
            owner, _, attr = qual.rpartition(".")
            module = self.modules.get(owner)
            if module is None or attr not in module.imports:
                return qual
            qual = module.imports[attr]
        return qual

    # -- which functions read a setting, and under which name ------------------------

    def _calls(self, fn: Function):
        for stmt in _own_code(fn.node):
            for node in ast.walk(stmt):
                if isinstance(node, ast.Call):
                    yield node, self.canonical(self.resolve(fn.module, node.func))

    def _template(self, fn: Function, expr) -> Template | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return (expr.value,)
        if isinstance(expr, ast.Name) and expr.id in fn.params:
            return (("param", expr.id),)
        if isinstance(expr, ast.JoinedStr):
            parts = []
            for value in expr.values:
                part = self._template(fn, value.value if isinstance(value, ast.FormattedValue) else value)
                if part is None:
                    return None
                parts.extend(part)
            return tuple(parts)
        return None

    def _loopback_default(self, fn: Function, expr) -> bool:
        if isinstance(expr, ast.Name):  # a local computed just before: default = f"127.0.0.1:{port}"
            name = expr.id
            for node in ast.walk(fn.node):
                if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name
                                                        for t in node.targets):
                    expr = node.value
        texts = [n.value for n in ast.walk(expr) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        return loopback("".join(texts)) if texts else False

    def _bind(self, callee: Function, call: ast.Call, caller: Function) -> dict | None:
        """Each callee parameter -> template in the caller's terms (None: unknown)."""
        bound = {}
        params = callee.params[1:] if callee.params[:1] in (["self"], ["cls"]) else callee.params
        for name, arg in zip(params, call.args):
            bound[name] = self._template(caller, arg)
        for kw in call.keywords:
            if kw.arg:
                bound[kw.arg] = self._template(caller, kw.value)
        for name, default in callee.defaults.items():
            bound.setdefault(name, self._template(callee, default))
        return bound

    def _sinks(self) -> dict[str, set]:
        """Function -> the name templates it requires (in its own parameters' terms)."""
        sinks: dict[str, set] = {}
        changed = True
        while changed:
            changed = False
            for qual, fn in self.functions.items():
                found = set()
                for call, target in self._calls(fn):
                    if target and target.startswith(SETTINGS + ".") and target.rpartition(".")[2] in READERS:
                        kind = READERS[target.rpartition(".")[2]]
                        if not call.args:
                            continue
                        required = (kind == "file" or len(call.args) < 2 and not call.keywords
                                    or len(call.args) >= 2 and self._loopback_default(fn, call.args[1]))
                        template = self._template(fn, call.args[0])
                        if required and template is not None:
                            found.add(template)
                    elif target in sinks and target in self.functions:
                        bound = self._bind(self.functions[target], call, fn)
                        for template in sinks[target]:
                            new = []
                            for part in template:
                                value = bound.get(part[1]) if isinstance(part, tuple) else (part,)
                                if value is None:
                                    break
                                new.extend(value)
                            else:
                                found.add(tuple(new))
                if found - sinks.get(qual, set()):
                    sinks[qual] = sinks.get(qual, set()) | found
                    changed = True
        return sinks

    # -- per service -------------------------------------------------------------------

    def reached(self, package: str) -> set[str]:
        """The functions a service runs: all of its own package, module-level code of
        what it imports, and the shared functions and classes its code names."""
        todo = [q for q in self.functions if q == package or q.startswith(package + ".")]
        seen: set[str] = set()
        while todo:
            qual = todo.pop()
            if qual in seen or qual not in self.functions:
                continue
            seen.add(qual)
            fn = self.functions[qual]
            todo.append(f"{fn.module.name}.<module>")
            for node in (n for stmt in _own_code(fn.node) for n in ast.walk(stmt)):
                target = self.canonical(self.resolve(fn.module, node)) if isinstance(
                    node, (ast.Name, ast.Attribute)) else None
                if target in self.classes:
                    todo.extend(self.classes[target])
                elif target in self.functions:
                    todo.append(target)
                elif target in self.modules:
                    todo.append(f"{target}.<module>")
        return seen

    def required(self, package: str) -> set[str]:
        out = set()
        for qual in self.reached(package):
            for template in self.sinks.get(qual, ()):
                if all(isinstance(p, str) for p in template):
                    out.add("".join(template))
        return out


def _own_code(node) -> list:
    """A function's body; for a module, what runs at import: its statements and
    class bodies (``db = Database(...)``), not the functions defined there."""
    if not isinstance(node, ast.Module):
        return [node]
    out, todo = [], list(node.body)
    while todo:
        stmt = todo.pop()
        if isinstance(stmt, ast.ClassDef):
            todo.extend(stmt.body)
            out.extend(stmt.decorator_list + stmt.bases)
        elif not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(stmt)
    return out


_NAMEKO_VAR = re.compile(r"\$\{(\w+):([^}]*)\}")
_BROKER = ("nameko.rpc", "nameko.events", "nameko.messaging", "peluit_common.amqp", "peluit_common.rpc")


def nameko_required(code: Code, package: str) -> set[str]:
    """``deploy/nameko.yaml`` entries with a loopback default: the broker's URI for a
    service that uses the broker, the web address for one that serves HTTP."""
    imports = {q for m in code.modules.values() if m.name.startswith(package) for q in m.imports.values()}
    uses_broker = any(q.startswith(_BROKER) for q in imports)
    out = set()
    for name, default in _NAMEKO_VAR.findall((REPO / "deploy" / "nameko.yaml").read_text()):
        if loopback(default) and (name != "AMQP_URI" or uses_broker):
            out.add(name)
    return out


def required_settings() -> dict[str, set[str]]:
    """Service name -> the environment variables it needs in production."""
    code = Code()
    return {service: code.required(path.name) | nameko_required(code, path.name) | {"PELUIT_ENV"}
            for service, path in service_packages().items()}


def main() -> int:
    for service, names in required_settings().items():
        print(f"{service}: {' '.join(sorted(names))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
