"""The notification list, marking read, the choice per kind, the menu's
unread count and the administrator's e-mail form, over a fake officer API
that keeps state and answers (and checks what it is sent) as its contract
says (peluit_contracts.notify, officer_accounts)."""

from __future__ import annotations

import pytest

from peluit_contracts import notify
from peluit_contracts import officer_accounts as accounts

from .conftest import CASE_ID, OFFICER_ID, text_of
from .replies import AUDITOR_ID, officer_item, valid

INBOX = "/api/v1/officer/me/inbox"
PREFS = "/api/v1/officer/me/notifications"
REPORT_TEXT = "Dana hibah dipotong 20% oleh pejabat dinas"


class FakeInbox:
    """The officer's notifications and choices as cases would keep them; every body sent is
    loaded with the request schema first (a console bug is a test failure, not a 400)."""

    def __init__(self, transport, n: int = 3):
        self.items = [valid(notify.InboxItem, {
            "id": i, "kind": "deadline_breached" if i == 2 else "case_new",
            "registration_number": f"WBS/35.73/2026/00000{i}", "case_id": CASE_ID,
            "deadline_rule": "first_response" if i == 2 else None,
            "deadline_due_at": "2026-12-03T01:00:00+00:00" if i == 2 else None,
            "occurred_at": f"2026-12-0{i}T02:00:00+00:00", "read": False}) for i in range(1, n + 1)]
        self.modes: dict = {}
        self.asked = 0
        transport.routes[("GET", INBOX)] = self.inbox
        transport.routes[("POST", INBOX + "/read")] = self.read
        transport.routes[("GET", PREFS)] = lambda params, body: self.preferences()
        transport.routes[("POST", PREFS)] = self.change
        transport.routes[("GET", "/api/v1/officer/me")] = valid(accounts.Me, {
            "id": OFFICER_ID, "tenant": "35.73", "username": "sari.penelaah", "display_name": "Sari",
            "roles": ["penelaah"], "email": "sari@malangkota.go.id", "enrolled_at": "2026-12-01T01:00:00+00:00"})

    def unread(self) -> int:
        return sum(not i["read"] for i in self.items)

    def inbox(self, params, body):
        self.asked += 1
        page = notify.InboxPage().load({k: v for k, v in params.items() if v is not None})
        items = sorted(self.items, key=lambda i: -i["id"])
        items = [i for i in items if (not page["unread"] or not i["read"])
                 and (page["before"] is None or i["id"] < page["before"])][:page["limit"]]
        return valid(notify.Inbox, {"items": items, "unread": self.unread()})

    def read(self, params, body):
        change = notify.ReadChange().load(body)
        for i in self.items:
            if change["all"] or i["id"] in change["ids"]:
                i["read"] = True
        return valid(notify.Unread, {"unread": self.unread()})

    def preferences(self):
        return valid(notify.PreferencesReply, {"default_mode": "immediately", "preferences": [
            {"kind": k, "mode": notify.effective_mode(self.modes, k), "can_switch_off": k not in notify.ALWAYS_ON}
            for k in notify.KINDS]})

    def change(self, params, body):
        changes = notify.PreferencesChange().load(body)["preferences"]
        off = [k for k, m in changes.items() if m == "off" and k in notify.ALWAYS_ON]
        if off:
            return 400, {"error": {"code": "invalid", "message": {"id": "Periksa isian", "en": "Check the entry"},
                                   "fields": {f"preferences.{k}": [{"id": "Pilihan tidak dikenal",
                                                                    "en": "Unknown choice"}] for k in off}}}
        self.modes.update(changes)
        return self.preferences()


@pytest.fixture
def fake(transport):
    return FakeInbox(transport)


def test_the_list_shows_newest_first_with_read_state_in_words_and_links_to_the_case(signed_in, fake):
    browser = signed_in()
    page = browser.get("/pemberitahuan")
    assert page.status_code == 200
    words = text_of(page.text)
    assert words.index("WBS/35.73/2026/000003") < words.index("WBS/35.73/2026/000002") < \
        words.index("WBS/35.73/2026/000001")
    assert words.count("belum dibaca") >= 3 and "Tenggat terlewati" in words and "first_response" in words
    assert f'href="/kasus/{CASE_ID}?lang=id"' in page.text
    assert "(3 belum dibaca)" in words  # the menu, in words
    assert REPORT_TEXT not in page.text and "<script" not in page.text
    english = browser.get("/pemberitahuan?lang=en")
    assert "unread" in text_of(english.text) and "Deadline breached" in english.text


def test_marking_one_then_all_read_clears_the_menus_count(signed_in, fake, transport):
    browser = signed_in()
    page = browser.get("/pemberitahuan")
    one = browser.post("/pemberitahuan/baca", {"csrf": browser.csrf(page.text), "id": "2"})
    assert one.status_code == 303 and "marked=1" in one.headers["Location"]
    assert [i["read"] for i in fake.items] == [False, True, False]
    after = browser.get("/pemberitahuan?marked=1")
    assert "(2 belum dibaca)" in text_of(after.text) and "Ditandai sudah dibaca" in after.text
    browser.post("/pemberitahuan/baca", {"csrf": browser.csrf(page.text), "all": "1"})
    assert fake.unread() == 0
    queue = browser.get("/pemberitahuan")
    assert "belum dibaca)" not in text_of(queue.text) and "Tidak ada pemberitahuan yang belum dibaca" in queue.text
    sent = [c[4] for c in transport.calls if c[1] == INBOX + "/read"]
    assert sent == [{"ids": [2]}, {"all": True}]


def test_marking_read_needs_the_sessions_form_token_and_a_sane_id(signed_in, fake, transport):
    browser = signed_in()
    forged = browser.post("/pemberitahuan/baca", {"csrf": "forged", "all": "1"})
    cross = browser.post("/pemberitahuan/baca", {"csrf": browser.csrf(browser.get("/pemberitahuan").text),
                                                "all": "1"}, headers={"Sec-Fetch-Site": "cross-site"})
    bad = browser.post("/pemberitahuan/baca", {"csrf": browser.csrf(browser.get("/pemberitahuan").text),
                                              "id": "satu"})
    assert forged.status_code == 403 and cross.status_code == 403 and bad.status_code == 400
    assert fake.unread() == 3 and not [c for c in transport.calls if c[1] == INBOX + "/read"]


def test_the_menus_count_is_one_call_per_officer_and_a_few_seconds(signed_in, fake, transport, clock):
    browser = signed_in()
    transport.routes[("GET", "/api/v1/cases")] = {"items": [], "page": 1, "per_page": 25, "total": 0}
    fake.asked = 0
    for _ in range(3):
        assert "(3 belum dibaca)" in text_of(browser.get("/antrean").text)
    assert fake.asked == 1
    fake.items[0]["read"] = True  # read elsewhere (another console, the API)
    clock.now += 6
    assert "(2 belum dibaca)" in text_of(browser.get("/antrean").text) and fake.asked == 2


def test_without_the_notifications_service_every_page_still_works_without_a_count(signed_in, transport):
    transport.routes[("GET", INBOX)] = (503, {"error": {"code": "notifications_unavailable", "message": {
        "id": "Daftar notifikasi sedang tidak dapat dibuka", "en": "cannot be opened"}}})
    transport.routes[("GET", "/api/v1/cases")] = {"items": [], "page": 1, "per_page": 25, "total": 0}
    browser = signed_in()
    queue = browser.get("/antrean")
    assert queue.status_code == 200 and "belum dibaca)" not in text_of(queue.text)
    assert browser.get("/pemberitahuan").status_code == 503


def test_the_choices_per_kind_save_and_a_breach_stays_on_with_its_reason(signed_in, fake, transport):
    browser = signed_in()
    page = browser.get("/pemberitahuan/pengaturan")
    assert page.status_code == 200 and "sari@malangkota.go.id" in page.text
    assert 'type="radio" id="f-preferences-case_new-digest" name="preferences.case_new" value="digest"' in page.text
    assert 'name="preferences.deadline_breached"' not in page.text  # no choice to offer
    assert "Tenggat yang terlewati tidak dapat dimatikan" in page.text
    saved = browser.post("/pemberitahuan/pengaturan", {
        "csrf": browser.csrf(page.text), "preferences.case_new": "digest", "preferences.reporter_wrote": "off",
        "preferences.deadline_breached": "off"})  # a forged radio for a breach is not sent at all
    assert saved.status_code == 200 and "Pilihan pemberitahuan Anda tersimpan" in saved.text
    assert fake.modes == {"case_new": "digest", "reporter_wrote": "off"}
    assert 'value="digest" checked' in saved.text


def test_a_bad_choice_is_shown_beside_its_kind_in_both_languages_with_the_entry_kept(signed_in, fake, transport):
    browser = signed_in()
    page = browser.get("/pemberitahuan/pengaturan?lang=en")
    bad = browser.post("/pemberitahuan/pengaturan", {
        "csrf": browser.csrf(page.text), "lang": "en", "preferences.case_new": "hourly",
        "preferences.team_assigned": "digest"})
    assert bad.status_code == 400 and 'id="f-preferences-case_new-error"' in bad.text
    assert "Choose one: immediately, in the daily digest, or off." in bad.text
    assert 'href="#f-preferences-case_new"' in bad.text  # the summary links to the group
    assert 'id="f-preferences-team_assigned-digest" name="preferences.team_assigned" value="digest" checked' in \
        bad.text
    assert fake.modes == {} and not [c for c in transport.calls if c[0] == "POST" and c[1] == PREFS]
    indonesian = browser.post("/pemberitahuan/pengaturan", {"csrf": browser.csrf(page.text),
                                                            "preferences.case_new": "x"})
    assert "Pilih salah satu: segera" in indonesian.text


def test_the_apis_refusal_lands_beside_its_kind(signed_in, fake, transport):
    browser = signed_in()
    page = browser.get("/pemberitahuan/pengaturan")
    transport.routes[("POST", PREFS)] = lambda params, body: (400, {"error": {
        "code": "invalid", "message": {"id": "Periksa isian", "en": "Check"},
        "fields": {"preferences.case_new": [{"id": "Pilihan tidak dikenal", "en": "Unknown choice"}]}}})
    out = browser.post("/pemberitahuan/pengaturan", {"csrf": browser.csrf(page.text),
                                                     "preferences.case_new": "digest"})
    assert out.status_code == 400 and 'id="f-preferences-case_new-error"' in out.text
    assert "Pilihan tidak dikenal" in out.text and 'value="digest" checked' in out.text


def test_an_administrator_sets_and_removes_an_officers_address(browser, transport, officer_login):
    on = browser
    transport.routes[("POST", "/api/v1/officer/login")] = officer_login(roles=("tenant_admin",))
    on.post("/masuk", {"csrf": on.csrf(on.get("/masuk").text), "username": "sari", "password": "x" * 12,
                       "totp": "123456"})
    transport.routes[("GET", "/api/v1/officers")] = {"items": [officer_item()], "page": 1, "per_page": 25,
                                                     "total": 1}
    seen = []

    def set_email(params, body):
        seen.append(notify.EmailChange().load(body))
        return valid(accounts.AdministeredOfficer, officer_item(email=body["email"]))

    path = f"/admin/petugas/{AUDITOR_ID}/email"
    transport.routes[("POST", f"/api/v1/officers/{AUDITOR_ID}/email")] = set_email
    page = on.get("/admin/petugas")
    assert f'action="{path}?lang=id"' in page.text
    bad = on.post(path, {"csrf": on.csrf(page.text), "email": "bukan alamat"})
    assert bad.status_code == 400 and "bukan alamat" in bad.text and "<details open>" in bad.text and not seen
    assert f'id="f-o-{AUDITOR_ID}-email-error"' in bad.text
    done = on.post(path, {"csrf": on.csrf(page.text), "email": "rina@jatimprov.go.id"})
    assert done.status_code == 200 and "Alamat e-mail rina.auditor tersimpan" in done.text
    on.post(path, {"csrf": on.csrf(page.text), "email": ""})
    assert seen == [{"email": "rina@jatimprov.go.id"}, {"email": None}]
    transport.routes[("POST", f"/api/v1/officers/{AUDITOR_ID}/email")] = (403, {"error": {
        "code": "forbidden", "message": {"id": "Bukan akun Anda sendiri", "en": "Not your own account"}}})
    own = on.post(path + "?lang=en", {"csrf": on.csrf(page.text), "lang": "en", "email": "saya@jatimprov.go.id"})
    assert own.status_code == 403 and "Not your own account" in own.text
