"""``python -m peluit_common.run_service <module>`` = ``nameko run --config
deploy/nameko.yaml <module>``, minus eventlet's import-time deprecation banner,
which would be the one non-JSON line in every service log."""

from __future__ import annotations

import sys
import warnings


def _wake_for_signals() -> None:
    """Python runs a signal handler only when the main thread runs Python again.
    A SIGTERM the kernel hands to one of tpool's OS threads leaves an idle hub
    in epoll for up to a minute (the console, with no broker heartbeats, did
    not stop); waking it twice a second lets nameko's handler run at once."""
    import eventlet

    while True:
        eventlet.sleep(0.5)


def main() -> None:
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    from nameko.cli.main import main as nameko_main

    eventlet.spawn_n(_wake_for_signals)

    sys.argv = ["nameko", "run", *sys.argv[1:]]
    nameko_main()


if __name__ == "__main__":
    main()
