"""The officers' desk on the running services: the work queue (nearest
deadline first, filters, counts), the case page (what the officer may do now,
the open deadlines), a stale If-Match told what changed, and the catalogue
the console's forms choose from."""

from __future__ import annotations

import requests

from peluit_local.testing import admin_connect, eventually, new_case


def get(system, headers, path, **params):
    return requests.get(system.url("cases") + path, params=params, headers=headers, timeout=15)


def command(system, headers, case_id, name, body, version):
    return requests.post(f"{system.url('cases')}/api/v1/cases/{case_id}/{name}", json=body, timeout=15,
                         headers={**headers, "If-Match": f'"{version}"'})


def indexed_counts(system, tenant: str) -> dict:
    with admin_connect(system, "cases") as conn:
        return dict(conn.execute("SELECT status, count(*) FROM peluit.case_index WHERE handling_tenant = %s"
                                 " GROUP BY status", (tenant,)).fetchall())


def test_the_work_queue_sorts_filters_and_counts(system, login):
    first, _ = new_case(system)
    second, _ = new_case(system)
    sari = login("sari.penelaah")
    queue = get(system, sari, "/api/v1/cases", per_page=100)
    assert queue.status_code == 200, queue.text
    out = queue.json()
    assert {s: n for s, n in out["counts"].items() if n} == indexed_counts(system, "35.73")
    assert out["total"] == sum(out["counts"].values())
    due = [i["deadline"]["due_at"] for i in out["items"] if i["deadline"]]
    assert due == sorted(due) and all(i["deadline"] is None for i in out["items"][len(due):])  # nearest first
    mine = next(i for i in out["items"] if i["case_id"] == first)
    assert mine["channel"] == "web" and mine["deadline"]["rule"] == "first_response"
    assert mine["deadline"]["state"] in ("on_time", "approaching")  # three working days from today

    newest = get(system, sari, "/api/v1/cases", sort="registered").json()["items"][0]
    assert newest["case_id"] == second
    number = mine["registration_number"]
    assert [i["case_id"] for i in get(system, sari, "/api/v1/cases", number=number[-11:]).json()["items"]] == [first]
    waiting = get(system, sari, "/api/v1/cases", status="diterima", deadline="breached").json()
    assert first not in {i["case_id"] for i in waiting["items"]}
    assert waiting["total"] == waiting["counts"]["diterima"] and all(
        i["deadline"]["state"] == "breached" for i in waiting["items"])
    for wrong in ({"deadline": "terlambat"}, {"sort": "priority"}, {"channel": "fax"}):
        refused = get(system, sari, "/api/v1/cases", **wrong)
        assert refused.status_code == 400 and set(refused.json()["error"]["fields"]) == set(wrong), refused.text
    assert first not in {i["case_id"] for i in get(system, login("budi.kabmalang"), "/api/v1/cases").json()["items"]}

    # the follower moves the case's nearest deadline with its steps
    assert command(system, sari, first, "start-verification", {}, 1).status_code == 200

    def rule_now():
        items = get(system, sari, "/api/v1/cases", number=number[-11:]).json()["items"]
        return items[0]["deadline"]["rule"] == "verification" and items[0]

    assert eventually(rule_now), "the index follows the log"


def test_the_case_page_offers_what_the_officer_may_do_and_its_deadlines(system, login):
    case_id, _ = new_case(system)
    page = get(system, login("sari.penelaah"), f"/api/v1/cases/{case_id}")
    assert page.status_code == 200, page.text
    assert page.json()["allowed_commands"] == ["start-verification", "reject", "archive", "forward",
                                               "message-reporter", "add-note", "recuse", "escalate"]
    [deadline] = page.json()["deadlines"]
    assert deadline["rule"] == "first_response" and deadline["paused"] is False
    assert deadline["label"]["id"] and deadline["label"]["en"]
    assert get(system, login("tono.penerima"), f"/api/v1/cases/{case_id}").json()["allowed_commands"] == ["recuse"]
    inspektur = get(system, login("agus.inspektur"), f"/api/v1/cases/{case_id}").json()["allowed_commands"]
    assert "start-verification" in inspektur and "close" not in inspektur


def test_a_stale_version_is_told_what_changed(system, staff, login):
    case_id, _ = new_case(system)
    sari, agus = login("sari.penelaah"), login("agus.inspektur")
    assert command(system, sari, case_id, "start-verification", {}, 1).status_code == 200
    stale = command(system, agus, case_id, "add-note", {"text": "Catatan atas versi lama"}, 1)
    assert stale.status_code == 409 and stale.headers["ETag"] == '"2"'
    body = stale.json()
    assert body["error"]["code"] == "stale_version" and set(body["error"]["message"]) == {"id", "en"}
    assert body["current_version"] == 2
    assert [(c["kind"], c["status"], c["actor"]["officer_id"]) for c in body["changes"]] == [
        ("verification_started", "verifikasi", staff["sari.penelaah"]["id"])]
    assert get(system, agus, f"/api/v1/cases/{case_id}").headers["ETag"] == '"2"'  # nothing recorded
    assert command(system, agus, case_id, "add-note", {"text": "Catatan atas versi baru"}, 2).status_code == 200


def test_the_catalogue_lists_what_the_forms_choose_from(system, login):
    catalogue = get(system, login("sari.penelaah"), "/api/v1/catalogue")
    assert catalogue.status_code == 200, catalogue.text
    out = catalogue.json()
    assert {"code": "35.73", "name": "Inspektorat Kota Malang", "parent": "35"} in out["tenants"]
    assert {"korupsi", "pungli", "lainnya"} <= {c["code"] for c in out["categories"]}
    assert all(c["label_id"] and c["label_en"] for c in out["categories"])
    assert "kpk" in out["external_destinations"] and out["legal_bases"] == ["lpsk_protection", "proven_slander",
                                                                            "court_order"]
    assert "teguran_lisan" in out["sanctions"]["ringan"] and out["tukin_months"] == [6, 9, 12]
    assert "sanksi_disiplin" in out["recommendation_kinds"]
    assert "first_response" in {r["code"] for r in out["deadline_rules"]}
    assert {"code": "itjen_kemendagri", "only_for": "province_inspektorat_reported"}.items() <= next(
        b for b in out["external_bodies"] if b["code"] == "itjen_kemendagri").items()
    # every destination offered is one a forward accepts; one that does not exist is a 422 recording nothing
    case_id, _ = new_case(system)
    nowhere = command(system, login("sari.penelaah"), case_id, "forward", {
        "destination_kind": "tenant", "destination": "99.99", "reason": "Ke mana saja"}, 1)
    assert nowhere.status_code == 422 and nowhere.json()["error"]["code"] == "unknown_destination"
    assert set(nowhere.json()["error"]["message"]) == {"id", "en"}
    assert get(system, login("sari.penelaah"), f"/api/v1/cases/{case_id}").headers["ETag"] == '"1"'
    forwarded = command(system, login("sari.penelaah"), case_id, "forward", {
        "destination_kind": "external", "destination": out["external_destinations"][0],
        "reason": "Kewenangan instansi lain"}, 1)
    assert forwarded.status_code == 200, forwarded.text
    assert get(system, {}, "/api/v1/catalogue").status_code == 401
