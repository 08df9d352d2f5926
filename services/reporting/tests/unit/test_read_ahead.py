"""ReadAhead with a fake log (threads, as in the benchmark; the service uses
green threads): pages come in order and each only for the position it was
read after, an error reaches the follower, and close stops the producer."""

from __future__ import annotations

import queue
import threading

import pytest

from peluit_reporting.projection import ReadAhead


class FakeLog:
    def __init__(self, head: int, page: int = 3, fail_after: int | None = None):
        self.head, self.page, self.fail_after = head, page, fail_after
        self.asked: list[int] = []
        self.lock = threading.Lock()

    def fetch(self, after: int) -> dict:
        with self.lock:
            self.asked.append(after)
        if self.fail_after is not None and after >= self.fail_after:
            raise ConnectionError("cases did not answer")
        last = min(after + self.page, self.head)
        return {"events": [{"position": p} for p in range(after + 1, last + 1)], "next": last, "head": self.head}


def spawn(fn, *args):
    threading.Thread(target=fn, args=args, daemon=True).start()


def read_all(fetch, after: int = 0) -> list[int]:
    out = []
    while True:
        page = fetch(after)
        out += [e["position"] for e in page["events"]]
        if page["next"] == after:
            return out
        after = page["next"]


def test_pages_come_in_order_and_the_producer_stops_at_the_head():
    log = FakeLog(head=20)
    ahead = ReadAhead(log.fetch, 0, 2, spawn, queue.Queue)
    assert read_all(ahead) == list(range(1, 21))
    ahead.close()
    # the producer read each page once (0..18 in steps of 3); the follower then asked once more at the head
    assert sorted(log.asked) == [0, 3, 6, 9, 12, 15, 18, 20]


def test_a_page_is_only_used_for_the_position_it_was_read_after():
    log = FakeLog(head=30)
    ahead = ReadAhead(log.fetch, 0, 4, spawn, queue.Queue)
    assert [e["position"] for e in ahead(0)["events"]] == [1, 2, 3]
    # another instance moved the tracking row: a plain fetch, not the queued page after 3
    assert [e["position"] for e in ahead(10)["events"]] == [11, 12, 13]
    assert read_all(ahead, 13) == list(range(14, 31))
    ahead.close()


def test_an_error_reaches_the_follower_and_later_fetches_are_plain():
    log = FakeLog(head=30, fail_after=6)
    ahead = ReadAhead(log.fetch, 0, 4, spawn, queue.Queue)
    assert ahead(0)["next"] == 3 and ahead(3)["next"] == 6
    with pytest.raises(ConnectionError):
        ahead(6)
    log.fail_after = None  # cases answers again: the retried window fetches for itself
    assert read_all(ahead, 6) == list(range(7, 31))
    ahead.close()


def test_close_stops_a_producer_that_is_ahead():
    log = FakeLog(head=10_000)
    ahead = ReadAhead(log.fetch, 0, 2, spawn, queue.Queue)
    ahead(0)
    ahead.close()
    asked = len(log.asked)
    assert asked < 10  # depth 2 and one page in hand, not the whole log
    threading.Event().wait(0.05)
    assert len(log.asked) == asked
