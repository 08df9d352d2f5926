"""Read models built from the cases notification log, exactly once.

The follower's position (``tracking``) is updated in the same transaction as
the read-model rows, under a row lock, so a crash or a second instance can
neither skip nor double-apply an event. Each apply is also idempotent by
itself (primary keys, and a per-case ``position`` guard for status moves), so
even a replayed page changes nothing. Read models are disposable: ``reset``
drops them to position zero and the follower rebuilds them. A follower step
(``follow``) applies a window of pages at once, so a rebuild writes each case
row about once per window instead of once per move.

Plain functions over a psycopg connection (no nameko), tested and
benchmarked on their own; this module names what the service, the admin
command and the benchmark use.
"""

from .apply import EnvelopeRejected, apply, apply_page
from .follower import WINDOW, ReadAhead, follow, lock_position
from .rebuild import finish_rebuild
from .tables import (INDEXES, READ_MODELS, REBUILD_KEY, STAGING, STATISTICS, TIMEZONE, UPSTREAM, advance,
                     derive_counts, dump, migrate, position, reset, vacuum_analyze)

__all__ = ["EnvelopeRejected", "apply", "apply_page", "WINDOW", "ReadAhead", "follow", "lock_position",
           "finish_rebuild", "INDEXES", "READ_MODELS", "REBUILD_KEY", "STAGING", "STATISTICS", "TIMEZONE",
           "UPSTREAM", "advance", "derive_counts", "dump", "migrate", "position", "reset", "vacuum_analyze"]
