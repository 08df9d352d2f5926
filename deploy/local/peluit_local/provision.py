"""``python -m peluit_local.provision [--demo]``: databases and least-privilege
roles for every service, and one RabbitMQ user per service with its
permissions and the shared broker topology (``broker.py``), all idempotent,
for deployments where the servers are managed elsewhere (compose, Kubernetes
job). Passwords are read from ``$PELUIT_KEYS_DIR/<service>/db.password`` and
``amqp.password``; the broker is reached through its management API at
``$PELUIT_RABBITMQ_ADMIN_URL``, or with ``rabbitmqctl`` on its own host.
``--demo`` also seeds the demo province through the cases service's own CLI,
as the cases role."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import bootstrap, broker
from .keys import amqp_password, db_password


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="peluit-provision")
    parser.add_argument("--prefix", default="peluit")
    parser.add_argument("--vhost", default=os.environ.get("PELUIT_AMQP_VHOST", "/"), help="the RabbitMQ vhost")
    parser.add_argument("--demo", action="store_true", help="seed the demo province (Jawa Timur)")
    args = parser.parse_args(argv)
    keys = Path(os.environ.get("PELUIT_KEYS_DIR", ".keys"))
    passwords = {s: db_password(keys, s) for s in bootstrap.SERVICES}
    bootstrap.create_databases(args.prefix, passwords)
    broker.apply(broker.definitions(args.prefix, args.vhost, {
        a.service: amqp_password(keys, a.service) for a in broker.ACCESS}))
    if args.demo:
        admin = bootstrap.psycopg.conninfo.conninfo_to_dict(bootstrap.ADMIN_DSN)
        name = bootstrap.db_ident(args.prefix, "cases")
        env = {**os.environ, "PELUIT_DB_HOST": admin.get("host", "127.0.0.1"),
               "PELUIT_DB_PORT": str(admin.get("port", 5432)), "PELUIT_DB_NAME": name, "PELUIT_DB_USER": name,
               "PELUIT_DB_PASSWORD": passwords["cases"]}
        subprocess.run([sys.executable, "-m", "peluit_cases.admin", "seed-demo"], env=env, check=True)
    print("provisioned:", ", ".join(bootstrap.db_ident(args.prefix, s) for s in bootstrap.SERVICES),
          "; broker users:", ", ".join(broker.user_name(args.prefix, a.service) for a in broker.ACCESS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
