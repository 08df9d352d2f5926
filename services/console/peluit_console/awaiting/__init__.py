"""Pages written against the plan's HTTP contract for backend pieces that
are not in this system yet (docs/console.md, "Switching on"): each route
serves only when its feature is named in ``PELUIT_CONSOLE_FEATURES``, and
answers 404 until then.

- ``accounts``: enrolment, password change, administration (officers, audit
  grants, tenant settings, the change log);
- ``desk``: disclosure requests, approvals and the one-time view opened in
  the browser (WebCrypto), the form catalogue, the team picker;
- ``province_export``: the province's laporan berkala downloads.
"""

from __future__ import annotations

from ..dispatch import Route
from ..pages import stats
from . import accounts, admin, disclosure

AWAITING = (
    Route("GET", "/daftar", accounts.enrol_form, signed_in=False, feature="accounts"),
    Route("POST", "/daftar", accounts.enrol_start, signed_in=False, feature="accounts", form_limit=16 * 1024),
    Route("POST", "/daftar/selesai", accounts.enrol_finish, signed_in=False, feature="accounts",
          form_limit=16 * 1024),
    Route("GET", "/akun/kata-sandi", accounts.password_form, feature="accounts"),
    Route("POST", "/akun/kata-sandi", accounts.password_change, feature="accounts", form_limit=16 * 1024),
    Route("GET", "/admin/petugas", admin.officers, feature="accounts"),
    Route("POST", "/admin/petugas", admin.officer_create, feature="accounts"),
    Route("POST", "/admin/petugas/<string:officer_id>/<string:action>", admin.officer_action, feature="accounts"),
    Route("GET", "/admin/hibah-audit", admin.grants, feature="accounts"),
    Route("POST", "/admin/hibah-audit", admin.grant_create, feature="accounts"),
    Route("POST", "/admin/hibah-audit/<string:grant_id>/cabut", admin.grant_revoke, feature="accounts"),
    Route("GET", "/admin/pengaturan", admin.settings, feature="accounts"),
    Route("POST", "/admin/pengaturan/<string:part>", admin.settings_change, feature="accounts"),
    Route("GET", "/admin/log", admin.change_log, feature="accounts"),
    Route("GET", "/kasus/<string:case_id>/pengungkapan", disclosure.request_form, feature="desk"),
    Route("POST", "/kasus/<string:case_id>/pengungkapan", disclosure.request_submit, feature="desk"),
    Route("GET", "/pengungkapan", disclosure.requests_list, feature="desk"),
    Route("POST", "/pengungkapan/<string:request_id>/setujui", disclosure.approve, feature="desk"),
    Route("POST", "/pengungkapan/<string:request_id>/tolak", disclosure.refuse, feature="desk"),
    Route("GET", "/pengungkapan/<string:request_id>/lihat", disclosure.view_page, feature="desk"),
    Route("POST", "/pengungkapan/<string:request_id>/buka", disclosure.view_open, feature="desk",
          form_limit=4 * 1024),
    Route("GET", "/statistik/provinsi/unduh/<string:fmt>", stats.province_download, feature="province_export"),
)
