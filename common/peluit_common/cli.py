"""Argument types the operator commands share (``peluit-vault``, ``peluit-cases``)."""

from __future__ import annotations

import argparse
from datetime import datetime


def instant(text: str) -> datetime:
    """An ISO 8601 time with a zone (``--now`` of the retention commands): a naive time is refused."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2031-01-01T00:00:00+07:00")
    return value
