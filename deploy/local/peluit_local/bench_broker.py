"""``make bench`` part (l): recovery after a broker restart. On a private
RabbitMQ node (``peluit_common.private_broker``: the shared one is never
restarted) a nameko service with a ``reliable_consume`` queue and an RPC
method runs in this process while a publisher sends 50 confirmed messages/s;
the broker's application is stopped, left down 1 s and started again, a few
times. Figures: how long the broker was unavailable, then, from the moment it
accepts clients again, until the consumer handles a message and until an RPC
call is answered; the worst publish-to-handled lag, and messages lost (0 is
the requirement; the integration test ``test_broker_restart.py`` asserts it).
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

# before kombu is imported: its reconnect loop binds time.sleep, which would block every green thread
eventlet.monkey_patch()

import logging  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from nameko.containers import ServiceContainer  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from peluit_common.amqp import ConfirmedPublisher, declare_topology, reliable_consume  # noqa: E402
from peluit_common.private_broker import BrokerUnavailable, private_broker  # noqa: E402
from peluit_common.rpc import rpc  # noqa: E402
from peluit_contracts.topology import ReliableQueue  # noqa: E402

QUEUE = ReliableQueue(name="bench.restart", exchange="peluit.bench", bindings=("tick.#",))
DELAYS = (1000,)
DOWN_SECONDS = 1.0
RESTARTS = int(os.environ.get("PELUIT_BENCH_RESTARTS", "3"))


def bench_broker_restart(restarts: int = RESTARTS) -> None:
    for name in ("nameko.messaging", "kombu.mixins"):  # one reconnect warning per attempt: the figures say it
        logging.getLogger(name).setLevel(logging.ERROR)
    print(f"(l) recovery after a broker restart (stop_app, {DOWN_SECONDS:.0f} s down, start_app) x{restarts}, "
          "private node, 50 confirmed messages/s")
    try:
        with private_broker() as broker:
            _measure(broker, restarts)
    except BrokerUnavailable as exc:
        print(f"    skipped: {exc}")


def _measure(broker, restarts: int) -> None:
    uri = broker.amqp_uri
    os.environ["PELUIT_RETRY_DELAYS_MS"] = ",".join(map(str, DELAYS))  # what the consumer declares
    declare_topology(uri, delays=DELAYS, specs=(QUEUE,))
    sent: dict[int, float] = {}
    handled: dict[int, float] = {}

    class Ticker:
        name = "bench_restart"
        tick = reliable_consume(QUEUE)(lambda self, body: handled.setdefault(body["n"], time.monotonic()))

        @rpc
        def ping(self):
            return "pong"

    def publish(stop: list[bool]) -> None:
        publisher, n = ConfirmedPublisher(uri), 0
        while not stop[0]:
            sent[n] = time.monotonic()
            while True:  # until confirmed, as the outbox relay does
                try:
                    publisher.publish({"n": n}, exchange_name=QUEUE.exchange, routing_key="tick.n")
                    break
                except Exception:
                    eventlet.sleep(0.2)
            n += 1
            eventlet.sleep(0.02)

    container = ServiceContainer(Ticker, {"AMQP_URI": uri, "max_workers": 4})
    container.start()
    stop = [False]
    publishing = eventlet.spawn(publish, stop)
    down, consumer_back, rpc_back = [], [], []
    try:
        eventlet.sleep(1)
        for _ in range(restarts):
            stopped = time.monotonic()
            broker.stop_app()
            eventlet.sleep(DOWN_SECONDS)
            broker.start_app()
            up = time.monotonic()
            down.append(up - stopped)
            with ClusterRpcProxy({"AMQP_URI": uri}, timeout=60) as cluster:
                cluster.bench_restart.ping()  # waits in the quorum RPC queue until the service is back
            rpc_back.append(time.monotonic() - up)
            deadline = time.monotonic() + 60
            while not any(t >= up for t in list(handled.values())) and time.monotonic() < deadline:
                eventlet.sleep(0.01)
            consumer_back.append(min((t for t in handled.values() if t >= up), default=float("nan")) - up)
            eventlet.sleep(2)
        stop[0] = True
        publishing.wait()
        deadline = time.monotonic() + 60
        while len(handled) < len(sent) and time.monotonic() < deadline:
            eventlet.sleep(0.05)
    finally:
        stop[0] = True
        container.stop()
    lost = len(set(sent) - set(handled))
    worst = max(handled[n] - sent[n] for n in handled)

    def fig(values):
        return f"median {statistics.median(values):5.2f} s, max {max(values):5.2f} s"

    print(f"    broker unavailable (stop_app .. start_app done): {fig(down)}")
    print(f"    consumer handling again after the broker is up:  {fig(consumer_back)}")
    print(f"    RPC answered again after the broker is up:       {fig(rpc_back)}")
    print(f"    worst publish-to-handled lag: {worst:.2f} s; messages sent {len(sent)}, lost {lost}")
    print("    (nameko reconnects with kombu's back-off: 2 s, then 4 s, ... between attempts)")


if __name__ == "__main__":
    bench_broker_restart()
