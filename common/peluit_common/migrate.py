"""``python -m peluit_common.migrate <entry module>``: create or upgrade one
service's tables, then exit; the versioned migration job of a deployment
(Kubernetes runs it before a rollout; the services then start with
``PELUIT_MIGRATE_AT_START=0``). Runs each dependency of the service class that
has a ``migrate_schema()`` hook, in declaration order (cases: its own tables,
then the event store and its hash chain)."""

from __future__ import annotations

import importlib
import logging
import sys
import warnings

log = logging.getLogger("peluit_common.migrate")


def service_classes(module) -> list[type]:
    """The nameko service classes defined in an entry module."""
    return [obj for obj in vars(module).values()
            if isinstance(obj, type) and obj.__module__ == module.__name__ and isinstance(getattr(obj, "name", None), str)]


def migrate(module_name: str) -> list[str]:
    """Runs every migration hook of the module's services; returns what ran."""
    module = importlib.import_module(module_name)
    ran = []
    for cls in service_classes(module):
        for attr, provider in vars(cls).items():
            hook = getattr(provider, "migrate_schema", None)
            if callable(hook):
                hook()
                ran.append(f"{cls.name}.{attr}")
    return ran


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m peluit_common.migrate <entry module, e.g. peluit_cases.service>", file=sys.stderr)
        return 2
    ran = migrate(args[0])
    print(f"{args[0]}: migrated {', '.join(ran) or 'nothing (no tables)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
