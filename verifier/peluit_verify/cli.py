"""``peluit-verify BUNDLE.json [--public-key FILE ...]``

Checks a Peluit audit bundle offline and prints ``intact`` or the first
problem (Bahasa Indonesia / English). Exit codes:

    0  intact (warnings, e.g. events after the newest checkpoint, go to stderr)
    1  tampering found: an altered, missing, inserted or reordered event, a broken
       per-aggregate chain, an invalid checkpoint signature, a checkpoint head
       that is not in the chain, no checkpoint at all, or a history that does
       not extend the ``--since`` checkpoint
    2  the bundle or a key file cannot be read (not a bundle, bad JSON, bad hex)
    3  nothing wrong found, but nothing proven: no ``--public-key`` (and no ``--no-key``)

Bundles come from cases (``GET /api/v1/cases/{id}/audit-bundle``,
``peluit-cases export-bundle``: the event store) and from the vault
(``peluit-vault export-bundle --log disclosures|audit|refused-calls``: its
disclosure log, and ``vault_audit`` and the refused calls as logs of records);
cases and the vault each sign with their own checkpoint key.

Pass the checkpoint public key you received from the Inspektorat through
another channel with ``--public-key`` (hex, as in ``checkpoint.pub``; repeat
it for rotated keys): a bundle's own key proves nothing if the whole bundle is
forged, so without one the verifier does not say "intact" unless told
``--no-key``. ``--since FILE`` names a checkpoint you already hold (e.g. a
``chain.checkpoint`` event from the integration stream): the bundle must
extend it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .since import check_since, load_checkpoint
from .verify import BundleError, verify_bundle

MAX_LISTED = 20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="peluit-verify", description="Verify a Peluit audit bundle offline.",
        epilog="exit codes: 0 intact, 1 tampering found, 2 bundle or key file unreadable, 3 not proven (no key)")
    parser.add_argument("bundle", type=Path, help="the bundle (JSON), e.g. from GET /api/v1/cases/{id}/audit-bundle, "
                        "peluit-cases export-bundle or peluit-vault export-bundle")
    parser.add_argument("--public-key", action="append", type=Path, default=[], dest="keys",
                        help="checkpoint public key file (hex) obtained independently; repeat for rotated keys")
    parser.add_argument("--no-key", action="store_true",
                        help="without --public-key: check signatures against the bundle's own key and still say intact")
    parser.add_argument("--since", type=Path, help="a trusted earlier checkpoint (JSON) the history must extend")
    parser.add_argument("--all", action="store_true", help="list every problem, not only the first ones")
    args = parser.parse_args(argv)
    try:
        bundle = json.loads(args.bundle.read_text(encoding="utf-8"))
        trusted = [bytes.fromhex(path.read_text().strip()) for path in args.keys]
        if any(len(k) != 32 for k in trusted):
            raise ValueError("a public key is 32 bytes")
        since = load_checkpoint(json.loads(args.since.read_text(encoding="utf-8"))) if args.since else None
        report = verify_bundle(bundle, trusted or None)
        if since is not None:
            own = [bytes.fromhex(k) for k in bundle["public_keys"].values()]
            check_since(bundle, since, trusted or own, report)
    except (OSError, ValueError, BundleError) as err:
        # json.JSONDecodeError and BundleError are ValueErrors too
        print(f"tidak dapat dibaca / unreadable: {err}", file=sys.stderr)
        return 2
    if not args.keys:
        print("peringatan: tanpa --public-key, tanda tangan hanya diperiksa dengan kunci di dalam bundel itu sendiri "
              "/ warning: without --public-key, signatures are checked only against the bundle's own key",
              file=sys.stderr)
    for id_, en in report.warnings:
        print(f"peringatan / warning: {id_} / {en}", file=sys.stderr)
    if report.intact and not args.keys and not args.no_key:
        print("TIDAK TERBUKTI: tidak ditemukan kerusakan, tetapi tanpa --public-key bundel palsu pun lolos "
              "(berikan --public-key, atau --no-key) / NOT PROVEN: nothing wrong found, but without --public-key a "
              "forged bundle passes too (give --public-key, or --no-key)")
        return 3
    if report.intact:
        head = report.head or {}
        log = f" of {report.log}" if report.log else ""
        print(f"intact: {report.events} events{log} ({report.full_events} in full), {report.checkpoints} checkpoints; "
              f"signed head at notification {head.get('position')} ({head.get('signed_at')}, key {head.get('key_id')})")
        return 0
    problems = sorted(report.problems, key=lambda p: p.position)
    print(f"TAMPERED: {problems[0].text()}")
    shown = problems[1:] if args.all else problems[1:MAX_LISTED]
    for problem in shown:
        print(f"  also: {problem.text()}")
    if len(problems) - 1 > len(shown):
        print(f"  ... {len(problems) - 1 - len(shown)} more (--all)")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
