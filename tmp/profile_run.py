import warnings
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
import eventlet
eventlet.monkey_patch()
import subprocess, sys, time, os
from peluit_local.testing import TEST_LIMITS, running_system
from peluit_local.bench_load import submit_load, pct

services = sys.argv[1].split(",")
with running_system(extra_env={"PELUIT_RPC_TIMEOUT": "30", **TEST_LIMITS, **dict(a.split("=", 1) for a in sys.argv[2:])}, tap=False) as system:
    submit_load(system, 10, 50)
    procs = []
    for s in services:
        pid = system.processes[s].pid
        procs.append(subprocess.Popen(["/work/wt/edge-load/.venv/bin/py-spy", "record", "-p", str(pid), "-d", "20", "-r", "200",
                                       "-f", "raw", "-o", f"/work/wt/edge-load/tmp/prof-{s}.txt", "--nonblocking"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    elapsed, lat, err = submit_load(system, 50, 1500)
    print(f"{len(lat)/elapsed:.1f} subs/s p50 {pct(lat,50)*1000:.0f} p99 {pct(lat,99)*1000:.0f} err {err}")
    for p in procs:
        p.wait()
