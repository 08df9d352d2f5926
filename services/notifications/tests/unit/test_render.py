"""What an officer's mail says: both languages, the registration number, the
kind, the deadline and the console link; nothing else can get in, because
render only reads those columns."""

from __future__ import annotations

from datetime import datetime, timezone

from peluit_notifications.delivery import Backoff, build, message_id, render, SmtpSettings

ROW = {"id": 1, "event_id": "c:5:breached", "officer_id": "o-1", "kind": "deadline_breached",
       "address": "a@pemda.go.id", "registration_number": "WBS/35.73/2026/000007", "deadline_rule": "first_response",
       "deadline_due_at": datetime(2026, 3, 5, 10, 0, tzinfo=timezone.utc), "case_id": "c",
       "occurred_at": datetime(2026, 3, 5, tzinfo=timezone.utc), "attempts": 0, "items": None}


def test_a_mail_is_bilingual_with_number_kind_deadline_and_link():
    subject, body = render(ROW, "https://wbs.example.go.id")
    assert subject == "Batas waktu terlampaui / Deadline breached [WBS/35.73/2026/000007]"
    indonesian, english = body.split("\n---\n")
    assert "Batas waktu terlampaui: WBS/35.73/2026/000007 (batas waktu 2026-03-05 17:00 WIB, aturan first_response)" \
        in indonesian
    assert "Deadline breached: WBS/35.73/2026/000007 (deadline 2026-03-05 17:00 WIB, rule first_response)" in english
    assert "https://wbs.example.go.id/kasus/c" in indonesian and "https://wbs.example.go.id/kasus/c" in english


def test_a_digest_lists_a_line_per_item():
    items = [{"kind": "case_new", "registration_number": "WBS/35.73/2026/000001", "rule": None, "due_at": None},
             {"kind": "deadline_approaching", "registration_number": "WBS/35.73/2026/000002", "rule": "verification",
              "due_at": "2026-03-06T03:00:00+00:00"}]
    subject, body = render({**ROW, "kind": "digest", "items": items, "case_id": None, "registration_number": None},
                           "http://c")
    assert subject == "Ringkasan harian notifikasi / Daily digest of notifications"
    assert "New report received: WBS/35.73/2026/000001\n" in body
    assert "Deadline approaching: WBS/35.73/2026/000002 (deadline 2026-03-06 10:00 WIB, rule verification)" in body


def test_the_message_id_is_the_same_for_the_same_event_officer_and_channel():
    assert message_id(ROW) == message_id(dict(ROW)) != message_id({**ROW, "officer_id": "o-2"})
    msg = build(ROW, SmtpSettings("h", 25, "wbs@x.go.id"))
    assert msg["To"] == "a@pemda.go.id" and msg["Message-ID"] == message_id(ROW)


def test_back_off_doubles_up_to_its_cap():
    b = Backoff(base=2, cap=60, attempts=5)
    assert [b.delay(n).total_seconds() for n in (1, 2, 3, 4, 5, 6, 9)] == [2, 4, 8, 16, 32, 60, 60]


def test_the_dashboards_notification_panels_read_metrics_this_service_exports():
    import re
    from pathlib import Path

    from prometheus_client import REGISTRY

    dashboard = (Path(__file__).resolve().parents[4] / "deploy" / "grafana" / "peluit-dashboard.json").read_text()
    used = set(re.findall(r"peluit_notifications_(?:sent|failed|dead|delivery_lag_seconds|pending)\w*", dashboard))
    families = {m.name for m in REGISTRY.collect()}  # counters without _total, histograms without _bucket
    assert len(used) == 5 and {re.sub(r"_(total|bucket)$", "", name) for name in used} <= families
