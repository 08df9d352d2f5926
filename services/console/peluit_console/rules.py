"""What the console offers an officer: the menu, and the commands a case
page shows as forms. The APIs decide every request; the case document's
``allowed_commands`` (cases applies its workflow rules) says which forms to show.
"""

from __future__ import annotations

# the order forms appear in on the case page
ORDER = ("start-verification", "request-information", "accept", "start-investigation", "record-findings",
         "complete-recommendation", "close", "forward", "reject", "archive", "escalate", "message-reporter",
         "add-note", "recuse")


def allowed_commands(case: dict) -> list[str]:
    """The commands to show as forms, in page order: what the officer API says this
    officer may give now (the workflow rules live in cases only); nothing if it says nothing."""
    if case.get("as_of"):
        return []  # a case as of a moment is read only
    given = case.get("allowed_commands")
    return [name for name in ORDER if name in given] if isinstance(given, list) else []


# -- the menu ------------------------------------------------------------------------------

STATS_ROLES = frozenset({"inspektur", "penelaah", "tenant_admin", "province_admin"})
PROVINCE_ROLES = frozenset({"inspektur", "province_admin"})
ADMINS = frozenset({"tenant_admin", "province_admin"})

# (path, text key, roles (None: everyone), province officers only)
MENU = (
    ("/antrean", "nav_queue", None, False),
    ("/pemberitahuan", "nav_inbox", None, False),
    ("/laporan-langsung", "nav_assisted", frozenset({"penerima"}), False),
    ("/statistik", "nav_stats", STATS_ROLES, False),
    ("/statistik/provinsi", "nav_province", PROVINCE_ROLES, True),
    ("/pengungkapan", "nav_disclosure", frozenset({"inspektur", "investigator", "auditor"}), False),
    ("/pengungkapan/log", "nav_disclosure_log", frozenset({"inspektur", "auditor"}), False),
    ("/admin/petugas", "nav_officers", ADMINS, False),
    ("/admin/hibah-audit", "nav_grants", frozenset({"province_admin", "auditor"}), False),
    ("/admin/pengaturan", "nav_settings", ADMINS, False),
    ("/admin/log", "nav_admin_log", ADMINS | {"auditor"}, False),
    ("/akun/kata-sandi", "nav_password", None, False),
)


def navigation(officer) -> list[tuple[str, str]]:
    """(path, text key) of the menu entries this officer may use."""
    out = []
    for path, key, roles, province in MENU:
        if roles is not None and not set(officer.roles) & roles:
            continue
        if province and "." in officer.tenant:
            continue
        out.append((path, key))
    return out
