"""``peluit-reporting rebuild``: drop the read models to position zero; the
running follower rebuilds them from the cases notification log."""

from __future__ import annotations

import argparse

import psycopg

from peluit_common.settings import db_conninfo

from . import projection


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="peluit-reporting")
    parser.add_argument("command", choices=["migrate", "rebuild"])
    args = parser.parse_args(argv)
    with psycopg.connect(db_conninfo()) as conn:
        projection.migrate(conn)
        if args.command == "rebuild":
            projection.reset(conn)
            print("read models reset to position 0; the reporting service is rebuilding them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
