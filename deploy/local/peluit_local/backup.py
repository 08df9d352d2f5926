"""``peluit-backup`` and ``peluit-restore``: every service database, and the key
folders kept apart from the dumps (docs/operations.md#backup-and-restore).

    peluit-backup  --prefix peluit --keys-dir .keys --keys-out /media/kunci/2026-12-06 /backup/2026-12-06
    peluit-restore --prefix peluit_pulih --keys-dir /media/kunci/2026-12-06 /backup/2026-12-06

A dump is ``pg_dump --format=custom`` of the ``peluit`` schema, without owners or
grants; a restore creates the databases and roles of a new prefix
(``bootstrap.create_databases``, passwords from the restored key folders) and
restores each dump as that database's own role. Then the cases relay starts
again from the first event: the new broker vhost holds none of the old
messages, and every consumer skips what it has already recorded.
As the PostgreSQL administrator (``PELUIT_PG_ADMIN_DSN``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from . import bootstrap
from .keys import db_password

FORMAT = "peluit-backup/1"
# Followers before the log they follow: their positions never run ahead of the restored log.
# The vault after cases: an identity is stored before its case registers, so every restored case has it.
ORDER = ("reporting", "notifications", "intake", "cases", "identity-vault")
SCHEMA = "peluit"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup(prefix: str, out: Path, keys_dir: Path | None = None, keys_out: Path | None = None,
           services: tuple[str, ...] = ORDER) -> dict:
    """Dumps every database (or ``services``', in ``ORDER``) into ``out`` (which
    must not exist) and, with ``keys_out``, copies the key folders there;
    returns the manifest."""
    out, keys_out = Path(out).resolve(), Path(keys_out).resolve() if keys_out else None
    if keys_out and (keys_out == out or out in keys_out.parents or keys_out in out.parents):
        raise SystemExit("peluit-backup: the keys must not be stored with the dumps (--keys-out apart from OUT)")
    out.mkdir(parents=True, mode=0o700)
    manifest = {"format": FORMAT, "prefix": prefix, "started_at": datetime.now(timezone.utc).isoformat(),
                "databases": []}
    for service in (s for s in ORDER if s in services):
        path = dump(bootstrap.db_ident(prefix, service), out / f"{service}.dump")
        manifest["databases"].append({"service": service, "file": path.name, "bytes": path.stat().st_size,
                                      "sha256": _sha256(path)})
    manifest["finished_at"] = datetime.now(timezone.utc).isoformat()
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if keys_out:
        shutil.copytree(Path(keys_dir), keys_out)
        for root, dirs, files in os.walk(keys_out):
            os.chmod(root, 0o700)
            for name in files:
                os.chmod(Path(root) / name, 0o600)
    return manifest


def restore(prefix: str, source: Path, keys_dir: Path) -> None:
    """Onto a new prefix: refuses databases that already hold tables."""
    source = Path(source)
    manifest = json.loads((source / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise SystemExit(f"peluit-restore: {source} is not a {FORMAT} backup")
    for entry in manifest["databases"]:
        if _sha256(source / entry["file"]) != entry["sha256"]:
            raise SystemExit(f"peluit-restore: {entry['file']} does not match its checksum")
    bootstrap.create_databases(prefix, {s: db_password(keys_dir, s) for s in bootstrap.SERVICES})
    for entry in manifest["databases"]:
        name = bootstrap.db_ident(prefix, entry["service"])
        with psycopg.connect(bootstrap.admin_dsn(name)) as conn:
            if conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (SCHEMA,)).fetchone()[0]:
                raise SystemExit(f"peluit-restore: {name} is not empty; restore onto a new --prefix")
        restore_dump(source / entry["file"], name, role=name)
    with psycopg.connect(bootstrap.admin_dsn(bootstrap.db_ident(prefix, "cases"))) as conn:
        if conn.execute(f"SELECT to_regclass('{SCHEMA}.relay_position')").fetchone()[0]:  # a service that ran
            conn.execute(f"UPDATE {SCHEMA}.relay_position SET position = 0 WHERE name = 'domain'")


def dump(dbname: str, path: Path) -> Path:
    """One database's ``peluit`` schema, without owners or grants."""
    subprocess.run(["pg_dump", "--format=custom", f"--schema={SCHEMA}", "--no-owner", "--no-privileges",
                    "--file", str(path), "--dbname", bootstrap.admin_dsn(dbname)], check=True)
    return path


def restore_dump(dump: Path, name: str, role: str) -> None:
    """Into database ``name`` as ``role`` (the owner of what it creates): everything
    but the schema itself, which provisioning made, owned by the role."""
    listing = subprocess.run(["pg_restore", "--list", str(dump)], check=True, capture_output=True, text=True).stdout
    kept = [line for line in listing.splitlines() if f" SCHEMA - {SCHEMA} " not in line]
    with tempfile.NamedTemporaryFile("w", suffix=".list") as fh:
        fh.write("\n".join(kept) + "\n")
        fh.flush()
        subprocess.run(["pg_restore", "--no-owner", "--no-privileges", f"--role={role}", "--exit-on-error",
                        "--single-transaction", "--use-list", fh.name, "--dbname", bootstrap.admin_dsn(name),
                        str(dump)], check=True)


def backup_main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="peluit-backup", description="dump every Peluit database")
    parser.add_argument("out", type=Path, help="a new folder for the dumps and manifest.json")
    parser.add_argument("--prefix", default="peluit")
    parser.add_argument("--keys-dir", type=Path, default=Path(os.environ.get("PELUIT_KEYS_DIR", ".keys")))
    parser.add_argument("--keys-out", type=Path, help="copy the key folders here: another medium than OUT")
    args = parser.parse_args(argv)
    manifest = backup(args.prefix, args.out, args.keys_dir, args.keys_out)
    for entry in manifest["databases"]:
        print(f"{entry['file']}: {entry['bytes']} bytes, sha256 {entry['sha256']}")
    return 0


def restore_main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="peluit-restore", description="restore a peluit-backup onto new databases")
    parser.add_argument("source", type=Path, help="the folder peluit-backup wrote")
    parser.add_argument("--prefix", required=True, help="the new databases' prefix (they must be new or empty)")
    parser.add_argument("--keys-dir", type=Path, required=True, help="the restored key folders")
    args = parser.parse_args(argv)
    restore(args.prefix, args.source, args.keys_dir)
    print(f"restored into {args.prefix}_*; start the services on a new broker vhost")
    return 0


if __name__ == "__main__":
    sys.exit(backup_main())
