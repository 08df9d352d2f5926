"""``--since FILE``: does the bundle extend a checkpoint the auditor already trusts?

A checkpoint held outside the database (from the ``chain.checkpoint``
integration event on the stream, or from an earlier bundle) is a fixed point:
a history that was rewritten and re-signed since then has a different hash at
that position, or no event there at all. The file is the checkpoint object
(``position``, ``head_hash``, ``signed_at``, ``key_id``, ``signature``), or
the ``chain.checkpoint`` CloudEvent whose ``data`` it is.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from peluit_chain import checkpoint_message, key_id

from .verify import BundleError, Problem, Report, _hex, _int


def load_checkpoint(document: dict) -> dict:
    raw = document.get("data", document) if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise BundleError("--since: not a checkpoint")
    signed_at, kid = raw.get("signed_at"), raw.get("key_id")
    if not isinstance(signed_at, str) or not isinstance(kid, str) or not signed_at.isascii() or not kid.isascii():
        raise BundleError("--since: signed_at and key_id are required")
    return {"position": _int(raw.get("position"), "--since position"),
            "head_hash": _hex(raw.get("head_hash"), "--since head_hash"),
            "signature": _hex(raw.get("signature"), "--since signature", 64), "signed_at": signed_at, "key_id": kid}


def check_since(bundle: dict, since: dict, keys: list[bytes], report: Report) -> None:
    """Adds a problem to ``report`` when the trusted checkpoint is not signed by
    one of ``keys`` or the bundle does not extend it."""
    position, head = since["position"], since["head_hash"]
    by_id = {key_id(k): k for k in keys}
    key = by_id.get(since["key_id"])
    try:
        if key is None:
            raise InvalidSignature
        Ed25519PublicKey.from_public_bytes(key).verify(
            since["signature"], checkpoint_message(position, head, since["signed_at"], since["key_id"]))
    except InvalidSignature:
        report.problems.append(Problem("since", position,
                                       f"Checkpoint --since di posisi {position} tidak bertanda tangan sah",
                                       f"The --since checkpoint at position {position} is not validly signed"))
        return
    events = [e for e in bundle.get("events", []) if isinstance(e, dict)]
    at = next((e for e in events if e.get("notification_id") == position), None)
    if at is not None:
        if _hex(at.get("event_hash"), "event_hash") != head:
            report.problems.append(Problem(
                "since", position,
                f"Riwayat tidak melanjutkan checkpoint tepercaya: peristiwa di notifikasi {position} berbeda",
                f"The history does not extend the trusted checkpoint: the event at notification {position} differs"))
        return
    first = min((e.get("notification_id", 0) for e in events), default=None)
    if first is not None and position < first:
        same = [c for c in bundle.get("checkpoints", []) if isinstance(c, dict) and c.get("position") == position]
        if same and any(_hex(c.get("head_hash"), "head_hash") != head for c in same):
            report.problems.append(Problem(
                "since", position,
                f"Checkpoint bundel di posisi {position} berbeda dari checkpoint tepercaya",
                f"The bundle's checkpoint at position {position} differs from the trusted one"))
        elif not same:
            report.warnings.append((f"checkpoint --since (notifikasi {position}) sebelum rentang bundel: tidak dibandingkan",
                                    f"the --since checkpoint (notification {position}) is before the bundle's range: "
                                    "not compared"))
        return
    report.problems.append(Problem(
        "since", position,
        f"Riwayat tidak melanjutkan checkpoint tepercaya: tidak ada peristiwa di notifikasi {position}",
        f"The history does not extend the trusted checkpoint: no event at notification {position}"))
