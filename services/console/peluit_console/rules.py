"""What the console offers an officer: the menu, and the commands a case
page shows as forms. The APIs decide every request; these rules only keep
the pages from offering what would be refused.

The case document's ``allowed_commands`` (when cases sends it) is the
answer; until then ``allowed_commands`` derives it from the officer's roles
and the case's status with the one table below, which mirrors the workflow
of the cases service (docs/domain.md).
"""

from __future__ import annotations

TERMINAL = frozenset({"dilimpahkan", "ditolak", "diarsipkan", "selesai"})
REVIEWERS = frozenset({"penelaah", "inspektur"})
HANDLERS = frozenset({"penelaah", "investigator", "inspektur"})

# command -> roles that may give it
COMMAND_ROLES = {
    "start-verification": REVIEWERS, "request-information": REVIEWERS, "accept": REVIEWERS,
    "reject": REVIEWERS, "archive": REVIEWERS, "forward": REVIEWERS, "escalate": REVIEWERS,
    "start-investigation": frozenset({"inspektur"}), "record-findings": frozenset({"investigator", "inspektur"}),
    "complete-recommendation": frozenset({"inspektur"}), "close": frozenset({"inspektur"}),
    "message-reporter": HANDLERS, "add-note": HANDLERS,
    "recuse": frozenset({"penerima", "penelaah", "investigator", "inspektur"}),
}
# status -> the workflow steps possible there (besides the ones below)
BY_STATUS = {
    "diterima": ("start-verification", "forward", "reject", "archive"),
    "verifikasi": ("request-information", "accept", "forward", "reject", "archive"),
    "menunggu_informasi": ("forward", "archive"),
    "penelaahan": ("start-investigation", "forward", "reject", "archive"),
    "investigasi": ("record-findings",),
    "hasil": ("close",),
    "tindak_lanjut": ("complete-recommendation", "close"),
}
WHILE_OPEN = ("message-reporter", "escalate")
ALWAYS = ("add-note", "recuse")
# the order forms appear in on the case page
ORDER = ("start-verification", "request-information", "accept", "start-investigation", "record-findings",
         "complete-recommendation", "close", "forward", "reject", "archive", "escalate", "message-reporter",
         "add-note", "recuse")


def recused(case: dict, officer_id: str) -> bool:
    return any(step.get("kind") == "recused" and (step.get("actor") or {}).get("officer_id") == officer_id
               for step in case.get("history", []))


def allowed_commands(case: dict, officer) -> list[str]:
    """The commands to show as forms, in page order."""
    if case.get("as_of"):
        return []  # a case as of a moment is read only
    given = case.get("allowed_commands")
    if isinstance(given, list):
        return [name for name in ORDER if name in given]
    status = (case.get("status") or {}).get("code")
    possible = set(BY_STATUS.get(status, ())) | set(ALWAYS)
    if status not in TERMINAL:
        possible |= set(WHILE_OPEN)
    if recused(case, officer.id):
        return []
    roles = set(officer.roles)
    out = [name for name in ORDER if name in possible and roles & COMMAND_ROLES[name]]
    team = (case.get("investigation") or {}).get("team") or []
    if "record-findings" in out and "inspektur" not in roles and officer.id not in team:
        out.remove("record-findings")
    if "escalate" in out and "." not in str(case.get("handling_tenant", "")):
        out.remove("escalate")  # the province has no parent to escalate to
    return out


# -- the menu ------------------------------------------------------------------------------

STATS_ROLES = frozenset({"inspektur", "penelaah", "tenant_admin", "province_admin"})
PROVINCE_ROLES = frozenset({"inspektur", "province_admin"})
ADMINS = frozenset({"tenant_admin", "province_admin"})

# (path, text key, roles (None: everyone), province officers only)
MENU = (
    ("/antrean", "nav_queue", None, False),
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
