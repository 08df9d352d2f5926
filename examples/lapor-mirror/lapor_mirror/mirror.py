"""A LAPOR!-style partner: file reports into Peluit, mirror their public status.

Filing: ``POST /api/v1/partner/reports`` with our credential, the identity
sealed to the vault's public key by ``peluit_contracts.partner.seal_identity``
(it never leaves this program in clear), our own ``source_id`` (a retry is
safe: Peluit answers with the same registration number).

Mirroring: ``report.status_changed`` v1 events of our system, read from
Peluit's integration stream from the offset we keep.
"""

from __future__ import annotations

import argparse
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

from kombu import Connection, Queue

from peluit_contracts.partner import seal_identity

STREAM = "peluit.integration.stream"


def file_report(url: str, credential: str, vault_key: bytes, report: dict, source_id: str,
                identity: dict | None = None) -> dict:
    """Hand one report over; returns Peluit's answer (registration number, ...)."""
    body = {**report, "source_id": source_id}
    if identity:
        body["sealed_identity"] = seal_identity(vault_key, identity)
    request = urllib.request.Request(url.rstrip("/") + "/api/v1/partner/reports", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Authorization": f"Bearer {credential}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return {"status_code": err.code, **json.loads(err.read() or b"{}")}


class Mirror:
    """Our cases' public status by source reference, and the next stream offset (a JSON file)."""

    def __init__(self, path: Path):
        self.path = path
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.next_offset: int = saved.get("next_offset", 0)
        self.cases: dict[str, dict] = saved.get("cases", {})

    def apply(self, data: dict) -> None:
        known = self.cases.get(data["source_id"])
        if known is None or known["changed_at"] <= data["changed_at"]:  # a replay or an older event changes nothing
            self.cases[data["source_id"]] = {"registration_number": data["registration_number"],
                                             "status": data["status"], "changed_at": data["changed_at"]}

    def save(self, offset: int) -> None:
        self.next_offset = offset + 1
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"next_offset": self.next_offset, "cases": self.cases}, indent=1))
        tmp.replace(self.path)


def follow(amqp_uri: str, system: str, mirror: Mirror, idle_timeout: float | None = None) -> int:
    """Apply the stream from the kept offset; how many of our events were applied."""
    applied, inbox = 0, []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        channel.basic_qos(0, 200, False)  # a stream consumer needs a prefetch and acknowledgements
        stream = Queue(STREAM, no_declare=True, consumer_arguments={"x-stream-offset": mirror.next_offset})
        with conn.Consumer(stream, channel=channel, on_message=inbox.append, auto_declare=False):
            while True:
                try:
                    conn.drain_events(timeout=idle_timeout)
                except socket.timeout:
                    return applied
                for message in inbox:
                    event = json.loads(message.body)  # a CloudEvent in structured JSON mode
                    if (event["type"], event["dataversion"]) == ("report.status_changed", 1) \
                            and event["data"]["source_system"] == system:
                        mirror.apply(event["data"])
                        applied += 1
                    message.ack()
                    mirror.save(message.headers["x-stream-offset"])
                inbox.clear()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="lapor-mirror", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    filing = commands.add_parser("file", help="hand a report over to Peluit")
    filing.add_argument("--url", required=True)
    filing.add_argument("--credential", required=True, help="<system>.<secret> from the Inspektorat")
    filing.add_argument("--vault-key", type=Path, required=True, help="the vault's public key (hex)")
    filing.add_argument("--report", type=Path, required=True, help="JSON: tenant, category, what, where, when, ...")
    filing.add_argument("--identity", type=Path, help="JSON: the reporter's identity (sealed before sending)")
    filing.add_argument("--source-id", required=True)
    following = commands.add_parser("follow", help="mirror our cases' status from the stream")
    following.add_argument("--amqp", required=True)
    following.add_argument("--system", required=True, help="our partner name, e.g. lapor-3573")
    following.add_argument("--state", type=Path, default=Path("lapor-state.json"))
    following.add_argument("--idle-timeout", type=float, default=None)
    args = parser.parse_args(argv)
    if args.command == "file":
        identity = json.loads(args.identity.read_text()) if args.identity else None
        print(json.dumps(file_report(args.url, args.credential, bytes.fromhex(args.vault_key.read_text().strip()),
                                     json.loads(args.report.read_text()), args.source_id, identity)))
        return 0
    mirror = Mirror(args.state)
    print(f"{follow(args.amqp, args.system, mirror, args.idle_timeout)} status events applied; "
          f"{len(mirror.cases)} cases mirrored")
    return 0
