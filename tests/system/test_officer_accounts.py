"""Officer accounts over HTTP against the running services: enrolment with a
one-time code (and a canary: the password, the TOTP secret and the code
appear nowhere they should not), codes that look alike in every refusal, and
sessions that end on the next request on cases, reporting and intake alike."""

from __future__ import annotations

import statistics
import time
import uuid

import pytest
import requests

from peluit_local.testing import (OFFICER_PASSWORD, admin_connect, direct_officer, enrol, hits_outside_the_vault,
                                  new_case, next_totp)

SESSION_CACHE = 1.1  # reporting and intake ask cases at most once a second per officer


def cases(system, path: str) -> str:
    return system.url("cases") + path


def invite(system, login, roles=("penelaah",), tenant="35.73", **extra) -> tuple[str, dict]:
    username = f"enrol.{uuid.uuid4().hex[:8]}"
    created = requests.post(cases(system, "/api/v1/officers"), headers=login("prov.admin"), timeout=10, json={
        "tenant": tenant, "username": username, "display_name": "Petugas Baru", "roles": list(roles), **extra})
    assert created.status_code == 201, created.text
    return username, created.json()


def test_enrolment_leaves_the_password_secret_and_code_nowhere(system, staff, login):
    username, created = invite(system, login, email="petugas.baru@inspektorat.malangkota.go.id")
    code = created["enrolment_code"]
    with admin_connect(system, "cases") as conn:
        code_hash = conn.execute("SELECT enrolment_code_hash FROM peluit.officer WHERE id = %s",
                                 (created["officer_id"],)).fetchone()[0]
    password = f"sandi-rahasia-{uuid.uuid4().hex[:12]}"
    officer = enrol(system, username, code, password=password)
    replies = officer["replies"][1:]  # the first step's reply is the one place the secret may be
    signed_in = requests.post(cases(system, "/api/v1/officer/login"), timeout=10, json={
        "username": username, "password": password, "totp": next_totp(officer)})
    assert signed_in.status_code == 200, signed_in.text
    headers = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    for path in ("/api/v1/officer/me", "/api/v1/officers?per_page=100", "/api/v1/admin-changes?per_page=100"):
        who = login("prov.admin") if "admin" in path else headers
        reply = requests.get(cases(system, path), headers=who, timeout=10)
        assert reply.status_code == 200, reply.text
        replies.append(reply.content)
    me = requests.get(cases(system, "/api/v1/officer/me"), headers=headers, timeout=10).json()
    assert me["email"] == "petugas.baru@inspektorat.malangkota.go.id" and me["enrolled_at"]
    refreshed = requests.post(cases(system, "/api/v1/officer/token"), headers=headers, timeout=10)
    assert refreshed.status_code == 200 and refreshed.json()["token"] != signed_in.json()["token"]
    # reporting asks cases over the broker about this officer's session
    assert requests.get(system.url("reporting") + "/api/v1/stats", headers=headers, timeout=10).status_code == 200
    replies += [signed_in.content, refreshed.content]
    with admin_connect(system, "cases") as conn:
        password_hash = conn.execute("SELECT password_hash FROM peluit.officer WHERE id = %s",
                                     (officer["id"],)).fetchone()[0]
    needles = [password, officer["secret"], code, code_hash, password_hash]
    hits = hits_outside_the_vault(system, needles, replies=b"\n".join(replies),
                                  except_columns={"cases": {"officer": ["password_hash", "totp_secret_enc"]}})
    assert hits == []


def test_every_bad_code_gets_the_same_answer_in_about_the_same_time(system, staff, login):
    url = cases(system, "/api/v1/officer/enrolment")
    used_name, used = invite(system, login)
    enrol(system, used_name, used["enrolment_code"])
    expired_name, expired = invite(system, login)
    with admin_connect(system, "cases") as conn:
        conn.execute("UPDATE peluit.officer SET enrolment_expires_at = now() - interval '1 second' WHERE id = %s",
                     (expired["officer_id"],))
    waiting_name, waiting = invite(system, login)
    attempts = {
        "used": {"username": used_name, "enrolment_code": used["enrolment_code"]},
        "expired": {"username": expired_name, "enrolment_code": expired["enrolment_code"]},
        "wrong": {"username": waiting_name, "enrolment_code": "".join(reversed(waiting["enrolment_code"]))},
        "unknown": {"username": f"tidak.ada.{uuid.uuid4().hex[:6]}", "enrolment_code": waiting["enrolment_code"]},
        "other's": {"username": used_name, "enrolment_code": waiting["enrolment_code"]},
    }
    answers = {name: requests.post(url, json=body, timeout=10) for name, body in attempts.items()}
    assert {(r.status_code, r.content) for r in answers.values()} == {(401, answers["used"].content)}
    assert answers["used"].json()["error"]["code"] == "invalid_enrolment"
    # timing: an unknown user costs what a known one with a wrong code costs (medians of a few tries each)
    known_name, known = invite(system, login)
    times: dict[str, list[float]] = {"known": [], "unknown": []}
    for _ in range(4):  # below the lockout: every try is a full check
        for kind, name in (("known", known_name), ("unknown", f"tidak.ada.{uuid.uuid4().hex[:6]}")):
            started = time.perf_counter()
            reply = requests.post(url, json={"username": name, "enrolment_code": "A" * 20}, timeout=10)
            times[kind].append(time.perf_counter() - started)
            assert reply.status_code == 401 and reply.content == answers["used"].content
    assert abs(statistics.median(times["known"]) - statistics.median(times["unknown"])) < 0.05, times
    # the account that was tried four times still enrols with its code
    enrol(system, known_name, known["enrolment_code"])


def _reachable(system, headers) -> dict[str, int]:
    """What the three services answer this token (intake: an empty body, so nothing is recorded)."""
    return {
        "cases": requests.get(cases(system, "/api/v1/officer/me"), headers=headers, timeout=10).status_code,
        "reporting": requests.get(system.url("reporting") + "/api/v1/stats", headers=headers, timeout=10).status_code,
        "intake": requests.post(system.url("intake") + "/api/v1/assisted-reports", json={}, headers=headers,
                                timeout=10).status_code,
    }


def _ended(system, headers) -> None:
    time.sleep(SESSION_CACHE)
    replies = [requests.get(cases(system, "/api/v1/cases"), headers=headers, timeout=10),
               requests.get(system.url("reporting") + "/api/v1/stats", headers=headers, timeout=10),
               requests.post(system.url("intake") + "/api/v1/assisted-reports", json={}, headers=headers, timeout=10)]
    for reply in replies:
        assert reply.status_code == 401, reply.text
        error = reply.json()["error"]
        assert error["code"] == "session_ended" and error["message"]["id"] and error["message"]["en"]


def _logout(system, login, officer):
    assert requests.post(cases(system, "/api/v1/officer/logout"), headers=officer["headers"],
                         timeout=10).status_code == 204


def _deactivate(system, login, officer):
    assert requests.post(cases(system, f"/api/v1/officers/{officer['id']}/deactivate"), headers=login("prov.admin"),
                         timeout=10).json()["active"] is False


def _roles(system, login, officer):
    out = requests.post(cases(system, f"/api/v1/officers/{officer['id']}/roles"), headers=login("prov.admin"),
                        json={"roles": ["penelaah"]}, timeout=10)
    assert out.status_code == 200 and out.json()["roles"] == ["penelaah"], out.text


def _reset(system, login, officer):
    out = requests.post(cases(system, f"/api/v1/officers/{officer['id']}/reset-factor"), headers=login("prov.admin"),
                        timeout=10)
    assert out.status_code == 200 and out.json()["enrolled"] is False and len(out.json()["enrolment_code"]) == 20


def _password(system, login, officer):
    out = requests.post(cases(system, "/api/v1/officer/password"), headers=officer["headers"], timeout=20, json={
        "current_password": OFFICER_PASSWORD, "new_password": OFFICER_PASSWORD + "-baru",
        "totp": next_totp(officer)})
    assert out.status_code == 200, out.text
    # the new token is the one live session: it works where the old one ends
    time.sleep(SESSION_CACHE)
    assert _reachable(system, {"Authorization": f"Bearer {out.json()['token']}"}) == {
        "cases": 200, "reporting": 200, "intake": 400}


@pytest.mark.parametrize("change", [_logout, _deactivate, _roles, _reset, _password],
                         ids=["logout", "deactivation", "role change", "factor reset", "password change"])
def test_a_change_ends_the_session_on_the_next_request_everywhere(system, staff, login, change):
    officer = direct_officer(system, "35.73", ["penelaah", "penerima"], prefix="sesi")
    assert _reachable(system, officer["headers"]) == {"cases": 200, "reporting": 200, "intake": 400}
    change(system, login, officer)
    _ended(system, officer["headers"])
    # and no refresh brings it back
    refresh = requests.post(cases(system, "/api/v1/officer/token"), headers=officer["headers"], timeout=10)
    assert refresh.status_code == 401 and refresh.json()["error"]["code"] == "session_ended"


def test_a_wrong_password_change_changes_nothing(system, staff, login):
    officer = direct_officer(system, "35.73", ["penelaah"], prefix="sandi")
    url = cases(system, "/api/v1/officer/password")
    wrong = requests.post(url, headers=officer["headers"], timeout=20, json={
        "current_password": "salah-sama-sekali", "new_password": OFFICER_PASSWORD + "-baru",
        "totp": next_totp(officer)})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "reauthentication_failed"
    weak = requests.post(url, headers=officer["headers"], timeout=20, json={
        "current_password": OFFICER_PASSWORD, "new_password": officer["username"], "totp": "123456"})
    assert weak.status_code == 400 and set(weak.json()["error"]["fields"]) == {"new_password"}
    assert requests.get(cases(system, "/api/v1/officer/me"), headers=officer["headers"], timeout=10).status_code == 200


def test_a_deactivated_or_unenrolled_officer_cannot_sign_in(system, staff, login):
    username, created = invite(system, login)
    url = cases(system, "/api/v1/officer/login")
    not_yet = requests.post(url, json={"username": username, "password": OFFICER_PASSWORD, "totp": "123456"},
                            timeout=10)
    officer = direct_officer(system, "35.73", ["penelaah"], prefix="nonaktif")
    _deactivate(system, login, officer)
    off = requests.post(url, timeout=10, json={"username": officer["username"], "password": OFFICER_PASSWORD,
                                               "totp": next_totp(officer)})
    unknown = requests.post(url, json={"username": "tidak.ada", "password": OFFICER_PASSWORD, "totp": "123456"},
                            timeout=10)
    assert not_yet.status_code == off.status_code == unknown.status_code == 401
    assert not_yet.content == off.content == unknown.content
    back = requests.post(cases(system, f"/api/v1/officers/{officer['id']}/reactivate"), headers=login("prov.admin"),
                         timeout=10)
    assert back.status_code == 200 and back.json()["active"] is True
    again = requests.post(url, timeout=10, json={"username": officer["username"], "password": OFFICER_PASSWORD,
                                                 "totp": next_totp(officer)})
    assert again.status_code == 200, again.text


def test_the_team_picker_shows_names_and_roles_only(system, staff, login):
    case_id, _ = new_case(system)  # a live system: the picker is what the case page offers
    assert case_id
    picker = requests.get(cases(system, "/api/v1/officers"), params={"role": "investigator", "per_page": 100},
                          headers=login("agus.inspektur"), timeout=10)
    assert picker.status_code == 200, picker.text
    items = picker.json()["items"]
    assert staff["dewi.irban"]["id"] in {i["id"] for i in items}
    assert all(set(i) == {"id", "username", "display_name", "roles"} and "investigator" in i["roles"] for i in items)
    assert staff["budi.kabmalang"]["id"] not in {i["id"] for i in items}  # another tenant
    other = requests.get(cases(system, "/api/v1/officers"), params={"tenant": "35.07"},
                         headers=login("agus.inspektur"), timeout=10)
    assert other.status_code == 403
