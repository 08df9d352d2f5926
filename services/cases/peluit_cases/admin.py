"""``peluit-cases``: operator commands for the cases database.

    peluit-cases migrate        create tables (idempotent)
    peluit-cases seed-demo      the demo province: Jawa Timur and three kota/kabupaten
"""

from __future__ import annotations

import argparse

import psycopg

from peluit_common.settings import db_conninfo

from . import catalogue


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="peluit-cases")
    parser.add_argument("command", choices=["migrate", "seed-demo"])
    args = parser.parse_args(argv)
    with psycopg.connect(db_conninfo()) as conn:
        catalogue.migrate(conn)
        if args.command == "seed-demo":
            catalogue.seed_demo(conn)
            print("demo tenants:", ", ".join(code for code, _, _ in catalogue.DEMO_TENANTS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
