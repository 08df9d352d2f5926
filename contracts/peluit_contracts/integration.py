"""Integration events: the public, versioned contract with other pemda systems.

Each integration event is a CloudEvents 1.0 event in structured JSON mode
(content type ``application/cloudevents+json``): the envelope of
``peluit_contracts.events`` plus ``datacontenttype`` and ``dataschema``. It
goes to the topic exchange ``peluit.integration`` (routing key
``<type>.v<version>``) and to the stream ``peluit.integration.stream``, from
which a late subscriber replays any offset or time.

``PUBLISHED`` is the list of versions Peluit promises: each is frozen as a
JSON Schema under ``contracts/published/`` and ``compat.breaking_changes``
compares the code with it. A breaking change is a new version, published
beside the old one until the old one's ``sunset`` date.
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import DATA_SCHEMAS, INTEGRATION_TYPES

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
STREAM = "peluit.integration.stream"
# retention of the stream: whichever limit is reached first drops the oldest segments
STREAM_MAX_BYTES = 20 * 1024**3
STREAM_MAX_AGE = "400D"  # more than a year: a pemda restoring last year's backup can still replay


@dataclass(frozen=True)
class Published:
    since: str  # ISO date the version was first published
    sunset: str | None = None  # last day it is published (a successor exists); None = no end announced


PUBLISHED = {
    ("case.forwarded", 1): Published(since="2026-03-01"),
    ("case.sanction_recommended", 1): Published(since="2026-03-01", sunset="2027-06-30"),
    ("case.sanction_recommended", 2): Published(since="2026-12-07"),
    ("case.closed", 1): Published(since="2026-03-01"),
    ("chain.checkpoint", 1): Published(since="2026-12-07"),
    ("report.status_changed", 1): Published(since="2026-12-07"),
}


def dataschema(event_type: str, version: int) -> str:
    """The CloudEvents ``dataschema``: names the frozen schema of the version."""
    return f"urn:peluit:schema:{event_type}:v{version}"


def is_integration(event_type: str) -> bool:
    return event_type in INTEGRATION_TYPES


def to_cloudevent(envelope: dict) -> dict:
    """An integration envelope as the CloudEvent Peluit publishes (JSON-ready)."""
    key = (envelope["type"], envelope["dataversion"])
    if key not in PUBLISHED or key not in DATA_SCHEMAS:
        raise ValueError(f"{key} is not a published integration event")
    return {**envelope, "datacontenttype": DATA_CONTENT_TYPE, "dataschema": dataschema(*key)}


def stream_arguments() -> dict:
    return {"x-queue-type": "stream", "x-max-length-bytes": STREAM_MAX_BYTES, "x-max-age": STREAM_MAX_AGE}


# a stream subscriber's broker user: reads the stream, declares, writes and binds nothing
# (RabbitMQ's configure / write / read expressions on its vhost)
STREAM_READER_PERMISSIONS = {"configure": "^$", "write": "^$", "read": "^peluit\\.integration\\.stream$"}
