"""Every page of the console, method and path to handler. The routes of
``awaiting`` serve only when their backend piece is switched on
(``PELUIT_CONSOLE_FEATURES``, settings.FEATURES); until then they answer 404."""

from __future__ import annotations

from .awaiting import AWAITING
from .dispatch import Route
from .pages import audit, case, intake, queue, signin, stats

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
    *AWAITING,
)
