"""``peluit-vault``: operator commands for the identity vault's database.

    peluit-vault migrate                  create tables and columns (idempotent)
    peluit-vault rotate-kek [--batch N]   re-wrap every data key under the first KEK of the file
    peluit-vault shred-expired [--now ISO] [--batch N]
                                          crypto-shred identities and evidence originals
                                          whose retention ran out
    peluit-vault set-retention --tenant 35.73 --years 5

KEK rotation, without downtime:
  1. write a new key (``openssl rand -hex 32``) as the FIRST line of
     PELUIT_VAULT_KEK_FILE and keep the old key on the line below it;
  2. restart every vault instance (they now wrap with the new key and still
     unwrap with the old one);
  3. ``peluit-vault rotate-kek``;
  4. remove the old line, restart the instances again, destroy the old key.

Run it with the vault's own environment: its database variables and
``PELUIT_VAULT_KEK_FILE`` (or ``PELUIT_KEYS_DIR=.keys/identity-vault``). Output
names KEKs by id only; it never prints a key or an identity.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

import psycopg

from peluit_common.cli import instant
from peluit_common.settings import ConfigError, db_conninfo

from . import records, retention, schema
from .crypto import DecryptionError
from .keyring import Keyring, KeyringError

# a running instance still holds rows locked for a moment, or one not yet restarted keeps wrapping
# new rows under the old key: retry for a while before saying so
SETTLE_ATTEMPTS = 10
SETTLE_SECONDS = 1.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="peluit-vault", description="identity vault operator commands")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    commands.add_parser("migrate", help="create tables and columns (idempotent)")
    rotate = commands.add_parser("rotate-kek", help="re-wrap every data key under the first KEK of the KEK file")
    rotate.add_argument("--batch", type=_positive, default=500)
    shred = commands.add_parser("shred-expired",
                                help="crypto-shred identities and evidence originals whose retention ran out")
    shred.add_argument("--now", type=instant, default=None,
                       help="ISO 8601 time with zone to evaluate retention at (default: the current time)")
    shred.add_argument("--batch", type=_positive, default=500)
    policy = commands.add_parser("set-retention",
                                 help="years identities and evidence originals are kept after their case closes")
    policy.add_argument("--tenant", required=True, help="region code, e.g. 35 or 35.73")
    policy.add_argument("--years", required=True, type=_positive)
    args = parser.parse_args(argv)

    try:
        keyring = Keyring.load() if args.command == "rotate-kek" else None  # before any write
        with psycopg.connect(db_conninfo()) as conn:
            schema.migrate(conn)
            if args.command == "migrate":
                print("vault schema up to date")
            elif args.command == "rotate-kek":
                return _rotate(conn, keyring, args.batch)
            elif args.command == "shred-expired":
                now = args.now or datetime.now(timezone.utc)
                count = retention.shred_expired(conn, now, batch=args.batch)
                print(f"shredded {count['identity']} identities and {count['evidence_original']} evidence originals "
                      f"whose retention ended by {now.isoformat()}")
            elif args.command == "set-retention":
                retention.set_retention(conn, args.tenant, args.years)
                print(f"tenant {args.tenant}: identities and evidence originals are shredded {args.years} years after "
                      "the case closes")
    except (ConfigError, KeyringError, ValueError) as err:
        print(f"peluit-vault: {err}", file=sys.stderr)
        return 2
    except DecryptionError as err:  # RewrapFailed names the row and KEK id; the batch was rolled back
        print(f"peluit-vault: {err or 'a stored key does not decrypt'}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as err:
        print(f"peluit-vault: database: {err}", file=sys.stderr)
        return 2
    return 0


def _rotate(conn, keyring: Keyring, batch: int) -> int:
    print(f"current KEK {keyring.current_id}; older KEKs in the file: {', '.join(keyring.ids[1:]) or 'none'}")
    total = 0
    for attempt in range(SETTLE_ATTEMPTS):
        total += records.rewrap(conn, keyring, batch=batch)
        left = records.pending(conn, keyring)
        if not any(kek_id in keyring for kek_id in left):
            break
        time.sleep(SETTLE_SECONDS)
    print(f"re-wrapped {total} data keys under KEK {keyring.current_id}")
    unknown = {k: n for k, n in left.items() if k not in keyring}
    stuck = {k: n for k, n in left.items() if k in keyring}
    if unknown:
        for kek_id, n in sorted(unknown.items()):
            print(f"{n} data keys are under KEK {kek_id}, which is not in the KEK file: put that key back "
                  "below the first line and run rotate-kek again", file=sys.stderr)
    if stuck:
        for kek_id, n in sorted(stuck.items()):
            print(f"{n} data keys are still under the older KEK {kek_id}: a vault instance still wraps with it. "
                  "Restart every instance with the new KEK file, then run rotate-kek again", file=sys.stderr)
    if unknown or stuck:
        return 1
    with conn.transaction():
        records.audit(conn, "kek_rotated", None, {"current": keyring.current_id, "rewrapped": total,
                                                  "retired": list(keyring.ids[1:])})
    print("every data key is under the current KEK.")
    if len(keyring) > 1:
        print(f"Now remove the older line(s) (KEK {', '.join(keyring.ids[1:])}) from the KEK file, restart every "
              "vault instance, and destroy the old key(s) wherever they are kept (backups of the key file, "
              "split-custody copies).\n"
              "Until an old KEK is destroyed, a database backup, WAL archive or replica made before this rotation, "
              "together with that KEK, still reveals the identities it holds, including those shredded since. "
              "Destroying it also makes those backups unable to restore any identity: retire the old key together "
              "with the last backup you keep under it.")
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
