"""Broker users for stream subscribers: read the integration stream, nothing else.

A pemda system that replays ``peluit.integration.stream`` gets a user of its
own with ``STREAM_READER_PERMISSIONS`` on the vhost: it cannot declare or
delete anything, publish anywhere, bind a queue or read another queue. Each
is revoked by deleting the user. ``definitions`` writes the same as a
RabbitMQ definitions document (users and permissions), for provisioning that
imports one document for all users.

    python -m peluit_local.stream_readers add bkpsdm-3573 [--vhost /]   # prints the password once
    python -m peluit_local.stream_readers revoke bkpsdm-3573
    python -m peluit_local.stream_readers add-partner bkpsdm-3573 --tenant 35.73   # reads and answers
"""

from __future__ import annotations

import argparse
import re
import secrets
import subprocess
import sys

from peluit_contracts.inbound import PARTNER_PREFIX, partner_permissions
from peluit_contracts.integration import STREAM_READER_PERMISSIONS

PREFIX = "stream-"  # reader users are named so: no service user can be revoked by this tool
NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,40}")


def user_name(system: str) -> str:
    if not NAME.fullmatch(system):
        raise ValueError("a subscriber's name is 2-41 lowercase letters, digits, dots and hyphens")
    return PREFIX + system


def _ctl(*args: str, secret: str | None = None) -> None:
    # a password goes on standard input (rabbitmqctl reads it there), never on a command line
    subprocess.run(["rabbitmqctl", "-q", *args], input=secret, text=True, check=True, capture_output=True)


def add(system: str, vhost: str = "/") -> str:
    """Create (or reset) the reader and return its new password."""
    user, password = user_name(system), secrets.token_urlsafe(24)
    subprocess.run(["rabbitmqctl", "-q", "delete_user", user], capture_output=True)
    _ctl("add_user", user, secret=password)
    perms = STREAM_READER_PERMISSIONS
    _ctl("set_permissions", "-p", vhost, user, perms["configure"], perms["write"], perms["read"])
    return password


def add_partner(system: str, tenants: list[str], vhost: str = "/") -> str:
    """A partner system that also answers (``peluit_contracts.inbound``): reads the
    stream, publishes on ``peluit.inbound`` only with its tenants' routing keys."""
    user, password = PARTNER_PREFIX + user_name(system)[len(PREFIX):], secrets.token_urlsafe(24)
    subprocess.run(["rabbitmqctl", "-q", "delete_user", user], capture_output=True)
    _ctl("add_user", user, secret=password)
    perms = partner_permissions(tenants)
    _ctl("set_permissions", "-p", vhost, user, perms["configure"], perms["write"], perms["read"])
    topic = perms["topic"]
    _ctl("set_topic_permissions", "-p", vhost, user, topic["exchange"], topic["write"], topic["read"])
    return password


def revoke(system: str, partner: bool = False) -> None:
    _ctl("delete_user", (PARTNER_PREFIX + system) if partner else user_name(system))


def definitions(vhost: str, readers: dict[str, str]) -> dict:
    """``{system: password_hash}`` as the users and permissions of a definitions document."""
    return {"users": [{"name": user_name(s), "password_hash": h, "hashing_algorithm": "rabbit_password_hashing_sha256",
                       "tags": []} for s, h in readers.items()],
            "permissions": [{"user": user_name(s), "vhost": vhost, **STREAM_READER_PERMISSIONS} for s in readers]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m peluit_local.stream_readers")
    parser.add_argument("action", choices=("add", "add-partner", "revoke", "revoke-partner"))
    parser.add_argument("system", help="the subscriber, e.g. bkpsdm-3573")
    parser.add_argument("--vhost", default="/")
    parser.add_argument("--tenant", action="append", default=[], help="add-partner: a tenant it answers for")
    args = parser.parse_args(argv)
    if args.action == "add":
        print(add(args.system, args.vhost))
    elif args.action == "add-partner":
        print(add_partner(args.system, args.tenant, args.vhost))
    else:
        revoke(args.system, partner=args.action == "revoke-partner")
    return 0


if __name__ == "__main__":
    sys.exit(main())
