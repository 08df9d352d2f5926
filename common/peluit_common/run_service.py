"""``python -m peluit_common.run_service <module>`` = ``nameko run --config
deploy/nameko.yaml <module>``, minus eventlet's import-time deprecation banner,
which would be the one non-JSON line in every service log."""

from __future__ import annotations

import sys
import warnings


def main() -> None:
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from nameko.cli.main import main as nameko_main

    sys.argv = ["nameko", "run", *sys.argv[1:]]
    nameko_main()


if __name__ == "__main__":
    main()
