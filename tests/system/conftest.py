"""System-test harness: the six services as real ``nameko run`` processes on
their own databases (prefix ``pt<random>``), their own RabbitMQ vhost and
their own ports, with the broker's firehose tapped from the first message on.
Logs are kept under ``test-artifacts/`` for inspection."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psycopg
import pyotp
import pytest
import requests

from peluit_cases import officers
from peluit_local import bootstrap
from peluit_local.testing import admin_connect, running_system

PASSWORD = "kata-sandi-yang-panjang-sekali"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def system():
    with running_system() as sys_:
        yield sys_


@pytest.fixture(scope="session")
def staff(system):
    """Officers in two kota and the province, created as the cases role would."""
    totp_key = bytes.fromhex((system.keys_dir / "cases" / "officer-totp.key").read_text().strip())
    people = {}
    with psycopg.connect(bootstrap.admin_dsn(system.dbname("cases"))) as conn:
        conn.execute("SET search_path = peluit")
        for name, tenant, roles in [
            ("sari.penelaah", "35.73", ["penelaah"]), ("agus.inspektur", "35.73", ["inspektur"]),
            ("dewi.irban", "35.73", ["investigator"]), ("budi.kabmalang", "35.07", ["inspektur"]),
            ("rina.auditor", "35", ["auditor"]), ("prov.admin", "35", ["province_admin", "inspektur"]),
            ("tono.penerima", "35.73", ["penerima"]), ("yuni.auditor", "35", ["auditor"]),
            # disclosure: a second inspektur, and one officer holding both sides of dual control
            ("wati.inspektur", "35.73", ["inspektur"]), ("hadi.kepala", "35.73", ["investigator", "inspektur"]),
        ]:
            officer_id, secret = officers.create_officer(
                conn, totp_key, tenant=tenant, username=f"{name}.{uuid.uuid4().hex[:6]}", display_name=name,
                password=PASSWORD, roles=roles)
            people[name] = {"id": str(officer_id), "secret": secret}
        conn.commit()
    return people


_LAST_STEP: dict[str, int] = {}


def _fresh_code(staff, name: str) -> str:
    """A one-time code the server will take: it accepts the current 30 s step
    ±1 and only a step later than the officer's last, so every code of the
    session (logins and step-ups alike) takes the next step, waiting if needed."""
    while True:
        now = int(time.time()) // 30
        step = max(now, _LAST_STEP.get(name, now - 1) + 1)
        if step <= now + 1:
            _LAST_STEP[name] = step
            return pyotp.TOTP(staff[name]["secret"]).at(step * 30)
        time.sleep(1)


@pytest.fixture(scope="session")
def totp_for_another_process(staff):
    """(secret, first step) for code that another process computes (the browser steps), and
    ``done(name, last_step)`` to say which steps it used, so later codes here come after them."""
    def reserve(name: str) -> tuple[str, int]:
        _fresh_code(staff, name)
        return staff[name]["secret"], _LAST_STEP[name]

    def done(name: str, step: int) -> None:
        _LAST_STEP[name] = max(step, _LAST_STEP.get(name, step))

    return reserve, done


@pytest.fixture(scope="session")
def fresh_totp(staff):
    """fresh_totp(name) -> a code for one of the ``staff`` the server has not seen."""
    return lambda name: _fresh_code(staff, name)


def username_of(system, staff, name) -> str:
    person = staff[name]
    if "username" not in person:
        with admin_connect(system, "cases") as conn:
            person["username"] = conn.execute("SELECT username FROM peluit.officer WHERE id = %s",
                                              (person["id"],)).fetchone()[0]
    return person["username"]


def _login(system, staff, name) -> dict:
    """A bearer header; usernames are looked up from the officer id."""
    person = staff[name]
    # a sign-out elsewhere in the session (the console's, an account test) ends every token of the officer
    if "headers" in person and requests.get(system.url("cases") + "/api/v1/officer/me", headers=person["headers"],
                                            timeout=10).status_code == 200:
        return person["headers"]
    username = username_of(system, staff, name)
    resp = requests.post(system.url("cases") + "/api/v1/officer/login", timeout=10, json={
        "username": username, "password": PASSWORD, "totp": _fresh_code(staff, name)})
    assert resp.status_code == 200, resp.text
    person["headers"] = {"Authorization": f"Bearer {resp.json()['token']}"}
    return person["headers"]


@pytest.fixture(scope="session")
def login(system, staff):
    """login(name) -> Authorization header for one of the ``staff``."""
    return lambda name: _login(system, staff, name)


def _console_login(system, staff, name) -> requests.Session:
    """A browser-like session signed in to the console through its own form."""
    import re

    browser = requests.Session()
    form = browser.get(system.url("console") + "/masuk", timeout=10)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    resp = browser.post(system.url("console") + "/masuk", timeout=15, headers={"Sec-Fetch-Site": "same-origin"}, data={
        "csrf": token, "username": username_of(system, staff, name), "password": PASSWORD,
        "totp": _fresh_code(staff, name)})
    assert resp.status_code == 200 and resp.url.split("?")[0].endswith("/antrean"), resp.text[:2000]
    return browser


@pytest.fixture(scope="session")
def usernames(system, staff):
    """usernames(name) -> the username of one of the ``staff``."""
    return lambda name: username_of(system, staff, name)


@pytest.fixture(scope="session")
def console_login(system, staff):
    """console_login(name) -> a requests.Session signed in to the console as one of the ``staff``."""
    return lambda name: _console_login(system, staff, name)
