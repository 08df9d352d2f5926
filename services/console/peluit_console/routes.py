"""Every page of the console, method and path to handler."""

from __future__ import annotations

from .dispatch import Route
from .pages import accounts, admin, audit, case, disclosure, intake, queue, signin, stats

ROUTES = (
    Route("GET", "/", signin.home, signed_in=False),
    Route("GET", "/masuk", signin.sign_in_form, signed_in=False),
    Route("POST", "/masuk", signin.sign_in, signed_in=False, form_limit=16 * 1024),
    Route("POST", "/keluar", signin.sign_out, form_limit=16 * 1024),
    Route("GET", "/antrean", queue.work_queue),
    Route("GET", "/kasus/<string:case_id>", case.case_page),
    Route("POST", "/kasus/<string:case_id>/perintah/<string:command>", case.run_command),
    Route("GET", "/kasus/<string:case_id>/bukti/<string:evidence_id>", case.evidence_download),
    Route("GET", "/kasus/<string:case_id>/bukti/<string:evidence_id>/pratinjau", case.evidence_preview),
    Route("GET", "/kasus/<string:case_id>/riwayat", audit.timeline),
    Route("GET", "/kasus/<string:case_id>/bundel-audit", audit.bundle),
    Route("GET", "/pengungkapan/log", audit.disclosure_log),
    Route("GET", "/laporan-langsung", intake.assisted_form),
    Route("POST", "/laporan-langsung", intake.assisted_submit, form_limit=128 * 1024),
    Route("GET", "/statistik", stats.tenant_dashboard),
    Route("GET", "/statistik/provinsi", stats.province_overview),
    Route("GET", "/statistik/unduh/<string:fmt>", stats.tenant_download),
    Route("GET", "/daftar", accounts.enrol_form, signed_in=False),
    Route("POST", "/daftar", accounts.enrol_start, signed_in=False, form_limit=16 * 1024),
    Route("POST", "/daftar/selesai", accounts.enrol_finish, signed_in=False, form_limit=16 * 1024),
    Route("GET", "/akun/kata-sandi", accounts.password_form),
    Route("POST", "/akun/kata-sandi", accounts.password_change, form_limit=16 * 1024),
    Route("GET", "/admin/petugas", admin.officers),
    Route("POST", "/admin/petugas", admin.officer_create),
    Route("POST", "/admin/petugas/<string:officer_id>/<string:action>", admin.officer_action),
    Route("GET", "/admin/hibah-audit", admin.grants),
    Route("POST", "/admin/hibah-audit", admin.grant_create),
    Route("POST", "/admin/hibah-audit/<string:grant_id>/cabut", admin.grant_revoke),
    Route("GET", "/admin/pengaturan", admin.settings),
    Route("POST", "/admin/pengaturan/<string:part>", admin.settings_change),
    Route("GET", "/admin/log", admin.change_log),
    Route("GET", "/kasus/<string:case_id>/pengungkapan", disclosure.request_form),
    Route("POST", "/kasus/<string:case_id>/pengungkapan", disclosure.request_submit),
    Route("GET", "/pengungkapan", disclosure.requests_list),
    Route("POST", "/pengungkapan/<string:request_id>/setujui", disclosure.approve),
    Route("POST", "/pengungkapan/<string:request_id>/tolak", disclosure.refuse),
    Route("GET", "/pengungkapan/<string:request_id>/lihat", disclosure.view_page),
    Route("POST", "/pengungkapan/<string:request_id>/buka", disclosure.view_open, form_limit=4 * 1024),
    Route("GET", "/statistik/provinsi/unduh/<string:fmt>", stats.province_download),
)
