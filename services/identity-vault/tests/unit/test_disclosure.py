"""Disclosure under dual control: the aggregate's rules and the application on
eventsourcing's in-memory store (explicit clock), for an identity and for an
evidence original; events stored before the layer split; and the RPC
handlers with real officer tokens checked by ``OfficerAuth`` (step-up claims,
one-time step-up, the record sealed to the requester's key only)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from nacl.public import PrivateKey, SealedBox

from peluit_contracts.disclosure import DISCLOSURE_RPC_VERSION
from peluit_vault import records
from peluit_vault.disclosure import rpc as handlers
from peluit_vault.disclosure.application import DisclosureApplication
from peluit_vault.disclosure.domain import OLD_MODULE, DisclosureRegister, DisclosureRequest, DomainError, StepUpUse

from ..support import AGUS, AGUS2, BOTH, BUDI, CASE, DEWI, ORIGINAL, REF, SARI, T0, approve, cmd, file, officer

NEW_MODULE = "peluit_vault.disclosure.domain"


def refused(code: str, fn, *args, **kwargs):
    with pytest.raises(DomainError) as info:
        fn(*args, **kwargs)
    assert info.value.code == code
    return info.value


def kinds(app, request_id) -> list[str]:
    return [type(e).__name__ for e in app.events.get(request_id)]


def attempts(app, request_id) -> list[tuple[str, str, str]]:
    return [(e.by["username"], e.action, e.code) for e in app.events.get(request_id)
            if isinstance(e, DisclosureRequest.AttemptRefused)]


def reveal(ref: str) -> bytes:
    assert ref == REF
    return b"sealed:" + ref.encode()


# -- the aggregate's rules --------------------------------------------------------

def test_full_path_request_approve_view_once(app):
    req = file(app)
    assert req.status == "pending" and req.expires_at == T0 + timedelta(hours=72)
    approved = approve(app, req, now=T0 + timedelta(hours=2))
    assert approved.status == "approved" and approved.view_until == T0 + timedelta(hours=2, minutes=30)
    assert app.view(req.id, DEWI, reveal, now=T0 + timedelta(hours=2, minutes=10)) == b"sealed:" + REF.encode()
    assert app.get_request(req.id).status == "viewed"
    refused("already_viewed", app.view, req.id, DEWI, reveal, now=T0 + timedelta(hours=2, minutes=11))
    assert kinds(app, req.id) == ["Requested", "Approved", "Viewed", "AttemptRefused"]
    assert attempts(app, req.id) == [("dewi", "view", "already_viewed")]


def test_only_an_investigator_or_inspektur_of_the_cases_tenant_may_request_and_refusals_are_kept(app):
    refused("not_investigator", file, app, by=SARI)
    refused("not_investigator", file, app, by=officer("auditor", "35.73", "auditor", "tenant_admin"))
    refused("other_tenant", file, app, by=officer("irban", "35.07", "investigator"))
    refused("anonymous", file, app, reporter_ref=None)
    refused("invalid_legal_basis", file, app, legal_basis="curiosity")
    refused("reason_required", file, app, reason="   ")
    register = app.repository.get(DisclosureRegister.create_id("35.73"))
    assert register.request_ids == []  # nothing was filed
    trail = app.trail("35.73", now=T0)
    assert [(e["type"], e["by"]["username"], e["action"], e["code"]) for e in trail] == [
        ("attempt_refused", "sari", "request", "not_investigator"),
        ("attempt_refused", "auditor", "request", "not_investigator"),
        ("attempt_refused", "irban", "request", "other_tenant"),
        ("attempt_refused", "dewi", "request", "anonymous"),
        ("attempt_refused", "dewi", "request", "invalid_legal_basis"),
        ("attempt_refused", "dewi", "request", "reason_required"),
    ]


def test_self_approval_is_refused_even_with_both_roles(app):
    req = file(app, by=BOTH)
    refused("self_approval", approve, app, req, by=BOTH)
    refused("self_approval", app.refuse, req.id, BOTH, "menarik sendiri", now=T0)
    assert app.get_request(req.id).status == "pending"
    assert attempts(app, req.id) == [("kepala", "approve", "self_approval"), ("kepala", "refuse", "self_approval")]


def test_approval_from_another_tenant_or_without_the_role_is_refused(app):
    req = file(app)
    refused("other_tenant", approve, app, req, by=BUDI)
    refused("other_tenant", app.refuse, req.id, BUDI, "bukan urusan", now=T0)
    refused("not_inspektur", approve, app, req, by=SARI)
    refused("not_inspektur", approve, app, req, by=officer("irban2", "35.73", "investigator"))
    assert app.get_request(req.id).status == "pending"
    assert [a[2] for a in attempts(app, req.id)] == ["other_tenant", "other_tenant", "not_inspektur", "not_inspektur"]


def test_approval_without_step_up_is_refused(app):
    req = file(app)
    refused("step_up_required", approve, app, req, step_up=False)
    assert app.get_request(req.id).status == "pending"
    assert attempts(app, req.id) == [("agus", "approve", "step_up_required")]
    assert approve(app, req).status == "approved"


def test_a_step_up_token_approves_once(app):
    first, second = file(app), file(app)
    approve(app, first, token_id="jti-1")
    refused("step_up_reused", approve, app, second, token_id="jti-1")
    assert app.get_request(second.id).status == "pending"
    assert approve(app, second, token_id="jti-2").status == "approved"


def test_an_expired_request_cannot_be_approved_and_its_expiry_is_an_event(app):
    req = file(app)
    refused("expired", approve, app, req, now=T0 + timedelta(hours=72))
    assert app.get_request(req.id).status == "expired"
    refused("expired", approve, app, req, by=AGUS2, now=T0 + timedelta(hours=80))
    refused("expired", app.refuse, req.id, AGUS, "terlambat", now=T0 + timedelta(hours=80))
    refused("expired", app.view, req.id, DEWI, reveal, now=T0 + timedelta(hours=81))
    assert kinds(app, req.id) == ["Requested", "Expired", "AttemptRefused", "AttemptRefused", "AttemptRefused",
                                  "AttemptRefused"]
    expired = [e for e in app.events.get(req.id) if isinstance(e, DisclosureRequest.Expired)]
    assert expired[0].stage == "pending" and expired[0].deadline == T0 + timedelta(hours=72)


def test_just_before_the_deadline_still_counts(app):
    req = file(app)
    assert approve(app, req, now=T0 + timedelta(hours=72) - timedelta(seconds=1)).status == "approved"


def test_view_without_approval_is_refused(app):
    req = file(app)
    refused("not_approved", app.view, req.id, DEWI, lambda ref: pytest.fail("must not reveal"), now=T0)
    app.refuse(req.id, AGUS, "Dasar hukum tidak memadai", now=T0 + timedelta(minutes=5))
    refused("refused", app.view, req.id, DEWI, lambda ref: pytest.fail("must not reveal"), now=T0)
    refused("already_decided", approve, app, req, by=AGUS2)
    assert attempts(app, req.id) == [("dewi", "view", "not_approved"), ("dewi", "view", "refused"),
                                     ("agus2", "approve", "already_decided")]


def test_second_decision_is_refused(app):
    req = file(app)
    approve(app, req)
    refused("already_decided", approve, app, req, by=AGUS2)
    refused("already_decided", app.refuse, req.id, AGUS2, "terlambat", now=T0)


def test_view_after_the_view_window_is_refused(app):
    req = file(app)
    approve(app, req, now=T0 + timedelta(hours=1))
    refused("view_window_closed", app.view, req.id, DEWI, lambda ref: pytest.fail("must not reveal"),
            now=T0 + timedelta(hours=1, minutes=30))
    refused("expired", app.view, req.id, DEWI, reveal, now=T0 + timedelta(hours=1, minutes=31))
    expired = [e for e in app.events.get(req.id) if isinstance(e, DisclosureRequest.Expired)]
    assert len(expired) == 1 and expired[0].stage == "approved"


def test_view_by_someone_else_is_refused(app):
    req = file(app)
    approve(app, req)
    never = lambda ref: pytest.fail("must not reveal")  # noqa: E731
    refused("not_requester", app.view, req.id, AGUS, never, now=T0 + timedelta(hours=1))
    refused("not_requester", app.view, req.id, officer("dewi-lain", "35.73", "investigator"), never,
            now=T0 + timedelta(hours=1))
    moved = {**DEWI, "tenant": "35.07"}  # same officer id, token of another tenant
    refused("other_tenant", app.view, req.id, moved, never, now=T0 + timedelta(hours=1))
    assert app.get_request(req.id).status == "approved"
    assert app.view(req.id, DEWI, reveal, now=T0 + timedelta(hours=1, minutes=1))


def test_an_erased_identity_is_not_viewed_and_the_view_stays_unused(app):
    req = file(app)
    approve(app, req)

    def gone(ref):
        raise DomainError("erased")

    refused("erased", app.view, req.id, DEWI, gone, now=T0 + timedelta(hours=1))
    assert app.get_request(req.id).status == "approved"
    assert attempts(app, req.id) == [("dewi", "view", "erased")]


def test_unknown_request_is_not_found(app):
    refused("not_found", app.view, uuid4(), DEWI, reveal, now=T0)
    refused("not_found", approve, app, SimpleNamespace(id=uuid4()))


def test_trail_lists_every_event_without_reporter_ref_and_marks_overdue_requests(app):
    done = file(app)
    approve(app, done, now=T0 + timedelta(hours=1))
    app.view(done.id, DEWI, reveal, now=T0 + timedelta(hours=1, minutes=5))
    refused("self_approval", approve, app, done, by=DEWI, now=T0 + timedelta(hours=2))
    forgotten = file(app, now=T0 + timedelta(hours=2))
    file(app, tenant="35.07", by=officer("irban", "35.07", "investigator"))
    trail = app.trail("35.73", now=T0 + timedelta(days=4))
    assert {e["request_id"] for e in trail} == {str(done.id), str(forgotten.id)}
    assert [e["type"] for e in trail if e["request_id"] == str(done.id)] == [
        "requested", "approved", "viewed", "attempt_refused"]
    assert [e["type"] for e in trail if e["request_id"] == str(forgotten.id)] == ["requested", "expired"]
    assert all(e["case_id"] == CASE for e in trail)
    requested = next(e for e in trail if e["type"] == "requested")
    assert requested["legal_basis"] == "lpsk_protection" and requested["reason"]
    assert REF not in json.dumps(trail) and "reporter_ref" not in json.dumps(trail)
    # the expiry was recorded once; listing again adds nothing
    assert app.trail("35.73", now=T0 + timedelta(days=5)) == trail


def as_stored_before_the_split(app, aggregate_id) -> list:
    """The aggregate's stored events as the vault wrote them while the classes
    lived in ``peluit_vault.disclosure`` (one module, before the layer split)."""
    out = []
    for stored in app.recorder.select_events(aggregate_id):
        state = app.mapper.transcoder.decode(stored.state)
        if "originator_topic" in state:
            state["originator_topic"] = state["originator_topic"].replace(NEW_MODULE, OLD_MODULE)
        out.append(type(stored)(originator_id=stored.originator_id, originator_version=stored.originator_version,
                                topic=stored.topic.replace(NEW_MODULE, OLD_MODULE),
                                state=app.mapper.transcoder.encode(state)))
    assert out and all(s.topic.startswith(OLD_MODULE + ":") for s in out)
    return out


def test_events_stored_under_the_old_module_path_still_load(app):
    req = file(app)
    approve(app, req, token_id="jti-old")
    refused("self_approval", approve, app, req, by=DEWI)
    register_id = DisclosureRegister.create_id("35.73")
    step_up_id = StepUpUse.create_id("jti-old")
    upgraded = DisclosureApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, request_hours=72,
                                     view_minutes=30)
    for aggregate_id in (req.id, register_id, step_up_id):
        upgraded.recorder.insert_events(as_stored_before_the_split(app, aggregate_id))
    loaded = upgraded.get_request(req.id)
    assert type(loaded) is DisclosureRequest and loaded.status == "approved" and loaded.reporter_ref == REF
    assert attempts(upgraded, req.id) == [("dewi", "approve", "self_approval")]
    assert upgraded.repository.get(register_id).request_ids == [str(req.id)]
    assert upgraded.trail("35.73", now=T0 + timedelta(hours=2)) == app.trail("35.73", now=T0 + timedelta(hours=2))
    refused("step_up_reused", approve, upgraded, file(upgraded), token_id="jti-old")


# -- a request for an evidence original ----------------------------------------

def file_evidence(app, owner=CASE, **overrides):
    args = dict(case_id=CASE, reporter_ref=None, tenant="35.73", reason="Perintah pengadilan nomor 12/2026",
                legal_basis="court_order", now=T0, subject="evidence", original_ref=ORIGINAL, original_case_id=owner)
    args.update(overrides)
    return app.request(DEWI, **args)


def test_an_original_is_disclosed_only_within_its_case_and_after_approval(app):
    for owner in (None, str(uuid4())):
        with pytest.raises(DomainError) as err:
            file_evidence(app, owner=owner)
        assert err.value.code == "unknown_original"
    with pytest.raises(DomainError) as err:
        file_evidence(app, subject="something")
    assert err.value.code == "invalid_subject"

    req = file_evidence(app)  # anonymous reports have originals too: no reporter_ref needed
    assert (req.subject, req.original_ref, req.reporter_ref) == ("evidence", ORIGINAL, None)
    never = lambda ref: pytest.fail("must not reveal")  # noqa: E731
    with pytest.raises(DomainError) as err:
        app.view(req.id, DEWI, never, reveal_original=never, now=T0 + timedelta(minutes=1))
    assert err.value.code == "not_approved"
    app.approve(req.id, AGUS, step_up=True, step_up_token_id=uuid4().hex, now=T0 + timedelta(hours=1))
    seen = []
    out = app.view(req.id, DEWI, never, reveal_original=lambda ref: seen.append(ref) or b"sealed-original",
                   now=T0 + timedelta(hours=1, minutes=5))
    assert out == b"sealed-original" and seen == [ORIGINAL]
    trail = app.trail("35.73", now=T0 + timedelta(hours=2))
    requested = next(e for e in trail if e["type"] == "requested" and e["request_id"] == str(req.id))
    assert requested["subject"] == "evidence" and requested["original_ref"] == ORIGINAL
    assert [e["type"] for e in trail if e["request_id"] == str(req.id)] == [
        "requested", "attempt_refused", "approved", "viewed"]


def test_an_identity_is_requested_only_under_the_case_it_was_registered_for(app, rpc):
    """The insider's move: a reporter_ref the vault holds for one case, named
    under another case (one the requester works on). Refused and recorded."""
    other_case = str(uuid4())
    for owner in (other_case, None):  # another case's reporter; a reporter_ref the vault does not know
        with pytest.raises(DomainError) as err:
            file(app, reporter_case_id=owner)
        assert err.value.code == "reporter_not_in_case"
    refused = handlers.request_disclosure(app, rpc.auth, rpc.call(
        DEWI, "request_disclosure", case_id=CASE, reporter_ref=REF, tenant="35.73",
        reason="Permohonan perlindungan LPSK", legal_basis="lpsk_protection"), reporter_case={REF: other_case}.get)
    assert refused == {"error": "reporter_not_in_case"}
    trail = app.trail("35.73", now=T0 + timedelta(minutes=1))
    attempts = [e for e in trail if e["type"] == "attempt_refused" and e.get("code") == "reporter_not_in_case"]
    assert len(attempts) == 3 and {e["case_id"] for e in attempts} == {CASE}
    assert not [e for e in trail if e["type"] == "requested"] and REF not in json.dumps(trail)


def test_identity_requests_are_unchanged_and_old_events_upcast_to_identity(app):
    req = app.request(DEWI, case_id=CASE, reporter_ref=REF, tenant="35.73", reason="Permohonan LPSK nomor 1",
                      legal_basis="lpsk_protection", now=T0, reporter_case_id=CASE)
    assert (req.subject, req.original_ref) == ("identity", None)
    # a Requested event stored before v2 (no subject, no original_ref) reads as an identity request
    [stored] = [s for s in app.recorder.select_events(req.id) if s.topic.endswith("DisclosureRequest.Requested")]
    state = app.mapper.transcoder.decode(stored.state)
    assert state.pop("class_version") == 3
    del state["subject"], state["original_ref"], state["approvals_required"], state["requester_controllers"]
    old = type(stored)(originator_id=stored.originator_id, originator_version=stored.originator_version,
                       topic=stored.topic, state=app.mapper.transcoder.encode(state))
    event = app.mapper.to_domain_event(old)
    assert isinstance(event, DisclosureRequest.Requested)
    assert (event.subject, event.original_ref, event.reporter_ref) == ("identity", None, REF)
    # and before v3: one approval, nobody's controllers known
    assert (event.approvals_required, event.requester_controllers) == (1, [])


# -- the RPC handlers with real tokens ----------------------------------------------

def test_a_vault_call_is_bound_to_its_command_taken_once_and_every_refusal_is_kept(rpc, app):
    filed = handlers.request_disclosure(app, rpc.auth, rpc.call(
        DEWI, "request_disclosure", case_id=CASE, reporter_ref=REF, tenant="35.73",
        reason="Permohonan perlindungan LPSK", legal_basis="lpsk_protection"), reporter_case={REF: CASE}.get)
    rid = filed["request_id"]
    signed = rpc.call(AGUS, "approve_disclosure", step_up=True, request_id=rid)
    # altered: another request id under the same token; the token of one RPC on another
    assert handlers.approve_disclosure(app, rpc.auth, {**signed, "request_id": str(uuid4())}) == {
        "error": "call_mismatch"}
    view = rpc.call(DEWI, "view_disclosure", request_id=rid, public_key=base64.b64encode(bytes(32)).decode())
    assert handlers.approve_disclosure(app, rpc.auth, {"version": 1, "token": view["token"], "request_id": rid}) == {
        "error": "call_mismatch"}
    # forged: a token signed with another key, or no token at all
    from nacl.signing import SigningKey

    from peluit_common.vault_call import VaultCallSigner

    forged = VaultCallSigner(bytes(SigningKey.generate())).sign("approve_disclosure", {"version": 1, "request_id": rid},
                                                                AGUS, step_up=True)
    assert handlers.approve_disclosure(app, rpc.auth, forged) == {"error": "call_invalid"}
    assert handlers.approve_disclosure(app, rpc.auth, cmd(token="x.y.z", request_id=rid)) == {"error": "call_invalid"}
    assert app.get_request(UUID(rid)).status == "pending"  # none of them reached the request
    assert handlers.approve_disclosure(app, rpc.auth, signed)["status"] == "approved"
    # replayed: the very call that worked
    assert handlers.approve_disclosure(app, rpc.auth, signed) == {"error": "call_replayed"}
    assert [(a, c, o) for a, c, o in rpc.refused] == [
        ("approve_disclosure", "call_mismatch", AGUS["officer_id"]),
        ("approve_disclosure", "call_mismatch", DEWI["officer_id"]),
        ("approve_disclosure", "call_invalid", None), ("approve_disclosure", "call_invalid", None),
        ("approve_disclosure", "call_replayed", AGUS["officer_id"])]


def test_a_late_call_is_refused():
    from datetime import timedelta as td

    from nacl.signing import SigningKey

    from peluit_common.vault_call import VaultCallError, VaultCallSigner, VaultCallVerifier

    key = SigningKey.generate()
    late = VaultCallSigner(bytes(key)).sign("list_disclosures", {"version": 1, "tenant": "35.73"}, AGUS,
                                            now=datetime.now(timezone.utc) - td(seconds=90))
    with pytest.raises(VaultCallError) as err:
        VaultCallVerifier(bytes(key.verify_key), lambda *a: True).verify("list_disclosures", late)
    assert err.value.code == "call_expired"
    with pytest.raises(ValueError):
        VaultCallSigner(bytes(key)).sign("list_disclosures", {}, AGUS, ttl_seconds=61)


def test_rpc_flow_seals_the_identity_to_the_requesters_key_only(rpc, app):
    identity = json.dumps({"name": "Budi Santoso", "nik": "3573012345678901"}).encode()
    filed = handlers.request_disclosure(app, rpc.auth, rpc.call(
        DEWI, "request_disclosure", case_id=CASE, reporter_ref=REF, tenant="35.73",
        reason="Permohonan perlindungan LPSK", legal_basis="lpsk_protection"), reporter_case={REF: CASE}.get)
    assert filed["status"] == "pending" and "reporter_ref" not in filed and REF not in json.dumps(filed)
    rid = filed["request_id"]

    assert handlers.approve_disclosure(app, rpc.auth, rpc.call(AGUS, "approve_disclosure", request_id=rid)) == {
        "error": "step_up_required"}
    assert handlers.approve_disclosure(app, rpc.auth, cmd(token="x.y.z", request_id=rid)) == {"error": "call_invalid"}
    approved = handlers.approve_disclosure(app, rpc.auth, rpc.call(AGUS, "approve_disclosure", step_up=True, request_id=rid))
    assert approved["status"] == "approved"

    client = PrivateKey.generate()
    public_key = base64.b64encode(bytes(client.public_key)).decode()
    seen = []

    def read(ref):
        seen.append(ref)
        return identity

    assert handlers.view_disclosure(app, rpc.auth, rpc.call(AGUS, "view_disclosure", request_id=rid, public_key=public_key),
                                      read) == {"error": "not_requester"}
    out = handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", request_id=rid, public_key=public_key),
                                   read)
    assert seen == [REF]
    assert identity not in json.dumps(out).encode() and b"Budi" not in json.dumps(out).encode()
    assert SealedBox(client).decrypt(base64.b64decode(out["sealed_identity"])) == identity
    again = handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", request_id=rid, public_key=public_key),
                                       read)
    assert again == {"error": "already_viewed"} and seen == [REF]


def test_rpc_view_of_an_erased_identity(rpc, app):
    # the RPC path reads the wall clock, so the request is filed now, not at T0
    now = datetime.now(timezone.utc)
    req = file(app, now=now)
    approve(app, req, now=now)

    def shredded(ref):
        raise records.Erased()

    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    out = handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", request_id=str(req.id), public_key=key),
                                     shredded)
    assert out == {"error": "erased"}


def test_rpc_refuses_malformed_commands_and_bad_keys(rpc, app):
    assert handlers.request_disclosure(app, rpc.auth, {"version": 1}) == {"error": "invalid_command"}
    assert handlers.request_disclosure(app, rpc.auth, None) == {"error": "invalid_command"}
    zero = base64.b64encode(bytes(32)).decode()
    short = base64.b64encode(bytes(range(1, 17))).decode()
    for key in (zero, short, "not base64!"):
        assert handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", request_id=str(uuid4()),
                                                         public_key=key), reveal) == {"error": "invalid_command"}


def test_rpc_event_list_is_for_inspektur_of_the_tenant_and_auditors(rpc, app):
    file(app, now=datetime.now(timezone.utc))  # the RPC path reads the wall clock
    auditor = officer("rina", "35", "auditor")
    assert handlers.disclosure_events(app, rpc.auth, rpc.call(DEWI, "disclosure_events", tenant="35.73")) == {
        "error": "forbidden"}
    assert handlers.disclosure_events(app, rpc.auth, rpc.call(BUDI, "disclosure_events", tenant="35.73")) == {
        "error": "forbidden"}
    own = handlers.disclosure_events(app, rpc.auth, rpc.call(AGUS, "disclosure_events", tenant="35.73"))
    audited = handlers.disclosure_events(app, rpc.auth, rpc.call(auditor, "disclosure_events", tenant="35.73"))
    assert [e["type"] for e in own["events"]] == ["requested"] and audited == own
    assert REF not in json.dumps(own)


def test_rpc_flow_seals_the_original_to_the_requesters_key(rpc, app):
    original = b"\xff\xd8\xff\xe1Exif GPS -7.97,112.62 Artist=Canary" + uuid4().hex.encode()
    owners = {ORIGINAL: CASE}
    base = {"version": DISCLOSURE_RPC_VERSION, "case_id": CASE, "tenant": "35.73",
            "reason": "Perintah pengadilan nomor 12/2026", "legal_basis": "court_order"}
    wrong = handlers.request_disclosure(app, rpc.auth, rpc.call(DEWI, "request_disclosure", base, subject="evidence",
                                                               original_ref="p" * 32), original_case=owners.get)
    assert wrong == {"error": "unknown_original"}
    filed = handlers.request_disclosure(app, rpc.auth, rpc.call(DEWI, "request_disclosure", base, subject="evidence",
                                                               original_ref=ORIGINAL), original_case=owners.get)
    assert filed["status"] == "pending" and filed["subject"] == "evidence" and filed["original_ref"] == ORIGINAL
    rid = filed["request_id"]
    approved = handlers.approve_disclosure(app, rpc.auth, rpc.call(AGUS, "approve_disclosure", step_up=True,
                                                                  request_id=rid))
    assert approved["status"] == "approved"
    client = PrivateKey.generate()
    key = base64.b64encode(bytes(client.public_key)).decode()

    def no_identity(ref):
        pytest.fail("an evidence request must not read the identity")

    out = handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", request_id=rid,
                                                          public_key=key), no_identity,
                                     read_original=lambda ref: original if ref == ORIGINAL else None,
                                     read_original_name=lambda ref: "Laporan_Canary_1987.jpg")
    assert set(out) == {"request_id", "subject", "original_ref", "sealed_original", "sealed_name"}
    assert original not in json.dumps(out).encode() and b"Canary" not in json.dumps(out).encode()
    assert SealedBox(client).decrypt(base64.b64decode(out["sealed_original"])) == original
    assert SealedBox(client).decrypt(base64.b64decode(out["sealed_name"])) == b"Laporan_Canary_1987.jpg"


def test_rpc_view_of_a_shredded_original(rpc, app):
    now = datetime.now(timezone.utc)  # the RPC path reads the wall clock, so not T0
    req = file_evidence(app, now=now)
    app.approve(req.id, AGUS, step_up=True, step_up_token_id=uuid4().hex, now=now)

    def shredded(ref):
        raise records.Erased()

    key = base64.b64encode(bytes(PrivateKey.generate().public_key)).decode()
    out = handlers.view_disclosure(app, rpc.auth, rpc.call(DEWI, "view_disclosure", request_id=str(req.id),
                                                          public_key=key), shredded, read_original=shredded)
    assert out == {"error": "original_erased"}
