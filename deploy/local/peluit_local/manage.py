"""Run a service's admin CLI against the local deployment, as that service's
own database role: ``python -m peluit_local.manage cases create-officer ...``
or ``python -m peluit_local.manage reporting rebuild``."""

from __future__ import annotations

import os
import subprocess
import sys

from .keys import ensure_keys
from .system import System

ADMIN_MODULES = {"cases": "peluit_cases.admin", "reporting": "peluit_reporting.admin",
                 "identity-vault": "peluit_vault.admin"}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in ADMIN_MODULES:
        print(f"usage: python -m peluit_local.manage {{{','.join(ADMIN_MODULES)}}} ARGS...", file=sys.stderr)
        return 2
    # the runner gives each service only its own settings; pass the CLI's inputs on
    system = System(extra_env={k: v for k, v in os.environ.items() if k.startswith("PELUIT_NEW_")})
    ensure_keys(system.keys_dir)  # e.g. keys added by a newer version
    try:
        system.admin_command(argv[0], "-m", ADMIN_MODULES[argv[0]], *argv[1:])
    except subprocess.CalledProcessError as exc:
        return exc.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
