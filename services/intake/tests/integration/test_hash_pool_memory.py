"""The receipt-hash pool bounds memory for real: 50 green threads asking for
80 Argon2id hashes (19 MiB each) through eventlet's 20 OS threads, in a fresh
process, as intake runs them. Bounded to two at once, glibc still kept a freed
19 MiB block per thread's arena (measured: ~395 MB resident, and ~528 MB
unbounded); with the pool's mallopt setting the blocks went back (~110 MB peak),
and since each slot lends its own 19 MiB work area, two are all there is."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os, warnings
warnings.filterwarnings("ignore")
import eventlet
eventlet.monkey_patch()
from peluit_intake.hash_pool import receipt_hashes
from peluit_intake.receipts import ReceiptKeys
os.environ["PELUIT_RECEIPT_HASH_THREADS"] = "2"
os.environ["PELUIT_RECEIPT_HASH_QUEUE"] = "1000"
pool, keys = receipt_hashes(), ReceiptKeys(os.urandom(32))
threads = eventlet.GreenPool(50)
for i in range(80):
    threads.spawn(pool.run, keys.lookup_hash, "%016d" % i, first=True)
threads.waitall()
with open("/proc/self/status") as fh:
    print(next(int(line.split()[1]) // 1024 for line in fh if line.startswith("VmHWM")))
"""


def test_fifty_concurrent_hash_requests_stay_far_below_200_mb():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    peak_mb = int(out.stdout.strip().splitlines()[-1])
    assert peak_mb < 160, peak_mb
