"""A real SMTP server for the tests (aiosmtpd), run as its own process:
``python smtp_sink.py PORT MAILDIR``. Keeps every mail in a Maildir and
refuses any recipient whose address starts with ``refuse`` (550), as a
mail server refuses one bad address while it takes the others."""

from __future__ import annotations

import signal
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


class Sink(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


if __name__ == "__main__":
    port, maildir = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(maildir), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()
