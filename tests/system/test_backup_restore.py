"""The restore drill: back up every database and the key folders while reports
keep coming, restore onto a fresh system (new databases and roles, a new
broker vhost, new ports) deployed as the Kubernetes manifest says (its
migrate jobs, then each container in production mode with only the manifest's
environment: ``kubernetes.py``), and find every acknowledged report there: its
receipt opens its case, its identity decrypts with the restored KEK, the hash
chains verify (the case log's and the vault's own), and reporting and notifications converge from the restored
log, each case once. The restored system takes new reports."""

from __future__ import annotations

import threading
import time
import uuid

import requests

from peluit_local import bootstrap
from peluit_local.backup import backup, restore
from peluit_local.system import System
from peluit_local.testing import _free_base_port, admin_connect, eventually, sample_report, submit
from peluit_vault.identities import read_identity
from peluit_vault.keyring import Keyring

from . import kubernetes
from .test_tamper_evidence import verify


def _report(system, marker: str):
    out = submit(system, sample_report(identity={"name": f"Pulih {marker}", "email": f"{marker}@example.id"}),
                 key=str(uuid.uuid4()), timeout=15)
    return (marker, out.json()) if out.status_code == 201 else None


def _case_ids(system, numbers) -> dict:
    with admin_connect(system, "cases") as conn:
        rows = conn.execute("SELECT registration_number, case_id FROM peluit.case_index "
                            "WHERE registration_number = ANY(%s)", (list(numbers),)).fetchall()
    return {number: str(case_id) for number, case_id in rows}


def test_backup_restores_onto_a_fresh_system(system, staff, login, tmp_path):
    acknowledged = [r for r in (_report(system, f"sebelum-{uuid.uuid4().hex[:8]}") for _ in range(5)) if r]
    assert len(acknowledged) == 5
    # the vault's own history holds something: a disclosure request and a retention setting
    from .test_disclosure import file_request, team_case

    case_id = team_case(system, staff, login, {"name": "Pulih Pengungkapan", "email": "pulih@example.id"})
    assert file_request(system, login("dewi.irban"), case_id).status_code == 201
    system.admin_command("identity-vault", "-m", "peluit_vault.admin", "set-retention", "--tenant", "35.97",
                         "--years", "6")
    during, stop = [], threading.Event()

    def light_load():
        while not stop.is_set():
            during.append(_report(system, f"selama-{uuid.uuid4().hex[:8]}"))
            time.sleep(0.05)

    loader = threading.Thread(target=light_load)
    loader.start()
    started = time.monotonic()
    try:
        manifest = backup(system.prefix, tmp_path / "dumps", system.keys_dir, tmp_path / "keys")
    finally:
        stop.set()
        loader.join()
    took = time.monotonic() - started
    during = [r for r in during if r]
    assert during, "reports were acknowledged while the backup ran"
    assert [d["service"] for d in manifest["databases"]] == ["reporting", "notifications", "intake", "cases",
                                                              "identity-vault"]
    assert not list((tmp_path / "dumps").rglob("*.key")), "no key sits beside the dumps"

    restored = System(prefix=system.prefix + "r", vhost=system.vhost + "-r", base_port=_free_base_port(),
                      keys_dir=tmp_path / "keys", log_dir=tmp_path / "logs", extra_env=system.extra_env)
    restored.log_dir.mkdir()
    try:
        started = time.monotonic()
        restore(restored.prefix, tmp_path / "dumps", restored.keys_dir)
        print(f"backup {took:.1f} s ({len(during)} reports acknowledged meanwhile), "
              f"restore {time.monotonic() - started:.1f} s, {sum(d['bytes'] for d in manifest['databases'])} bytes")
        restored.provision_broker()  # a new vhost with the services' users, as provisioning makes it
        kubernetes.migrate(restored)  # the release's migrations on restored tables: nothing to do, and harmless
        kubernetes.start(restored)
        _check_restored(restored, acknowledged, during, tmp_path)
    finally:
        for name in list(restored.processes):  # a throwaway copy: no need to wait for a clean stop
            restored.kill(name)
        restored.unprovision_broker()
        bootstrap.drop_databases(restored.prefix)


def _check_restored(restored, acknowledged, during, tmp_path):
    before = {out["registration_number"]: (marker, out) for marker, out in acknowledged}
    cases = eventually(lambda: len(found := _case_ids(restored, before)) == len(before) and found)
    assert cases, "every report acknowledged before the backup is in the restored case index"
    # acknowledged during the backup: present with everything, or not at all (taken after the cases dump)
    late = {out["registration_number"]: (marker, out) for marker, out in during}
    cases.update(_case_ids(restored, late))
    present = {number: entry for number, entry in {**before, **late}.items() if number in cases}

    for number, (_, out) in present.items():
        status = requests.post(restored.url("intake") + "/api/v1/reports/status",
                               json={"receipt": out["receipt"]}, timeout=10)
        assert status.status_code == 200 and status.json()["registration_number"] == number

    keyring = Keyring.parse((restored.keys_dir / "identity-vault" / "vault-kek.key").read_bytes())
    with admin_connect(restored, "identity-vault") as conn:
        conn.execute("SET search_path = peluit")
        for number, (marker, _) in present.items():
            ref = conn.execute("SELECT reporter_ref FROM reporter WHERE case_id = %s", (cases[number],)).fetchone()
            assert ref, f"{number}: its identity was restored with it"
            assert f"Pulih {marker}".encode() in read_identity(conn, keyring, ref[0])

    bundle = tmp_path / "bundle.json"
    restored.admin_command("cases", "-m", "peluit_cases.admin", "export-bundle", "--out", str(bundle))
    checked = verify(bundle, restored.keys_dir / "auditors" / "checkpoint.pub")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # the vault's own history (disclosure log, vault_audit) came back chained, with its checkpoints
    for log in ("disclosures", "audit"):
        vault_bundle = tmp_path / f"vault-{log}.json"
        restored.admin_command("identity-vault", "-m", "peluit_vault.admin", "export-bundle", "--log", log,
                               "--out", str(vault_bundle))
        checked = verify(vault_bundle, restored.keys_dir / "auditors" / "vault-checkpoint.pub")
        assert checked.returncode == 0 and checked.stdout.startswith("intact:"), checked.stdout + checked.stderr

    def converged():
        with admin_connect(restored, "reporting") as rep, admin_connect(restored, "notifications") as notes:
            summarised = rep.execute("SELECT count(*) FROM peluit.case_summary WHERE registration_number = ANY(%s)",
                                     (list(present),)).fetchone()[0]
            told = notes.execute("SELECT registration_number, count(*) FROM peluit.officer_notification "
                                 "WHERE kind = 'case_registered' AND registration_number = ANY(%s) GROUP BY 1",
                                 (list(present),)).fetchall()
        return summarised == len(present) and len(told) == len(present) and {n for _, n in told} == {1}

    assert eventually(converged, timeout=30), "reporting and notifications follow the restored log, each case once"
    fresh = _report(restored, f"sesudah-{uuid.uuid4().hex[:8]}")  # and the restored system takes new reports
    assert fresh and fresh[1]["registration_number"] not in present
