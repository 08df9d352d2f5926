"""``python -m peluit_common.run_service <module>`` = ``nameko run --config
deploy/nameko.yaml <module>``, minus eventlet's import-time deprecation banner,
which would be the one non-JSON line in every service log."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path


def _wake_for_signals() -> None:
    """Python runs a signal handler only when the main thread runs Python again.
    A SIGTERM the kernel hands to one of tpool's OS threads leaves an idle hub
    in epoll for up to a minute (the console, with no broker heartbeats, did
    not stop); waking it twice a second lets nameko's handler run at once."""
    import eventlet

    while True:
        eventlet.sleep(0.5)


def amqp_uri_with_password(uri: str, password_file: str) -> str:
    """``AMQP_URI`` names the service's broker user; its password comes from a
    file (a compose or Kubernetes secret), not from the manifest."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    password = Path(password_file).read_text().strip()
    netloc = f"{parts.username}:{quote(password, safe='')}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def main() -> None:
    if os.environ.get("PELUIT_AMQP_PASSWORD_FILE") and os.environ.get("AMQP_URI"):
        os.environ["AMQP_URI"] = amqp_uri_with_password(os.environ["AMQP_URI"], os.environ["PELUIT_AMQP_PASSWORD_FILE"])
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    from nameko.cli.main import main as nameko_main

    eventlet.spawn_n(_wake_for_signals)

    sys.argv = ["nameko", "run", *sys.argv[1:]]
    nameko_main()


if __name__ == "__main__":
    main()
