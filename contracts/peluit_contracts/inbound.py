"""Events partner systems send to Peluit (the inbound side of integration).

A partner (a BKPSDM, LAPOR!) publishes CloudEvents in **binary content mode**
(``ce-*`` headers, data as ``application/json``) to the topic exchange
``peluit.inbound`` with the routing key ``<type>.v<version>.<tenant>``, and
sets the AMQP ``user_id`` property to its broker user, which RabbitMQ checks
against the connection. Its broker user may publish only with its own
tenants' routing keys (topic permissions, ``partner_permissions``), so the
broker vouches for who sent a message and for which tenant. cases consumes
``cases.inbound``; a message it refuses is parked in ``cases.inbound.dead``
with the reason in the header ``x-peluit-reason`` and changes nothing.
"""

from __future__ import annotations

import re

from marshmallow import fields

from .events import IntegrationEventV1
from .fields import Pattern, Text
from .partner import PartnerReportSchema
from .topology import ReliableQueue

INBOUND_EXCHANGE = "peluit.inbound"
PARTNER_PREFIX = "partner-"  # broker users of partner systems are named so
REASON_HEADER = "x-peluit-reason"

SANCTION_DECISIONS = ("imposed", "not_imposed")


class SanctionFollowedUpV1(IntegrationEventV1):
    """The BKPSDM's answer to ``case.sanction_recommended``: what the PPK decided."""

    recommendation_id = Text(required=True, max_len=8, multiline=False)
    decision = Pattern("|".join(SANCTION_DECISIONS), "code", required=True, max_len=12)
    level = Pattern(r"ringan|sedang|berat", "code", allow_none=True, load_default=None, max_len=8)
    sanction = Pattern(r"[a-z_0-9]{3,40}", "code", allow_none=True, load_default=None, max_len=40)
    months = fields.Integer(allow_none=True, load_default=None)
    decided_on = fields.Date(required=True)
    decree_number = Text(allow_none=True, load_default=None, max_len=80, multiline=False)  # the PPK's SK


# report.submitted v1: a partner's report, as the partner API takes it (identity sealed by the partner)
INBOUND_SCHEMAS = {("sanction.followed_up", 1): SanctionFollowedUpV1, ("report.submitted", 1): PartnerReportSchema}

CASES_INBOUND = ReliableQueue(name="cases.inbound", exchange=INBOUND_EXCHANGE,
                              bindings=tuple(f"{t}.v{v}.#" for t, v in INBOUND_SCHEMAS))


def inbound_routing_key(event_type: str, version: int, tenant: str) -> str:
    return f"{event_type}.v{version}.{tenant}"


def partner_permissions(tenants: list[str]) -> dict:
    """A partner's broker user: read the integration stream, publish on
    ``peluit.inbound`` only with its tenants' routing keys, nothing else."""
    keys = "|".join(re.escape(t) for t in tenants)
    return {"configure": "^$", "write": f"^{re.escape(INBOUND_EXCHANGE)}$",
            "read": "^peluit\\.integration\\.stream$",
            "topic": {"exchange": INBOUND_EXCHANGE, "write": rf"^[a-z_.]+\.v[0-9]+\.({keys})$", "read": "^$"}}
