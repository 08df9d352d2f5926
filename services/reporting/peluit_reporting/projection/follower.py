"""A follower's step: the tracking row claimed, a window of pages fetched
(read ahead) and applied, the position advanced, in one transaction."""

from __future__ import annotations

import os

from .apply import apply_page
from .rebuild import finish_rebuild
from .tables import UPSTREAM, advance

# envelopes a follower applies together (memory: ~1 KiB each while they are applied)
WINDOW = int(os.environ.get("PELUIT_PROJECTION_WINDOW", "20000"))


def lock_position(conn) -> int | None:
    """Inside a transaction: our position, or None if another instance holds it."""
    row = _claim(conn)
    return None if row is None else row[0]


def _claim(conn) -> tuple[int, bool] | None:
    """Inside a transaction: lock the tracking row and return (position,
    rebuilding), or None if another instance holds it. A row that is not
    there at all was emptied with the UNLOGGED read models by a server crash
    during a rebuild: it is put back at position 0 for the next step."""
    row = conn.execute("SELECT position, counts_deferred FROM tracking WHERE upstream = %s FOR UPDATE SKIP LOCKED",
                       (UPSTREAM,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO tracking (upstream, position, counts_deferred) VALUES (%s, 0, true) "
                     "ON CONFLICT DO NOTHING", (UPSTREAM,))
    return row


def follow(conn, fetch, window: int = WINDOW) -> dict | None:
    """One step of a follower, in one transaction: lock the tracking row,
    fetch pages from our position (``fetch(after)`` returns a
    ``domain_events`` page) until ``window`` envelopes or the head, apply them
    together, advance. A rebuild's window folds each case's moves into one
    row write (a case lives within a few windows of the log); a follower that
    is caught up applies what one page brought. During a rebuild the count
    tables wait, and the tables are UNLOGGED and without secondary indexes,
    until it reaches the head (``_begin_rebuild``, ``finish_rebuild``).
    None: another instance holds the tracking row."""
    with conn.transaction():
        row = _claim(conn)
        if row is None:
            return None
        start, deferred = row
        position, envelopes = start, []
        while True:
            page = fetch(position)
            envelopes.extend(page["events"])
            if page["next"] == position:
                break
            position = page["next"]
            if len(envelopes) >= window or position >= page["head"]:
                break
        apply_page(conn, envelopes, counts=not deferred)
        if position != start:
            advance(conn, position)
        finished = finish_rebuild(conn, position) if deferred and position >= page["head"] else None
    return {"start": start, "next": position, "head": page["head"], "envelopes": len(envelopes),
            "finished": finished}


class ReadAhead:
    """``fetch`` with the following pages already asked for: a producer
    (a green thread in the service, a thread in the benchmark) reads pages
    in order into a bounded queue while the follower applies what it has, so
    the cases side and the apply work at the same time. A page is only ever
    used for the position it was read after; anything else is a plain fetch
    (another instance moved the tracking row, or a failed window is retried)."""

    _DONE = object()

    def __init__(self, fetch, after: int, depth: int, spawn, make_queue):
        self._fetch, self._stopped, self._ended = fetch, False, False
        self._queue = make_queue(depth)
        self._expect = after  # the position the next queued page was read after
        spawn(self._produce, after)

    def _produce(self, after: int) -> None:
        try:
            while not self._stopped:
                page = self._fetch(after)
                self._queue.put(page)
                if page["next"] == after or page["next"] >= page["head"]:
                    break  # caught up: the follower fetches for itself from here
                after = page["next"]
        except Exception as exc:  # noqa: BLE001 - handed to the follower, which raises it
            self._queue.put(exc)
        self._queue.put(self._DONE)

    def __call__(self, after: int) -> dict:
        if self._expect == after:
            page = self._queue.get()
            if page is self._DONE:
                self._ended, self._expect = True, None
            elif isinstance(page, Exception):
                self._expect = None
                raise page
            else:
                self._expect = page["next"]
                return page
        return self._fetch(after)

    def close(self) -> None:
        """Stop the producer (it ends after the page it is reading)."""
        self._stopped, self._expect = True, None
        while not self._ended:
            self._ended = self._queue.get() is self._DONE


