"""Signed checkpoints leave the database: each goes on the integration stream.

Every row of ``chain_checkpoint`` is published once, in position order, as
the integration event ``chain.checkpoint`` v1 (so it lands on
``peluit.integration.stream``, where an auditor or a witness system keeps a
copy that nobody with the database can rewrite; ``peluit-verify --since``
takes one). Tracked like the relay (``relay_position`` row ``checkpoints``,
locked ``FOR UPDATE SKIP LOCKED``): a crash republishes, with the same id.
"""

from __future__ import annotations

from peluit_chain import format_time
from peluit_contracts.events import dump_envelope, routing_key

from .relay import publish_integration

NAME = "checkpoints"


def migrate(conn) -> None:
    with conn.transaction():
        conn.execute("INSERT INTO relay_position (name, position) VALUES (%s, 0) ON CONFLICT DO NOTHING", (NAME,))


def publish_once(pool, publisher, batch: int = 100) -> int:
    """Publish the checkpoints not published yet; how many went out."""
    with pool.connection() as conn, conn.transaction():
        row = conn.execute("SELECT position FROM relay_position WHERE name = %s FOR UPDATE SKIP LOCKED",
                           (NAME,)).fetchone()
        province = conn.execute("SELECT code FROM tenant WHERE parent_code IS NULL ORDER BY code LIMIT 1").fetchone()
        if row is None or province is None:
            return 0  # another instance publishes, or nothing was ever set up
        rows = conn.execute("SELECT position, head_hash, signed_at, key_id, signature FROM chain_checkpoint"
                            " WHERE position > %s ORDER BY position LIMIT %s", (row[0], batch)).fetchall()
        for position, head, signed_at, kid, signature in rows:
            envelope = dump_envelope(
                event_id=f"checkpoint:{position}", event_type="chain.checkpoint", version=1, time=signed_at,
                subject="chain", tenant=province[0], position=position,
                data={"position": position, "head_hash": bytes(head).hex(), "signed_at": format_time(signed_at),
                      "key_id": kid, "signature": bytes(signature).hex()})
            publish_integration(publisher, envelope, routing_key("chain.checkpoint", 1))
        if rows:
            conn.execute("UPDATE relay_position SET position = %s WHERE name = %s", (rows[-1][0], NAME))
        return len(rows)
