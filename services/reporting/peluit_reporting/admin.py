"""``peluit-reporting rebuild``: drop the read models to position zero; the
running follower rebuilds them from the cases notification log.
``peluit-reporting publish``: publish the public statistics now (after a
rebuild, or in a test), instead of at the next fixed time."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

import psycopg

from peluit_common.settings import db_conninfo

from . import projection, stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="peluit-reporting")
    parser.add_argument("command", choices=["migrate", "rebuild", "publish"])
    args = parser.parse_args(argv)
    with psycopg.connect(db_conninfo()) as conn:
        projection.migrate(conn)
        if args.command == "rebuild":
            projection.reset(conn)
            print("read models reset to position 0; the reporting service is rebuilding them")
        if args.command == "publish":
            now = datetime.now(timezone.utc)
            done = stats.publish(conn, stats.publication_due(now), force=True)
            print("public statistics published" if done else "not published: the read models are being rebuilt")
            return 0 if done else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
