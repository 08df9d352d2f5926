"""pytest plugin for the services' own tests: throwaway PostgreSQL databases
and RabbitMQ vhosts on the real servers, named at random and removed after;
and forensic samples (a GPS-tagged photo, an authored PDF) for the metadata
stripping tests of services and system alike, and the text of a PDF export
(PIL and pikepdf imported lazily).

Loaded by the root ``conftest.py``; only system tests use the deployment
harness (``peluit_local``). The administrator connection comes from
``PELUIT_PG_ADMIN_DSN`` (default: user postgres on 127.0.0.1:5432).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import socket
import struct
import subprocess
import time
import zlib
from typing import Callable, Iterator

import eventlet
import psycopg
import pytest
from kombu import Connection, Queue
from psycopg import sql

ADMIN_DSN = os.environ.get("PELUIT_PG_ADMIN_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")


def dsn_for(dbname: str) -> str:
    """The administrator's connection string for ``dbname``."""
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    params["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**params)


def eventsourcing_env_for(dbname: str, schema: str | None = None) -> dict[str, str]:
    """The eventsourcing library's settings for a throwaway database."""
    params = psycopg.conninfo.conninfo_to_dict(ADMIN_DSN)
    env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": dbname,
           "POSTGRES_HOST": params.get("host", "127.0.0.1"), "POSTGRES_PORT": str(params.get("port", "5432")),
           "POSTGRES_USER": params.get("user", "postgres"), "POSTGRES_PASSWORD": params.get("password", ""),
           "CREATE_TABLE": "y"}
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env


def throwaway_content_kek() -> str:
    """Point ``PELUIT_CONTENT_KEK_FILE`` at a fresh KEK file (unless set): what a
    ``CasesApplication`` on PostgreSQL in a test or bench process wraps case keys with."""
    if not os.environ.get("PELUIT_CONTENT_KEK_FILE"):
        import tempfile

        fd, path = tempfile.mkstemp(prefix="peluit-content-kek-")
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        os.environ["PELUIT_CONTENT_KEK_FILE"] = path
    return os.environ["PELUIT_CONTENT_KEK_FILE"]


def pytest_configure(config):
    throwaway_content_kek()


class ManualClock:
    """A clock a test moves by hand (``clock.now += 60``): pass it where code takes ``clock=time.time``."""

    def __init__(self, now: float = 1_790_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    """A TCP port nothing listens on right now (for a test's own server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def throwaway_database(prefix: str = "pt") -> Iterator[str]:
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextlib.contextmanager
def throwaway_vhost(prefix: str = "peluit-test") -> Iterator[str]:
    """A RabbitMQ vhost for guest; yields its AMQP URI."""
    vhost = f"{prefix}-{secrets.token_hex(4)}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        yield f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False, capture_output=True)


def wait_for(check: Callable[[], object], timeout: float = 10.0) -> bool:
    """Whether ``check()`` came true within ``timeout`` seconds; polls in
    green-thread sleeps, so the containers under test keep running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        eventlet.sleep(0.05)
    return False


def queue_depth(amqp_uri: str, name: str) -> int:
    """Messages ready in the queue ``name`` (which must exist)."""
    with Connection(amqp_uri) as conn:
        return Queue(name, no_declare=True)(conn.channel()).queue_declare(passive=True).message_count


@pytest.fixture(scope="module")
def throwaway_db() -> Iterator[str]:
    """A database of its own for the test module; its name."""
    with throwaway_database() as name:
        yield name


@pytest.fixture
def fresh_db() -> Iterator[str]:
    """A database of its own for one test; its name."""
    with throwaway_database() as name:
        yield name


@pytest.fixture(scope="module")
def amqp_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of its own for the test module (rabbitmqctl is slow); its AMQP URI."""
    with throwaway_vhost() as uri:
        yield uri


@pytest.fixture
def nameko_service(amqp_vhost):
    """Starts nameko service classes on the module's vhost (``start(cls)`` ->
    container); stops those still running at the end."""
    from nameko.containers import ServiceContainer

    started = []

    def start(cls, max_workers: int = 4):
        container = ServiceContainer(cls, {"AMQP_URI": amqp_vhost, "max_workers": max_workers})
        container.start()
        started.append(container)
        return container

    yield start
    for container in started:
        if not container._died.ready():  # a test may have seen one die
            container.stop()


# -- forensic samples: files that carry identifying metadata, for stripping tests -----------

def gps_photo(marker: str, size: tuple[int, int] = (64, 48), orientation: int | None = None) -> bytes:
    """A JPEG that names ``marker`` in EXIF (Artist, ImageDescription), its
    comment, ICC profile and XMP, and carries GPS tags; the left half is blue,
    so a rotation for ``orientation`` shows."""
    import io

    from PIL import ExifTags, Image

    img = Image.new("RGB", size, (200, 30, 30))
    img.paste((30, 30, 200), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = marker
    exif[ExifTags.Base.ImageDescription] = f"Foto oleh {marker}"
    exif[ExifTags.Base.Make] = "KameraHP"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (7.0, 58.0, 30.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (112.0, 37.0, 15.0)
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, comment=marker.encode(), icc_profile=b"ICC-" + marker.encode(),
             xmp=f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{marker}</x:xmpmeta>'.encode())
    return out.getvalue()


def authored_pdf(marker: str) -> bytes:
    """A one-page PDF naming ``marker`` as author and title, in the document info and XMP."""
    import io

    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = marker
    pdf.docinfo["/Title"] = f"Kuitansi {marker}"
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:creator"] = [marker]
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def pdf_text(content: bytes) -> str:
    """The text a PDF shows, one line per text-showing operator of its pages'
    content streams: enough to find titles and table cells in an export."""
    import io

    import pikepdf

    lines = []
    with pikepdf.open(io.BytesIO(content)) as pdf:
        for page in pdf.pages:
            for operands, operator in pikepdf.parse_content_stream(page):
                if str(operator) == "Tj":
                    lines.append(str(operands[0]))
                elif str(operator) == "TJ":
                    lines.append("".join(str(part) for part in operands[0] if isinstance(part, pikepdf.String)))
    return "\n".join(lines)


@functools.cache
def png_bomb(side: int = 6000) -> bytes:
    """A decompression bomb that passes every cheap check: an RGBA PNG of
    ``side`` x ``side`` zeros (36 MP, under intake's pixel limit), 150 kB that decode to 144 MB."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    deflate, row = zlib.compressobj(9), b"\0" * (1 + 4 * side)
    idat = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def private_rabbitmq():
    """A RabbitMQ node of the module's own (``peluit_common.private_broker``),
    for tests that stop and start the broker; skipped where none can start."""
    from .private_broker import BrokerUnavailable, private_broker

    try:
        with private_broker() as broker:
            yield broker
    except BrokerUnavailable as exc:
        pytest.skip(f"no private RabbitMQ node: {exc}")
