"""What Peluit's outgoing mail shares (the vault's relay to reporters,
notifications' mail to officers)."""

from __future__ import annotations

import hashlib


def stable_message_id(key: str, domain: str = "peluit.invalid") -> str:
    """A Message-ID that is the same for the same key, so a mail sent again
    after a crash is recognisably the same one (``email.utils.make_msgid``
    adds the time, the pid and a random number). A hash: the key itself (an
    event id, a case id) does not go into a mailbox."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"
