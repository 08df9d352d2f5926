"""The Inspektorat workflow on the aggregate: in memory, no broker, no HTTP."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from eventsourcing.persistence import StoredEvent

from peluit_cases.domain import Case, DomainError

from ..support import DUE, INSPEKTUR, IRBAN, NOW, PENELAAH, _hex, command, memory_app, run


@pytest.fixture
def app():
    return memory_app()


@pytest.fixture
def case_id(app):
    return app.register_report(command(1), now=NOW).case_id


def test_full_lifecycle_records_who_when_and_why(app, case_id):
    run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "accept", PENELAAH, note="Lengkap 5W+1H, berkadar pengawasan")
    run(app, case_id, "start_investigation", INSPEKTUR, team=["o-irban"], plan="Klarifikasi dan audit dokumen",
        due_on=DUE)
    run(app, case_id, "record_findings", IRBAN, outcome="terbukti", summary="Pemotongan terbukti",
        recommendations=[
            {"kind": "sanksi_disiplin", "sanction": {"level": "sedang", "type": "pemotongan_tukin_25_persen",
                                                     "months": 9}},
            {"kind": "pemulihan_kerugian", "amount": 45_000_000, "details": "TGR atas potongan dana hibah"},
        ])
    case = app.get_case(case_id)
    assert case.status == "tindak_lanjut"
    assert case.recommendations[0]["sanction"] == {"level": "sedang", "type": "pemotongan_tukin_25_persen",
                                                   "months": 9, "catalogue": "pp94-2021/1"}
    with pytest.raises(DomainError, match="follow_up_open"):
        run(app, case_id, "close", INSPEKTUR, reason="Selesai", feedback="Terima kasih")
    run(app, case_id, "complete_recommendation", INSPEKTUR, recommendation_id="R1", note="SK PPK terbit")
    run(app, case_id, "complete_recommendation", INSPEKTUR, recommendation_id="R2", note="Disetor ke kas daerah")
    run(app, case_id, "close", INSPEKTUR, reason="Tindak lanjut tuntas",
        feedback="Laporan Anda terbukti dan telah ditindaklanjuti.")
    case = app.get_case(case_id)
    assert case.status == "selesai"
    _, history, _ = app.transcript(case_id)
    kinds = [h["kind"] for h in history]
    assert kinds == ["registered", "verification_started", "accepted", "investigation_started", "findings_recorded",
                     "recommendation_completed", "recommendation_completed", "closed"]
    assert all(h["actor"] for h in history)
    assert history[-1]["reason"] == "Tindak lanjut tuntas"
    assert history[-1]["actor"]["officer_id"] == "o-inspektur"
    # timestamps are the events' own, in order
    times = [datetime.fromisoformat(h["at"]) for h in history]
    assert times == sorted(times) and len(set(times)) == len(times)
    # the reporter sees statuses and the feedback, not who did what
    view = app.reporter_view(_hex("rcpt-1"))
    assert [t["status"] for t in view["timeline"]][-1] == "selesai"
    assert view["messages"][-1]["kind"] == "feedback"
    assert "o-inspektur" not in repr(view) and "agus" not in repr(view)


@pytest.mark.parametrize("cmd,args", [
    ("accept", {}),
    ("start_investigation", {"team": ["o-irban"], "plan": "x", "due_on": DUE}),
    ("record_findings", {"outcome": "terbukti", "summary": "x", "recommendations": []}),
    ("close", {"reason": "x", "feedback": "y"}),
    ("request_information", {"question": "Kapan?", "due_on": DUE}),
])
def test_illegal_transitions_are_refused_and_record_nothing(app, case_id, cmd, args):
    before = app.get_case(case_id).version
    with pytest.raises(DomainError) as err:
        run(app, case_id, cmd, INSPEKTUR, **args)
    assert err.value.code == "illegal_transition"
    assert app.get_case(case_id).version == before


@pytest.mark.parametrize("cmd,args", [
    ("reject", {"reason": "  "}),
    ("archive", {"reason": ""}),
    ("forward", {"destination_kind": "external", "destination": "kpk", "reason": None}),
])
def test_reason_is_mandatory(app, case_id, cmd, args):
    run(app, case_id, "start_verification", PENELAAH)
    with pytest.raises(DomainError, match="reason_required"):
        run(app, case_id, cmd, PENELAAH, **args)


def test_information_request_and_answer_through_the_dialogue(app, case_id):
    run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "request_information", PENELAAH, question="Mohon sebutkan tanggal pencairan.", due_on=DUE)
    assert app.get_case(case_id).status == "menunggu_informasi"
    view = app.reporter_view(_hex("rcpt-1"))
    assert view["messages"][-1] == {**view["messages"][-1], "from": "inspektorat", "kind": "question",
                                    "due_on": "2026-12-07"}
    app.reporter_writes(_hex("rcpt-1"), "Pencairan tanggal 12 Oktober 2026.")
    case = app.get_case(case_id)
    assert case.status == "verifikasi" and case.information_due is None
    assert [m["from"] for m in app.transcript(case_id)[2]] == ["inspektorat", "pelapor"]
    # a reporter message outside a request is simply part of the dialogue
    app.reporter_writes(_hex("rcpt-1"), "Ada bukti kuitansi.")
    assert app.get_case(case_id).status == "verifikasi"


def test_forward_to_another_tenant_continues_there_external_ends_here(app, case_id):
    run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "forward", PENELAAH, destination_kind="tenant", destination="35.07",
        reason="Lokusnya di Kabupaten Malang")
    case = app.get_case(case_id)
    assert (case.tenant, case.handling_tenant, case.status) == ("35.73", "35.07", "diterima")
    other = app.register_report(command(2), now=NOW).case_id
    run(app, other, "forward", PENELAAH, destination_kind="external", destination="kpk", reason="Kewenangan KPK")
    assert app.get_case(other).status == "dilimpahkan"
    with pytest.raises(DomainError, match="invalid_destination"):
        run(app, case_id, "forward", PENELAAH, destination_kind="external", destination="dukun", reason="x")


@pytest.mark.parametrize("rec,code", [
    ({"kind": "sanksi_disiplin", "sanction": {"level": "ringan", "type": "pemberhentian_dengan_hormat"}},
     "invalid_sanction"),
    ({"kind": "sanksi_disiplin", "sanction": {"level": "sedang", "type": "pemotongan_tukin_25_persen",
                                              "months": 7}}, "invalid_sanction"),
    ({"kind": "pemulihan_kerugian", "amount": -5, "details": "x"}, "invalid_recommendation"),
    ({"kind": "hukuman_mati"}, "invalid_recommendation"),
])
def test_recommendations_follow_pp_94_2021(app, case_id, rec, code):
    for cmd, actor, args in [("start_verification", PENELAAH, {}), ("accept", PENELAAH, {}),
                             ("start_investigation", INSPEKTUR, {"team": ["o-irban"], "plan": "p", "due_on": DUE})]:
        run(app, case_id, cmd, actor, **args)
    with pytest.raises(DomainError, match=code):
        run(app, case_id, "record_findings", IRBAN, outcome="terbukti", summary="s", recommendations=[rec])


def test_not_proven_has_no_recommendations_and_closes_from_findings(app, case_id):
    for cmd, actor, args in [("start_verification", PENELAAH, {}), ("accept", PENELAAH, {}),
                             ("start_investigation", INSPEKTUR, {"team": ["o-irban"], "plan": "p", "due_on": DUE})]:
        run(app, case_id, cmd, actor, **args)
    with pytest.raises(DomainError, match="recommendations_need_proof"):
        run(app, case_id, "record_findings", IRBAN, outcome="tidak_terbukti", summary="s",
            recommendations=[{"kind": "perbaikan_administrasi", "details": "SOP"}])
    run(app, case_id, "record_findings", IRBAN, outcome="tidak_terbukti", summary="Tidak cukup bukti",
        recommendations=[])
    assert app.get_case(case_id).status == "hasil"
    run(app, case_id, "close", INSPEKTUR, reason="Tidak terbukti", feedback="Laporan tidak terbukti.")


def test_a_recused_officer_can_no_longer_act(app, case_id):
    run(app, case_id, "recuse", PENELAAH, reason="Terlapor adalah atasan langsung saya")
    with pytest.raises(DomainError, match="officer_recused"):
        run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "start_verification", INSPEKTUR)


def test_stale_expected_version_is_refused(app, case_id):
    version = app.get_case(case_id).version
    app.execute(case_id, version, "add_note", PENELAAH, text="catatan 1")
    with pytest.raises(DomainError, match="stale_version"):
        app.execute(case_id, version, "add_note", INSPEKTUR, text="catatan 2")
    assert app.get_case(case_id).version == version + 1


def test_internal_notes_and_escalation_are_not_shown_to_the_reporter(app, case_id):
    run(app, case_id, "add_note", PENELAAH, text="Terlapor pejabat Inspektorat sendiri")
    run(app, case_id, "escalate", PENELAAH, to_tenant="35", reason="Terlapor di Inspektorat Kota Malang")
    assert app.get_case(case_id).handling_tenant == "35"
    view = app.reporter_view(_hex("rcpt-1"))
    assert "Terlapor" not in repr(view)
    assert [t["status"] for t in view["timeline"]] == ["diterima"]


def test_long_cases_load_from_snapshots_that_do_not_grow(app, case_id):
    sizes = []
    for n in range(250):
        run(app, case_id, "add_note", PENELAAH, text=f"catatan panjang nomor {n} " * 5)
        if (n + 2) % 50 == 0:
            snapshot = next(iter(app.snapshots.get(case_id, desc=True, limit=1)))
            sizes.append(len(json.dumps(snapshot.state, default=str)))
    assert len(sizes) == 5 and app.get_case(case_id).version == 251
    # notes live in the events, not in the snapshotted state
    assert max(sizes) - min(sizes) < 200, sizes
    assert len(app.transcript(case_id)[1]) == 251


def test_v1_registered_events_are_upcast_on_read(app):
    """A Registered event stored before ``assisted_by`` existed still loads."""
    import json
    import uuid

    case_id = uuid.uuid4()
    state = {"submission_id": _hex("old"), "fingerprint": _hex("fp"), "tenant": "35.78",
             "registration_number": "WBS/35.78/2025/000007", "category": "pungli", "channel": "web",
             "report": {"what": "Pungutan liar di loket", "where": "Kecamatan", "when": "2025"},
             "reporter_ref": None, "anonymous": True, "originator_topic": "peluit_cases.domain:Case",
             "timestamp": {"_type_": "datetime_iso", "_data_": "2025-06-01T02:00:00+00:00"}}
    app.recorder.insert_events([StoredEvent(
        originator_id=case_id, originator_version=1, topic="peluit_cases.domain:Case.Registered",
        state=json.dumps(state).encode())])
    case: Case = app.repository.get(case_id)
    assert case.assisted_by is None and case.registration_number == "WBS/35.78/2025/000007"
    assert case.source is None  # v3's partner source, upcast from v1 through v2
    assert case.status == "diterima"
    assert case.created_on == datetime(2025, 6, 1, 2, 0, tzinfo=timezone.utc)


def test_a_partner_report_keeps_its_source(app):
    cmd = {**command(11), "channel": "integration", "source": {"system": "lapor-3573", "source_id": "L-1"}}
    case = app.get_case(app.register_report(cmd, now=NOW).case_id)
    assert case.channel == "integration" and case.source == {"system": "lapor-3573", "source_id": "L-1"}
    assert app.get_case(app.register_report(command(12), now=NOW).case_id).source is None


def test_a_partner_case_tells_its_partner_each_status_and_others_tell_nobody(app):
    from peluit_contracts.events import load_envelope

    cmd = {**command(13), "channel": "integration", "source": {"system": "lapor-3573", "source_id": "L-2"}}
    case_id = app.register_report(cmd, now=NOW).case_id
    run(app, case_id, "start_verification", PENELAAH)
    run(app, case_id, "add_note", PENELAAH, text="catatan")  # no status change: nothing to tell
    other = app.register_report(command(14), now=NOW).case_id
    run(app, other, "start_verification", PENELAAH)
    told = [load_envelope(e) for e in app.domain_events(after=0, limit=100)["events"]
            if e["type"] == "report.status_changed"]
    assert [(e["data"]["source_id"], e["data"]["status"]) for e in told] == [("L-2", "diterima"), ("L-2", "verifikasi")]
    assert told[0]["data"]["source_system"] == "lapor-3573" and told[0]["data"]["case_id"] == case_id


def test_a_report_against_the_inspektorat_itself_goes_to_the_province(app):
    cmd = command(9)
    cmd["report"] = {**cmd["report"], "terlapor_inspektorat": True}
    case, history, _ = app.transcript(app.register_report(cmd, now=NOW, escalate_to="35").case_id)
    assert (case.tenant, case.handling_tenant) == ("35.73", "35")
    assert history[-1]["kind"] == "escalated" and history[-1]["actor"] == {"id": "system"}
    plain = app.get_case(app.register_report(command(10), now=NOW, escalate_to="35").case_id)
    assert plain.handling_tenant == "35.73"


def test_case_state_confirms_an_ending_to_the_vault_and_nothing_else(app, case_id):
    """``cases.case_state``: the vault starts a retention clock only on this answer."""
    assert app.case_state(str(case_id)) == {"case_id": str(case_id), "status": "diterima", "ended": False,
                                            "ended_at": None}
    assert app.case_state("00000000-0000-4000-8000-000000000000") is None
    assert app.case_state("not a uuid") is None
    run(app, case_id, "reject", PENELAAH, reason="Bukan pengaduan")
    state = app.case_state(case_id)
    case = app.get_case(case_id)
    assert (state["status"], state["ended"]) == ("ditolak", True)
    assert datetime.fromisoformat(state["ended_at"]) == case.modified_on
