"""An inbound SMTP listener inside intake, on eventlet, and its nameko entrypoint.

Our own small server rather than aiosmtpd: registering a report needs a nameko
worker (its RPC proxies) on the eventlet hub, and aiosmtpd would need a second
(asyncio) loop in a real thread with hand-offs both ways. The subset of RFC 5321
a final-destination server needs is small, so ``SmtpSession`` speaks it on green
sockets and ``InboundMail`` runs each message in a worker, like an HTTP request;
the session waits for the worker's answer to DATA. Reply texts are the
catalogue's ``smtp_*``, Bahasa Indonesia then English on one line.
"""

from __future__ import annotations

import logging
import re
import socket
from dataclasses import dataclass
from functools import partial
from typing import Callable

import eventlet
from eventlet.event import Event
from nameko.exceptions import ContainerBeingKilled
from nameko.extensions import Entrypoint, ProviderCollector, SharedExtension

from peluit_contracts.i18n import message

from .mail_settings import MailSettings, resolve_tenant

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    code: int
    text: str

    def encode(self) -> bytes:
        return f"{self.code} {self.text}\r\n".encode("ascii", "replace")


@dataclass
class Envelope:
    """One accepted SMTP transaction: envelope sender, the tenant its WBS
    recipient names, and the message bytes."""

    sender: str
    tenant: str
    data: bytes = b""

    def __repr__(self) -> str:  # never show an address or a message in a log or traceback
        return f"<Envelope tenant={self.tenant} bytes={len(self.data)}>"


def smtp(code: int, status: str | None, text: str, **params) -> Reply:
    """A reply with the catalogue's ``text``: ``<enhanced status> <id> / <en>``."""
    words = message(text, **params)
    return Reply(code, " ".join(p for p in (status, f"{words['id']} / {words['en']}") if p))


OK = Reply(250, "2.0.0 Ok")
TEMPORARY = smtp(451, "4.3.0", "smtp_temporary")
SHUTTING_DOWN = smtp(421, "4.3.2", "smtp_shutting_down")
TOO_LARGE = smtp(552, "5.3.4", "smtp_too_large")
MAIL_FIRST = smtp(503, "5.5.1", "smtp_mail_first")


# -- SMTP ------------------------------------------------------------------------

COMMAND_LINE_LIMIT = 2048
DATA_CHUNK = 64 * 1024
MAX_BAD_COMMANDS = 10


class _Closed(Exception):
    pass


class _SessionExpired(BaseException):
    """A connection's lifetime is capped (slow senders hold a slot otherwise);
    a BaseException so that no ``except Exception`` on the way swallows it."""


class SmtpSession:
    """One SMTP connection (RFC 5321 server side, final delivery only).

    ``deliver(envelope) -> Reply`` decides the answer to DATA. End of data is
    recognised only as ``CRLF . CRLF`` (no bare-LF variants: SMTP smuggling).
    """

    def __init__(self, sock, settings: MailSettings, resolve: Callable[[str], str | None],
                 deliver: Callable[[Envelope], Reply], stopping: Callable[[], bool] = lambda: False):
        self.sock = sock
        self.rfile = sock.makefile("rb")
        self.settings = settings
        self.resolve = resolve
        self.deliver = deliver
        self.stopping = stopping
        self.greeted = False
        self.busy = False  # inside deliver(): let it finish on shutdown
        self.bad_commands = 0
        self._reset()

    def _reset(self) -> None:
        self.sender: str | None = None
        self.tenant: str | None = None

    def send(self, *lines: str | Reply) -> None:
        data = b"".join(r.encode() if isinstance(r, Reply) else (r + "\r\n").encode("ascii", "replace")
                        for r in lines)
        self.sock.sendall(data)

    def run(self) -> None:
        lifetime = eventlet.Timeout(self.settings.session_seconds, _SessionExpired())
        try:
            self.sock.settimeout(self.settings.timeout)
            self.send(f"220 {self.settings.hostname} ESMTP Peluit")
            while True:
                line = self.rfile.readline(COMMAND_LINE_LIMIT + 1)
                if not line:
                    return
                if self.stopping():
                    self.send(SHUTTING_DOWN)
                    return
                if len(line) > COMMAND_LINE_LIMIT or not line.endswith(b"\n"):
                    self._drain_line(line)
                    self.send(smtp(500, "5.5.2", "smtp_line_too_long"))
                    if self._bad():
                        return
                    continue
                if not self.command(line.rstrip(b"\r\n").decode("utf-8", "replace")):
                    return
        except (socket.timeout, TimeoutError, _SessionExpired):
            self._quietly(smtp(421, "4.4.2", "smtp_timeout"))
        except (_Closed, OSError):
            pass
        except Exception as exc:  # a bug must end this session only, and say nothing about the message
            log.error("smtp session failed: %s", type(exc).__name__)
            self._quietly(smtp(421, "4.3.0", "smtp_session_failed"))
        finally:
            lifetime.cancel()
            self._close()

    def _quietly(self, reply: Reply) -> None:
        try:
            self.send(reply)
        except OSError:
            pass

    def _close(self) -> None:
        for closer in (self.rfile.close, self.sock.close):
            try:
                closer()
            except OSError:
                pass

    def _drain_line(self, line: bytes) -> None:
        while line and not line.endswith(b"\n"):
            line = self.rfile.readline(COMMAND_LINE_LIMIT)

    def _bad(self) -> bool:
        self.bad_commands += 1
        if self.bad_commands >= MAX_BAD_COMMANDS:
            self.send(smtp(421, "4.7.0", "smtp_too_many_errors"))
            return True
        return False

    # one command; False ends the session
    def command(self, line: str) -> bool:
        verb, _, arg = line.strip().partition(" ")
        verb = verb.upper()
        handler = getattr(self, "smtp_" + verb, None) if verb.isalpha() else None
        if handler is None:
            if verb in ("VRFY",):
                self.send(smtp(252, "2.5.0", "smtp_cannot_vrfy"))
                return True
            if verb in ("EXPN", "HELP", "TURN", "ETRN", "STARTTLS", "AUTH", "BDAT", "SEND", "SOML", "SAML"):
                self.send(smtp(502, "5.5.1", "smtp_not_implemented"))
            else:
                self.send(smtp(500, "5.5.2", "smtp_unrecognized"))
            return not self._bad()
        return handler(arg.strip()) is not False

    def _greet(self, verb: str, arg: str, *lines: str) -> None:
        if not arg:
            self.send(smtp(501, "5.5.4", "smtp_syntax_hello", verb=verb))
            return
        self._reset()
        self.greeted = True
        self.send(*lines)

    def smtp_HELO(self, arg: str):
        self._greet("HELO", arg, f"250 {self.settings.hostname}")

    def smtp_EHLO(self, arg: str):
        self._greet("EHLO", arg, f"250-{self.settings.hostname}", f"250-SIZE {self.settings.max_bytes}",
                    "250-8BITMIME", "250-SMTPUTF8", "250-PIPELINING", "250 ENHANCEDSTATUSCODES")

    def smtp_NOOP(self, arg: str):
        self.send("250 2.0.0 Ok")

    def smtp_RSET(self, arg: str):
        self._reset()
        self.send("250 2.0.0 Ok")

    def smtp_QUIT(self, arg: str):
        self.send(smtp(221, "2.0.0", "smtp_bye"))
        return False

    @staticmethod
    def _path(arg: str, keyword: str) -> tuple[str, list[str]] | None:
        match = re.fullmatch(keyword + r":\s*<([^<>]*)>(.*)", arg, flags=re.IGNORECASE)
        if match is None:
            return None
        path = match.group(1).strip()
        if path.startswith("@"):  # obsolete source route: @a,@b:user@domain
            path = path.partition(":")[2]
        return path, match.group(2).split()

    def smtp_MAIL(self, arg: str):
        if not self.greeted:
            self.send(smtp(503, "5.5.1", "smtp_ehlo_first"))
            return
        if self.sender is not None:
            self.send(smtp(503, "5.5.1", "smtp_nested_mail"))
            return
        parsed = self._path(arg, "FROM")
        if parsed is None or (parsed[0] and "@" not in parsed[0]):
            self.send(smtp(501, "5.5.4", "smtp_syntax_mail"))
            return
        path, params = parsed
        refusal = self._mail_parameters(params)
        if refusal is not None:
            self.send(refusal)
            return
        self.sender = path
        self.send("250 2.1.0 Ok")

    def _mail_parameters(self, params: list[str]) -> Reply | None:
        """The refusal of MAIL's parameters (SIZE over the limit, anything unknown), or None."""
        for param in params:
            name, _, value = param.partition("=")
            name = name.upper()
            if name == "SIZE" and value.isdigit():
                if int(value) > self.settings.max_bytes:
                    return TOO_LARGE
            elif not ((name == "BODY" and value.upper() in ("7BIT", "8BITMIME")) or (name == "SMTPUTF8" and not value)):
                return smtp(555, "5.5.4", "smtp_unsupported_parameter", verb="MAIL")
        return None

    def smtp_RCPT(self, arg: str):
        if self.sender is None:
            self.send(MAIL_FIRST)
            return
        parsed = self._path(arg, "TO")
        if parsed is None or "@" not in parsed[0]:
            self.send(smtp(501, "5.5.4", "smtp_syntax_rcpt"))
            return
        if parsed[1]:
            self.send(smtp(555, "5.5.4", "smtp_unsupported_parameter", verb="RCPT"))
            return
        tenant = self.resolve(parsed[0])
        if tenant is None:
            self.send(smtp(550, "5.1.1", "smtp_unknown_recipient"))
            return
        if self.tenant is not None and tenant != self.tenant:
            # RFC 5321 3.5.3: the sender delivers this recipient in a later transaction
            self.send(smtp(452, "4.5.3", "smtp_one_tenant"))
            return
        self.tenant = tenant
        self.send("250 2.1.5 Ok")

    def smtp_DATA(self, arg: str):
        if self.sender is None:
            self.send(MAIL_FIRST)
            return
        if self.tenant is None:
            self.send(smtp(554, "5.5.1", "smtp_no_recipients"))
            return
        self.send(smtp(354, None, "smtp_start_data"))
        data = self._read_data()
        envelope = Envelope(self.sender, self.tenant)
        self._reset()
        if data is None:
            self.send(TOO_LARGE)
            return
        envelope.data = data
        self.busy = True
        try:
            reply = self.deliver(envelope)
        except Exception as exc:  # deliver must answer; if it cannot, the sender retries
            log.error("mail delivery failed: %s", type(exc).__name__)
            reply = TEMPORARY
        finally:
            self.busy = False
            del envelope
        self.send(reply)

    def _read_data(self) -> bytes | None:
        chunks, size, too_big, line_start = [], 0, False, True
        while True:
            chunk = self.rfile.readline(DATA_CHUNK)
            if not chunk:
                raise _Closed()
            if line_start:
                if chunk == b".\r\n":
                    break
                if chunk.startswith(b"."):
                    chunk = chunk[1:]
            line_start = chunk.endswith(b"\r\n")
            size += len(chunk)
            if size > self.settings.max_bytes:
                too_big, chunks = True, []
            elif not too_big:
                chunks.append(chunk)
        return None if too_big else b"".join(chunks)


# -- nameko: the listener and the entrypoint ---------------------------------------

class SmtpListener(ProviderCollector, SharedExtension):
    """Accepts SMTP connections on ``PELUIT_MAIL_LISTEN`` (off when unset) and
    hands each message to the ``InboundMail`` entrypoint of the service."""

    def __init__(self):
        super().__init__()
        self.settings = MailSettings()
        self._sock = None
        self._gt = None
        self._pool = None
        self._sessions: dict = {}
        self._stopping = False

    def setup(self):
        self.settings = MailSettings.from_env()

    def start(self):
        if self.settings.listen is None or self._sock is not None:
            return
        # reuse_port: several intake processes on one host share the port, as they share HTTP
        self._sock = eventlet.listen(self.settings.listen, reuse_port=self.settings.listen[1] != 0)
        self._pool = eventlet.GreenPool(self.settings.max_connections)
        self._gt = self.container.spawn_managed_thread(self._accept, identifier="smtp_listener")
        log.info("inbound smtp listening", extra={"fields": {"port": self._sock.getsockname()[1]}})

    @property
    def port(self) -> int | None:
        return self._sock.getsockname()[1] if self._sock is not None else None

    def _accept(self):
        while not self._stopping:
            try:
                conn, _address = self._sock.accept()  # the client address is never kept
            except OSError:
                if self._stopping:
                    return
                eventlet.sleep(0.1)
                continue
            del _address
            if self._pool.free() == 0:
                try:
                    conn.sendall(smtp(421, "4.7.0", "smtp_busy").encode())
                finally:
                    conn.close()
                continue
            session = SmtpSession(conn, self.settings, partial(resolve_tenant, settings=self.settings),
                                  self.deliver, lambda: self._stopping)
            gt = self._pool.spawn(session.run)
            self._sessions[gt] = session
            gt.link(lambda g: self._sessions.pop(g, None))

    def deliver(self, envelope: Envelope) -> Reply:
        provider = next(iter(self._providers), None)
        if provider is None or self._stopping:
            return SHUTTING_DOWN
        return provider.handle(envelope)

    def unregister_provider(self, provider):
        super().unregister_provider(provider)
        if not self._providers:
            self._stop_accepting()

    def _stop_accepting(self):
        self._stopping = True
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        if self._gt is not None:
            self._gt.kill()
            self._gt = None

    def stop(self):
        self._stop_accepting()
        # idle sessions end now; one waiting for its worker gets to answer first
        for gt, session in list(self._sessions.items()):
            if not session.busy:
                gt.kill()
        if self._pool is not None:
            with eventlet.Timeout(30, False):
                self._pool.waitall()
            for gt in list(self._sessions):
                gt.kill()
        super().stop()

    def kill(self):
        self._stop_accepting()
        for gt in list(self._sessions):
            gt.kill()


class InboundMail(Entrypoint):
    """``@inbound_mail``: the decorated method gets an ``Envelope`` and returns
    the ``Reply`` to the DATA command."""

    server = SmtpListener()
    wait_seconds = 300.0  # senders wait up to 10 minutes for the answer to DATA (RFC 5321 4.5.3.2.6)

    def setup(self):
        self.server.register_provider(self)

    def stop(self):
        self.server.unregister_provider(self)
        super().stop()

    def handle(self, envelope: Envelope) -> Reply:
        event = Event()
        try:
            self.container.spawn_worker(self, (envelope,), {}, handle_result=partial(self._result, event))
        except ContainerBeingKilled:
            return SHUTTING_DOWN
        outcome = event.wait(self.wait_seconds)
        if outcome is None:
            return TEMPORARY
        result, exc_info = outcome
        if exc_info is not None or not isinstance(result, Reply):
            return TEMPORARY
        return result

    @staticmethod
    def _result(event, worker_ctx, result, exc_info):
        event.send((result, exc_info))
        return result, exc_info


inbound_mail = InboundMail.decorator
