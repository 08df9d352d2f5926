"""``make run``: provision, seed the demo province, start the six services,
print the portal and console URLs and the demo administrator's enrolment code,
and stop everything cleanly on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .bootstrap import MissingServer
from .system import INSTANCE_PORT_DISTANCE, REPO, System, instance_count


def main() -> int:
    system = System(base_port=int(os.environ.get("PELUIT_BASE_PORT", "8000")), instances=instance_count())
    try:
        system.provision()
    except MissingServer as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    system.admin_command("cases", "-m", "peluit_cases.admin", "seed-demo")
    demo_admin = _demo_admin(system)

    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        system.start_all()
        print()
        print("Peluit is running (demo province Jawa Timur: 35, 35.73, 35.07, 35.78).")
        print(f"  portal / reporter API : {system.url('intake')}   (POST /api/v1/reports)")
        print(f"  officers' console     : {system.url('console')}   (enrol with the code below, then sign in)")
        print(f"  officer API (cases)   : {system.url('cases')}")
        print(f"  report by e-mail      : SMTP 127.0.0.1:{system.mail_intake_port} to wbs+35.73@peluit.invalid")
        print(f"  mail sent to reporters: {system.mail_dir} (local SMTP sink)")
        print(f"  statistics            : {system.url('reporting')}/api/v1/public/stats")
        print(f"  metrics               : {', '.join(system.ops_url(n) + '/metrics' for n in system.instance_names())}")
        print(f"  logs                  : {system.log_dir}/<service>.log")
        if system.instances > 1:
            print(f"  {system.instances} instances of each: instance i on instance 0's ports + "
                  f"{INSTANCE_PORT_DISTANCE} x i (cases.1: {system.url('cases.1')}), logs <service>.<i>.log")
        print("Demo province administrator admin.demo (development only):")
        for line in demo_admin:
            print(f"  {line}")
        print("Press Ctrl-C to stop.", flush=True)
        while not stopping:
            for name, proc in list(system.processes.items()):
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping (see its log)", file=sys.stderr)
                    stopping = True
            time.sleep(0.5)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        _say("\nstopping Peluit ...")
        system.stop_all()
        _say("stopped.")
    return 0


def _demo_admin(system: System) -> list[str]:
    """``peluit-cases demo-admin``: the demo administrator, and a fresh enrolment
    code while nobody has enrolled it (never in production: the command refuses)."""
    console = system.url("console") + "/"
    out = subprocess.run([sys.executable, "-m", "peluit_cases.admin", "demo-admin", "--console", console],
                         env=system.env("cases"), cwd=REPO, capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()


def _say(text: str) -> None:
    # the terminal (or a pipe) may be gone already; stopping must go on anyway
    try:
        print(text, flush=True)
    except OSError:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
