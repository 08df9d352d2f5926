"""``peluit-cases``: operator commands for the cases database.

    peluit-cases migrate        create tables (idempotent)
    peluit-cases seed-demo      the demo province: Jawa Timur and three kota/kabupaten
    peluit-cases reset-envelopes
                                forget the kept envelopes (envelope_log); the running
                                service derives them again from position 0 (after a
                                release that changes how envelopes are derived)
    peluit-cases export-bundle [--case ID] --out FILE
                                audit bundle for ``peluit-verify``: the whole event
                                log up to the newest signed checkpoint, or one case
    peluit-cases create-officer --tenant 35 --username admin --display-name "..." \\
                                --role province_admin [--role ...] [--email ...]
                                an officer account awaiting enrolment: prints its
                                one-time enrolment code (the officer chooses their
                                own password and TOTP when enrolling)
    peluit-cases end-content [--now ISO]
                                end the content of every case whose tenant's retention
                                period after its ending has passed (``retention``)
    peluit-cases rotate-content-kek
                                re-wrap every case key under the first KEK of
                                PELUIT_CONTENT_KEK_FILE (docs/operations.md, "Case content")
    peluit-cases demo-admin     development only: the demo province admin
                                ``admin.demo`` (tenant 35), created if missing, and
                                a fresh enrolment code while it has not enrolled

Run it with the cases service's environment (database variables and
``PELUIT_KEYS_DIR=.keys/cases`` or ``PELUIT_OFFICER_TOTP_KEY_FILE``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from uuid import UUID

import psycopg

from peluit_common.cli import instant
from peluit_common.settings import ConfigError, db_conninfo, production
from peluit_contracts.i18n import message

from . import catalogue, chain, envelope_log

CONSOLE_URL = "http://127.0.0.1:8007/"
DEMO_ADMIN = "admin.demo"


def main(argv=None) -> int:
    # officers imports eventlet (via peluit_common.web); its deprecation notice is noise in a CLI
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from peluit_common.auth import ROLES

    from . import officers

    parser = argparse.ArgumentParser(prog="peluit-cases")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    commands.add_parser("migrate", help="create tables (idempotent)")
    commands.add_parser("seed-demo", help="the demo province: Jawa Timur and three kota/kabupaten")
    create = commands.add_parser("create-officer", help="create an officer account; prints its enrolment code")
    create.add_argument("--tenant", required=True, help="region code, e.g. 35 or 35.73")
    create.add_argument("--username", required=True)
    create.add_argument("--display-name", required=True)
    create.add_argument("--role", action="append", required=True, choices=ROLES, dest="roles",
                        help="repeat for several roles")
    create.add_argument("--email", default=None)
    demo = commands.add_parser("demo-admin", help="development only: the demo province admin and its enrolment code")
    demo.add_argument("--console", default=CONSOLE_URL, help="where the officer enrols (printed)")
    policy = commands.add_parser("set-disclosure-notice",
                                 help="tenant policy: tell reporters when a disclosure is requested (on|off)")
    policy.add_argument("tenant", help="region code, e.g. 35.73")
    policy.add_argument("setting", choices=["on", "off"])
    commands.add_parser("reset-envelopes", help="forget the kept envelopes; the running service derives them "
                        "again from position 0")
    partner = commands.add_parser("create-partner", help="a partner system's credential for the partner API "
                                  "(printed once)")
    partner.add_argument("name", help="e.g. lapor-3573")
    partner.add_argument("--tenant", action="append", required=True, help="a tenant it files for; repeat")
    gone = commands.add_parser("revoke-partner", help="revoke a partner system's credential")
    gone.add_argument("name")
    export = commands.add_parser("export-bundle",
                                 help="audit bundle (peluit-audit-bundle/1) for peluit-verify: the whole log or one case")
    export.add_argument("--case", type=UUID, help="one case's id; without it, the whole log")
    export.add_argument("--out", required=True, help="file to write ('-' for standard output)")
    end = commands.add_parser("end-content", help="end the content of cases whose retention period has passed")
    end.add_argument("--now", type=instant, default=None,
                     help="ISO 8601 time with zone to evaluate retention at (default: the current time)")
    commands.add_parser("rotate-content-kek", help="re-wrap every case key under the first KEK of the KEK file")
    args = parser.parse_args(argv)

    if args.command in ("end-content", "rotate-content-kek"):
        return _content(args)
    if args.command == "create-officer":
        return _create_officer(args)
    if args.command == "demo-admin":
        return _demo_admin(args)
    if args.command == "export-bundle":
        return _export_bundle(args)
    with psycopg.connect(db_conninfo()) as conn:
        catalogue.migrate(conn)
        officers.migrate(conn)
        chain.migrate(conn)  # the hash chain on the event table, once the service has created it
        if args.command == "seed-demo":
            catalogue.seed_demo(conn)
            print("demo tenants:", ", ".join(code for code, _, _ in catalogue.DEMO_TENANTS))
        elif args.command == "set-disclosure-notice":
            if not catalogue.set_disclosure_notice(conn, args.tenant, args.setting == "on"):
                print(_say(message("cli_no_tenant", tenant=args.tenant)), file=sys.stderr)
                return 2
            print(f"tenant {args.tenant}: disclosure notice to reporters {args.setting}")
        elif args.command in ("create-partner", "revoke-partner"):
            return _partner(conn, args)
        elif args.command == "reset-envelopes":
            envelope_log.migrate(conn)
            envelope_log.reset(conn)
            print("kept envelopes forgotten; the cases service derives them again from position 0 "
                  "(domain_events derives what is not kept yet, so no reader waits)")
    return 0


def _content(args) -> int:
    """The event store with the service's settings and content KEKs (read before any write)."""
    from datetime import datetime, timezone

    from psycopg_pool import ConnectionPool

    from peluit_common.eventstore import eventsourcing_env
    from peluit_common.keyring import KeyringError

    from . import content, retention
    from .application import CasesApplication

    try:
        keyring = content.load_keyring()
        app = CasesApplication(env=eventsourcing_env(create_tables=False), content_keyring=keyring)
    except (ConfigError, KeyringError) as err:
        print(f"peluit-cases: {err}", file=sys.stderr)
        return 2
    try:
        if args.command == "rotate-content-kek":
            return _rotate_content(app.mapper.keys)
        now = args.now or datetime.now(timezone.utc)
        with ConnectionPool(db_conninfo(), min_size=1, max_size=2, open=True) as pool:
            count = retention.run_once(pool, app, now)
        print(f"ended the content of {count} cases whose retention period ended by {now.isoformat()}")
        return 0
    finally:
        app.close()


def _rotate_content(keys) -> int:
    print(f"current KEK {keys.keyring.current_id}; older KEKs in the file: {', '.join(keys.keyring.ids[1:]) or 'none'}")
    print(f"re-wrapped {keys.rewrap()} case keys under KEK {keys.keyring.current_id}")
    left = keys.pending()
    for kek_id, n in sorted(left.items()):
        where = "is not in the KEK file: put that key back below the first line" if kek_id not in keys.keyring \
            else "is still used by an instance: restart every cases instance with the new KEK file"
        print(f"{n} case keys are under KEK {kek_id}, which {where}, and run rotate-content-kek again",
              file=sys.stderr)
    if left:
        return 1
    print("every case key is under the current KEK. Remove the older line(s) from the KEK file, restart every cases "
          "instance and destroy the old key(s): until then a backup made before this rotation, with that key, "
          "still opens the content it holds, including content ended since.")
    return 0


def _partner(conn, args) -> int:
    from . import partners

    partners.migrate(conn)
    if args.command == "revoke-partner":
        done = partners.revoke(conn, args.name)
        print(f"partner {args.name}: {'revoked' if done else 'no live credential'}")
        return 0 if done else 2
    try:
        print(partners.create(conn, args.name, args.tenant))
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    return 0


def _export_bundle(args) -> int:
    """Streams the bundle: a whole log does not fit in memory."""
    from . import audit

    with psycopg.connect(db_conninfo()) as conn, conn.transaction():
        try:
            chunks = audit.iter_bundle(conn, args.case)
            first = next(chunks)
        except audit.NotCheckpointed:
            print(_say(message("cli_not_checkpointed")), file=sys.stderr)
            return 2
        out = sys.stdout if args.out == "-" else open(args.out, "w", encoding="utf-8")
        try:
            out.write(first)
            for chunk in chunks:
                out.write(chunk)
        finally:
            if out is not sys.stdout:
                out.close()
    return 0


def _say(text: dict) -> str:
    """A catalogue text for the terminal: Bahasa Indonesia / English."""
    return f"{text['id']} / {text['en']}"


def _print_code(username: str, invitation, console: str) -> None:
    print(_say(message("cli_enrolment_code", username=username, enrolment_code=invitation.code,
                       expires=invitation.expires_at.isoformat(timespec="minutes"))))
    print(_say(message("cli_enrol_where", console=console)))


def _accounts(conn) -> None:
    from . import officers

    catalogue.migrate(conn)
    officers.migrate(conn)


def _create_officer(args) -> int:
    from . import enrolment, officers

    # the key is read before anything is written: the code's hash needs it
    try:
        totp_key = officers.load_totp_key()
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    with psycopg.connect(db_conninfo()) as conn:
        _accounts(conn)
        with conn.transaction():
            known = conn.execute("SELECT 1 FROM tenant WHERE code = %s", (args.tenant,)).fetchone()
        if known is None:
            # a warning, not a refusal: a fresh deployment may create its first admin before its tenants
            print(_say(message("cli_tenant_not_yet", tenant=args.tenant)), file=sys.stderr)
        try:
            invitation = enrolment.invite(conn, totp_key, tenant=args.tenant, username=args.username,
                                          display_name=args.display_name, roles=args.roles, email=args.email,
                                          via="cli")
        except officers.OfficerError as err:
            print(_say(message(err.code, **err.params)), file=sys.stderr)
            return 2
    print(f"officer: {invitation.officer_id} ({args.username}, tenant {args.tenant}, roles {', '.join(args.roles)})")
    _print_code(args.username, invitation, CONSOLE_URL)
    return 0


def _demo_admin(args) -> int:
    """``make run``'s demo administrator; never in production."""
    from . import enrolment, officer_admin, officers

    if production():
        print(_say(message("cli_not_in_production")), file=sys.stderr)
        return 2
    totp_key = officers.load_totp_key()
    with psycopg.connect(db_conninfo()) as conn:
        _accounts(conn)
        with conn.transaction():
            row = conn.execute("SELECT id, enrolled_at FROM officer WHERE username = %s", (DEMO_ADMIN,)).fetchone()
        if row is None:
            invitation = enrolment.invite(conn, totp_key, tenant="35", username=DEMO_ADMIN,
                                          display_name="Admin Demo Provinsi", roles=["province_admin"], via="cli")
        elif row[1] is not None:
            print(_say(message("cli_demo_enrolled", username=DEMO_ADMIN, console=args.console)))
            return 0
        else:
            _, invitation = officer_admin.reset_factor(conn, totp_key, str(row[0]), lambda officer: None, None,
                                                       kind="enrolment_code_issued")
    _print_code(DEMO_ADMIN, invitation, args.console)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
