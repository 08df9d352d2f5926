"""A waiting query must not freeze eventlet's hub, whichever was imported first
(nameko's CLI imports our code before it monkey-patches)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import sys
if sys.argv[1] == "late-patch":
    import peluit_common            # psycopg imported before monkey-patching, as under `nameko run`
import eventlet
eventlet.monkey_patch()
import peluit_common, psycopg
ticks = []
def ticker():
    while True:
        ticks.append(1)
        eventlet.sleep(0.01)
eventlet.spawn(ticker)
eventlet.sleep(0.05)
with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres") as conn:
    before = len(ticks)
    conn.execute("select pg_sleep(0.5)")
    print(len(ticks) - before)
"""


@pytest.mark.parametrize("order", ["late-patch", "early-patch"])
def test_other_green_threads_run_while_a_query_waits(order):
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", PROGRAM, order],
                         capture_output=True, text=True, check=True)
    # a frozen hub lets the ticker run 0 times during the 0.5 s query; a free one ~50
    assert int(out.stdout.strip()) >= 20


def test_the_contrast_psycopgs_c_wait_does_freeze_the_hub():
    import os

    env = {**os.environ, "PELUIT_PSYCOPG_WAIT": "c"}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", PROGRAM, "late-patch"],
                         capture_output=True, text=True, check=True, env=env)
    assert int(out.stdout.strip()) <= 1
