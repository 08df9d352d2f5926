"""Retention by crypto-shredding of identities and evidence originals against
the real PostgreSQL, with the clock run forward by passing ``now``."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta, timezone
from uuid import UUID, uuid4

import psycopg
import pytest

from peluit_contracts.reports import case_id_for
from peluit_vault import admin, evidence, identities, records, retention
from peluit_vault.records import IDENTITIES
from peluit_vault.keyring import Keyring

NOW = datetime.now(timezone.utc)
KEK = Keyring([secrets.token_bytes(32)])
DEDUPE = secrets.token_bytes(32)


def years(n: float) -> timedelta:
    return timedelta(days=round(365.25 * n))


@pytest.fixture(autouse=True)
def default_retention(monkeypatch):
    monkeypatch.delenv("PELUIT_VAULT_RETENTION_YEARS", raising=False)  # the built-in default, 5 years


@pytest.fixture(scope="module")
def report(canaries):
    def report(conn, tenant="35.73") -> tuple[str, UUID, bytes]:
        """Store an identity; returns its reporter_ref, the case id cases derives, and the plaintext."""
        marker = canaries.new()
        plain = json.dumps({"name": f"Siti {marker}", "phone": "+62 812 0000 0000", "nik": marker}).encode()
        submission_id = secrets.token_hex(32)
        ref = identities.store_identity(conn, KEK, submission_id, tenant, plain)
        return ref, case_id_for(submission_id), plain
    return report


def state(inspect, ref):
    return inspect.execute("SELECT wrapped_dek, ciphertext, shredded_at, case_closed_at FROM reporter "
                           "WHERE reporter_ref = %s", (ref,)).fetchone()


def audits(inspect, ref, action="identity_shredded"):
    return inspect.execute("SELECT at, detail FROM vault_audit WHERE reporter_ref = %s AND action = %s",
                           (ref, action)).fetchall()


def test_expired_identity_is_shredded_and_reads_as_erased(conn, inspect, report):
    ref, case_id, plain = report(conn)
    assert identities.read_identity(conn, KEK, ref) == plain
    assert retention.record_case_closed(conn, case_id, NOW - years(6)) == 1

    assert retention.shred_expired(conn, NOW)["identity"] >= 1
    wrapped, ciphertext, shredded_at, _ = state(inspect, ref)
    assert wrapped is None and bytes(ciphertext) == b"" and shredded_at == NOW
    with pytest.raises(records.Erased) as err:
        identities.read_identity(conn, KEK, ref)
    assert err.value.shredded_at == NOW
    [(at, detail)] = audits(inspect, ref)
    assert at == NOW and detail["case_id"] == str(case_id) and detail["tenant"] == "35.73"
    assert detail["retention_years"] == 5 and detail["kek_id"] == KEK.current_id

    assert retention.shred_expired(conn, NOW) == {"identity": 0, "evidence_original": 0}  # twice is a no-op
    assert len(audits(inspect, ref)) == 1
    assert retention.record_case_closed(conn, case_id, NOW) == 0  # a shredded row stays shredded
    # a retried store of the same submission gets the same reference, still erased
    submission_id = inspect.execute("SELECT submission_id FROM reporter WHERE reporter_ref = %s", (ref,)).fetchone()[0]
    assert identities.store_identity(conn, KEK, submission_id, "35.73", plain) == ref
    with pytest.raises(records.Erased):
        identities.read_identity(conn, KEK, ref)
    assert IDENTITIES.rewrap(conn, Keyring([secrets.token_bytes(32), KEK.current])) >= 0
    assert state(inspect, ref)[0] is None  # a rotation has no key to carry along


def test_retention_runs_from_closure_per_tenant_and_the_clock_can_run_forward(conn, inspect, report):
    retention.set_retention(conn, "35.07", 10)
    assert retention.retention_years(conn, "35.07") == 10 and retention.retention_years(conn, "35.78") == 5
    long_kept, long_case, long_plain = report(conn, "35.07")
    recent, recent_case, _ = report(conn, "35.73")
    open_case, _, open_plain = report(conn, "35.73")
    boundary, boundary_case, _ = report(conn, "35.78")
    retention.record_case_closed(conn, long_case, NOW - years(6))
    retention.record_case_closed(conn, recent_case, NOW - years(4))
    retention.record_case_closed(conn, boundary_case, (NOW - timedelta(seconds=1)).isoformat())
    # exactly five calendar years after closure the key goes
    boundary_due = inspect.execute("SELECT %s::timestamptz + interval '5 years'",
                                   (NOW - timedelta(seconds=1),)).fetchone()[0]

    retention.shred_expired(conn, NOW)
    assert identities.read_identity(conn, KEK, long_kept) == long_plain  # 10 years for 35.07
    assert state(inspect, recent)[2] is None

    retention.shred_expired(conn, NOW + years(1) + timedelta(days=1))
    assert state(inspect, recent)[2] is not None and state(inspect, long_kept)[2] is None

    retention.shred_expired(conn, boundary_due - timedelta(microseconds=1))
    assert state(inspect, boundary)[2] is None
    retention.shred_expired(conn, boundary_due)
    assert state(inspect, boundary)[2] == boundary_due

    retention.shred_expired(conn, NOW + years(4) + timedelta(days=1))
    with pytest.raises(records.Erased):
        identities.read_identity(conn, KEK, long_kept)
    assert audits(inspect, long_kept)[0][1]["retention_years"] == 10

    retention.shred_expired(conn, NOW + years(100))  # a case never closed is never shredded
    assert identities.read_identity(conn, KEK, open_case) == open_plain
    assert audits(inspect, open_case) == []


def test_record_case_closed_is_idempotent_and_never_moves_closure_earlier(conn, inspect, report):
    ref, case_id, _ = report(conn)
    assert retention.record_case_closed(conn, str(case_id), NOW.isoformat()) == 1  # as it comes in an event
    assert retention.record_case_closed(conn, case_id, NOW) == 0  # redelivered
    assert retention.record_case_closed(conn, case_id, NOW - timedelta(days=3)) == 0
    assert state(inspect, ref)[3] == NOW
    assert retention.record_case_closed(conn, case_id, NOW + timedelta(days=1)) == 1
    assert state(inspect, ref)[3] == NOW + timedelta(days=1)
    assert len(audits(inspect, ref, "case_closed")) == 2
    assert retention.record_case_closed(conn, case_id_for("anonymous report, no vault row"), NOW) == 0
    with pytest.raises(ValueError):
        retention.record_case_closed(conn, case_id, NOW.replace(tzinfo=None))


def test_the_default_comes_from_the_environment(conn, inspect, monkeypatch, report):
    ref, case_id, _ = report(conn, "35.78")
    retention.record_case_closed(conn, case_id, NOW - years(6))
    monkeypatch.setenv("PELUIT_VAULT_RETENTION_YEARS", "7")
    retention.shred_expired(conn, NOW)
    assert state(inspect, ref)[2] is None
    monkeypatch.setenv("PELUIT_VAULT_RETENTION_YEARS", "0")
    with pytest.raises(Exception, match="at least 1"):
        retention.shred_expired(conn, NOW)
    monkeypatch.delenv("PELUIT_VAULT_RETENTION_YEARS")
    retention.shred_expired(conn, NOW)
    assert state(inspect, ref)[2] == NOW


def test_set_retention_refuses_nonsense(conn, inspect, report):
    for tenant, n in (("35.73", 0), ("Kota Malang", 5), ("35.73", -1), ("35.73", 101), ("35.73", 10_000),
                      ("35.73", True), ("35.73", 5.0)):
        with pytest.raises(ValueError):
            retention.set_retention(conn, tenant, n)
    # why a ceiling: the CLI took any number, and 300,000 years overflows the shredder's date arithmetic,
    # which then stops for every tenant at once
    _, case_id, _ = report(conn, "35.03")
    retention.record_case_closed(conn, case_id, NOW - years(6))
    inspect.execute("INSERT INTO retention_policy (tenant, years) VALUES ('35.03', 300000)")
    try:
        with pytest.raises(psycopg.errors.DatetimeFieldOverflow):
            retention.shred_expired(conn, NOW)
    finally:
        inspect.execute("DELETE FROM retention_policy WHERE tenant = '35.03'")
    retention.set_retention(conn, "35.03", retention.MAX_RETENTION_YEARS)
    retention.shred_expired(conn, NOW)


def test_officers_set_retention_by_the_same_rule_through_call_tokens_taken_once(conn, inspect):
    from nacl.signing import SigningKey

    from peluit_common.vault_call import VaultCallSigner
    from peluit_vault import calls

    calls.migrate(conn)
    signing = SigningKey.generate()
    checker = calls.CallChecker(bytes(signing.verify_key), lambda jti, exp: calls.take(conn, jti, exp),
                                lambda *row: calls.record_refused(conn, *row))
    signer = VaultCallSigner(bytes(signing))
    kota = {"officer_id": "33333333-3333-4333-8333-333333333333", "tenant": "35.04", "roles": ["tenant_admin"],
            "username": "kota"}
    prov = {"officer_id": "11111111-1111-4111-8111-111111111111", "tenant": "35", "roles": ["province_admin"],
            "username": "prov"}
    other = {"officer_id": "44444444-4444-4444-8444-444444444444", "tenant": "35.05",
             "roles": ["tenant_admin", "inspektur"], "username": "lain"}

    def signed(who, write=False, version=1, **fields):
        return signer.sign("set_retention" if write else "retention_policy",
                           {"version": version, "tenant": "35.04", **fields}, who)

    def rpc(command, write=False):
        return retention.policy_rpc(conn, checker, command, write=write)

    assert rpc(signed(kota)) == {"tenant": "35.04", "years": 5}  # the default
    assert rpc(signed(kota, write=True, years=7), write=True) == {"tenant": "35.04", "years": 7}
    eight = signed(prov, write=True, years=8)
    assert rpc(eight, write=True) == {"tenant": "35.04", "years": 8}
    assert rpc(eight, write=True) == {"error": "call_replayed"}  # a sniffed call is worth nothing
    assert rpc({**signed(prov, write=True, years=8), "years": 1}, write=True) == {"error": "call_mismatch"}
    assert rpc(signed(prov, years=8), write=True) == {"error": "call_mismatch"}  # a read's token does not write
    assert rpc(signed(other, write=True, years=1), write=True) == {"error": "forbidden"}  # another tenant's admin
    assert rpc({"version": 1, "token": "x.y.z", "tenant": "35.04", "years": 1}, write=True) == {
        "error": "call_invalid"}
    for bad in ({"years": 101}, {"years": 0}, {"years": "7"}, {}):
        assert rpc(signed(prov, write=True, **bad), write=True) == {"error": "invalid_command"}
    assert rpc(signed(prov, version=2)) == {"error": "unsupported_version"}
    assert retention.retention_years(conn, "35.04") == 8
    audited = inspect.execute("SELECT detail FROM vault_audit WHERE action = 'retention_set' "
                              "AND detail->>'tenant' = '35.04' ORDER BY id").fetchall()
    assert [d[0] for d in audited] == [
        {"tenant": "35.04", "years": 7, "officer_id": "33333333-3333-4333-8333-333333333333"},
        {"tenant": "35.04", "years": 8, "officer_id": "11111111-1111-4111-8111-111111111111"}]
    refused = inspect.execute("SELECT action, code, officer_id FROM vault_call_refused ORDER BY id").fetchall()
    assert refused == [("set_retention", "call_replayed", prov["officer_id"]),
                       ("set_retention", "call_mismatch", prov["officer_id"]),
                       ("set_retention", "call_mismatch", prov["officer_id"]),
                       ("set_retention", "call_invalid", None)]


def test_admin_cli_sets_retention_and_shreds_at_a_given_time(conn, inspect, throwaway_db, monkeypatch, capsys,
                                                             report):
    monkeypatch.setenv("PELUIT_DB_NAME", throwaway_db)
    monkeypatch.setenv("PELUIT_DB_USER", "postgres")
    ref, case_id, _ = report(conn, "35.01")
    retention.record_case_closed(conn, case_id, NOW)
    assert admin.main(["set-retention", "--tenant", "35.01", "--years", "2"]) == 0
    assert admin.main(["shred-expired", "--now", (NOW + years(1)).isoformat()]) == 0
    assert state(inspect, ref)[2] is None
    assert admin.main(["shred-expired", "--now", (NOW + years(2) + timedelta(days=1)).isoformat()]) == 0
    assert "shredded 1 identities" in capsys.readouterr().out
    assert state(inspect, ref)[0] is None
    with pytest.raises(SystemExit):
        admin.main(["shred-expired", "--now", "2031-01-01T00:00:00"])  # no zone: refused
    assert "time zone" in capsys.readouterr().err
    assert admin.main(["set-retention", "--tenant", "35.01", "--years", "101"]) == 2  # the officers' RPC's rule too
    assert "1 to 100" in capsys.readouterr().err


def test_originals_are_shredded_with_their_case_and_a_late_upload_inherits_the_clock(conn, inspect, canaries):
    case_id = str(uuid4())

    def photo(case=case_id):
        original = b"\xff\xd8\xff\xe1Exif GPS -7.97,112.62 Artist=" + canaries.new().encode() + bytes(64)
        return evidence.store_original(conn, KEK, DEDUPE, case, "35.73", "image/jpeg", original)[0]

    ref, keep = photo(), photo(str(uuid4()))
    closed = NOW - timedelta(days=365 * 6)
    assert retention.record_case_closed(conn, case_id, closed.isoformat()) == 1
    assert retention.record_case_closed(conn, case_id, closed - timedelta(days=1)) == 0  # the latest closure wins
    late = photo()
    assert original_state(inspect, late)[3] == closed

    assert retention.shred_expired(conn, NOW)["evidence_original"] == 2
    for shredded in (ref, late):
        wrapped, ciphertext, shredded_at, _ = original_state(inspect, shredded)
        assert wrapped is None and bytes(ciphertext) == b"" and shredded_at == NOW
        with pytest.raises(records.Erased):
            evidence.read_original(conn, KEK, shredded)
    assert evidence.read_original(conn, KEK, keep) is not None
    assert retention.shred_expired(conn, NOW)["evidence_original"] == 0
    audits = inspect.execute("SELECT reporter_ref, detail FROM vault_audit WHERE action = 'evidence_original_shredded'"
                             " AND detail->>'case_id' = %s", (case_id,)).fetchall()
    assert sorted(a[1]["original_ref"] for a in audits) == sorted([ref, late])
    assert all(a[0] is None and a[1]["kek_id"] == KEK.current_id for a in audits)


def original_state(inspect, ref):
    return inspect.execute("SELECT wrapped_dek, ciphertext, shredded_at, case_closed_at FROM evidence_original "
                           "WHERE original_ref = %s", (ref,)).fetchone()


def test_privacy_no_identity_marker_anywhere_in_the_database(inspect, canaries):
    assert len(canaries.markers) >= 5
    canaries.assert_absent(inspect, {"reporter", "vault_audit", "retention_policy", "evidence_original"})
    assert inspect.execute("SELECT count(*) FROM vault_audit WHERE action = 'identity_shredded'").fetchone()[0]


def test_the_clock_starts_only_from_an_ending_cases_confirmed_at_the_time_cases_gives(conn, inspect, report):
    """A case.status_changed saying "selesai" is only a claim: a forged one (cases
    says the case is open, does not know it, or answers for another case) starts
    nothing and is recorded; a confirmed one starts the clock at cases' time."""
    ref, case_id, _ = report(conn)
    case = str(case_id)
    refused_before = inspect.execute("SELECT count(*) FROM vault_audit WHERE action = 'closure_refused'").fetchone()[0]
    for answer in (None, {"case_id": case, "status": "investigasi", "ended": False, "ended_at": None},
                   {"case_id": str(uuid4()), "status": "selesai", "ended": True, "ended_at": NOW.isoformat()}):
        assert retention.record_confirmed_closure(conn, case_id, answer, "selesai") is None
        assert state(inspect, ref)[3] is None
    refused = inspect.execute("SELECT detail FROM vault_audit WHERE action = 'closure_refused' "
                              "AND detail->>'case_id' = %s ORDER BY id", (case,)).fetchall()
    assert [r[0]["confirmed_status"] for r in refused] == [None, "investigasi", "selesai"]
    assert refused_before + 3 == inspect.execute(
        "SELECT count(*) FROM vault_audit WHERE action = 'closure_refused'").fetchone()[0]

    ended_at = NOW - timedelta(days=3)
    confirmed = {"case_id": case, "status": "selesai", "ended": True, "ended_at": ended_at.isoformat()}
    assert retention.record_confirmed_closure(conn, case_id, confirmed, "selesai") == 1
    assert state(inspect, ref)[3] == ended_at
