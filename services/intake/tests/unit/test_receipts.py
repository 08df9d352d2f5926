from __future__ import annotations

import os
import re

from argon2.low_level import ffi

from peluit_intake.receipts import Argon2Params, ReceiptKeys, WorkArea, format_receipt

FAST = Argon2Params(time_cost=1, memory_kib=8192)


def keys():
    return ReceiptKeys(os.urandom(32), FAST)


def test_random_receipts_are_16_digits_and_differ():
    k = keys()
    receipts = {k.receipt("35.73", None) for _ in range(200)}
    assert len(receipts) == 200
    assert all(re.fullmatch(r"\d{16}", r) for r in receipts)
    assert re.fullmatch(r"\d{4}-\d{4}-\d{4}-\d{4}", format_receipt(next(iter(receipts))))


def test_idempotency_key_gives_the_same_receipt_and_submission_only_with_the_same_secret():
    a, b = keys(), keys()
    key = "3f1c5c9e-7d3a-4c1b-9a55-2b8f0e6d4a11"
    assert a.receipt("35.73", key) == a.receipt("35.73", key)
    assert a.submission_id("35.73", key) == a.submission_id("35.73", key)
    assert a.receipt("35.73", key) != b.receipt("35.73", key)
    assert a.receipt("35.73", key) != a.receipt("35.07", key)
    assert a.submission_id("35.73", key) != a.submission_id("35.73", key + "x")


def test_lookup_hash_is_deterministic_per_deployment_and_hides_the_receipt():
    k = keys()
    h = k.lookup_hash("1234567812345678")
    assert h == k.lookup_hash("1234567812345678")
    assert h != k.lookup_hash("1234567812345679")
    assert h != keys().lookup_hash("1234567812345678")
    assert "1234567812345678" not in h and len(h) == 64


def test_a_hash_in_a_lent_work_area_is_argon2id_itself_and_leaves_the_memory_wiped():
    area, small, large = WorkArea(), keys(), ReceiptKeys(os.urandom(32), Argon2Params(time_cost=1, memory_kib=12288))
    assert area.usable  # Linux: cffi's trampolines work; elsewhere lookup_hash ignores the area
    for k in (small, large, small):  # the area grows to the larger memory and serves the smaller one after it
        for receipt in ("1234567812345678", "0000000000000001"):
            assert k.lookup_hash(receipt, area) == k.lookup_hash(receipt)
    memory = area._memory
    assert len(memory) == 12288 * 1024
    assert not any(bytes(ffi.buffer(memory)))  # Argon2 wipes its blocks before handing them back


def test_a_work_area_in_use_is_not_shared_a_second_hash_takes_its_own_memory():
    k, area = keys(), WorkArea()
    expected = k.lookup_hash("1234567812345678")
    area._free_token.pop()  # as if another thread were hashing in it
    assert k.lookup_hash("1234567812345678", area) == expected and area._memory is None
    area._free_token.append(True)
    assert k.lookup_hash("1234567812345678", area) == expected and area._memory is not None


def test_fingerprint_ignores_key_order_but_not_content():
    k = keys()
    assert k.fingerprint({"a": 1, "b": 2}) == k.fingerprint({"b": 2, "a": 1})
    assert k.fingerprint({"a": 1}) != k.fingerprint({"a": 2})
