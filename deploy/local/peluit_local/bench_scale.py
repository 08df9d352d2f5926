"""``make bench`` part (n): two of everything on one machine
(``PELUIT_INSTANCES=2``). Figures: acknowledged submissions/s at 50
concurrent submitters against one intake instance and spread over two (the
rest of the system has two instances of each service either way), their
ratio; and the failover time: under a load of 4 submitters, kill -9 the cases
instance caught leading the relay and the reporting instance caught leading
the follower, until each leader's position moves again (another instance has
taken over; the failover test asserts <= 5 s). Recovery after a broker
restart is part (l), which ``make bench-scale`` runs after this.
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet  # noqa: E402

eventlet.monkey_patch()

import os  # noqa: E402
import statistics  # noqa: E402

from .bench_load import pct, submit_load  # noqa: E402
from .failover import LEADERS, Load, kill_the_leaders  # noqa: E402
from .testing import TEST_LIMITS, running_system  # noqa: E402

CONCURRENCY, TOTAL = 50, 400
RUNS = int(os.environ.get("PELUIT_BENCH_RUNS", "3"))


def bench_scale(runs: int = RUNS) -> None:
    print(f"(n) two instances of every service on one machine ({os.cpu_count()} cores), median of {runs} runs")
    with running_system(instances=2, extra_env={"PELUIT_RPC_TIMEOUT": "30", **TEST_LIMITS}, tap=False) as system:
        submit_load(system, 10, 50, ["intake", "intake.1"])  # warm-up, both instances
        rates = {}
        for label, instances in (("one intake instance", ["intake"]), ("two intake instances", ["intake", "intake.1"])):
            runs_ = [submit_load(system, CONCURRENCY, TOTAL, instances) for _ in range(runs)]
            rates[label] = statistics.median(len(lat) / elapsed for elapsed, lat, _ in runs_)
            p99 = statistics.median(pct(lat, 99) * 1000 for _, lat, _ in runs_)
            errors = sum(err for *_, err in runs_)
            print(f"    {label:<22} {CONCURRENCY} concurrent: {rates[label]:6.1f} subs/s, p99 {p99:5.0f} ms, "
                  f"{errors} errors")
        print(f"    ratio two/one: {rates['two intake instances'] / rates['one intake instance']:.2f} "
              "(both share the same cores: the receipt hash is CPU-bound)")
        takeovers = {leader: [] for leader in LEADERS}
        for _ in range(runs):
            load = Load(system).start()
            try:
                load.wait_for(10)
                _, taken, restarted = kill_the_leaders(system)
                for name in restarted:
                    system.wait_ready(name)
            finally:
                load.stop()
            for leader, seconds in taken.items():
                takeovers[leader].append(seconds)
        print("    failover, kill -9 of the leading instance under load until another has taken over "
              "(limit 5 s):")
        for leader, seconds in takeovers.items():
            print(f"      {leader:<20} median {statistics.median(seconds):5.2f} s, max {max(seconds):5.2f} s")


def main() -> None:
    bench_scale()
    print()
    from .bench_broker import bench_broker_restart

    bench_broker_restart()


if __name__ == "__main__":
    main()
