"""nameko entry module of reporting: ``nameko run peluit_reporting.service``.

Pulls the cases notification log page by page over RPC (never reads the cases
database) and applies each page with its tracking position in one transaction.
Serves officer statistics and exports (officer token), and public
transparency statistics with small-cell suppression (no login; over RPC,
``public_stats``, for the portal's statistics page too).
"""

from __future__ import annotations

import logging
import time
from datetime import date

import eventlet
from eventlet import tpool
from eventlet.queue import LightQueue
from nameko.rpc import RpcProxy
from nameko.timer import timer
from prometheus_client import Gauge
from werkzeug.wrappers import Response

from peluit_common import green  # noqa: F401
from peluit_common.auth import OfficerAuth, sessions_over_rpc
from peluit_common.db import Database
from peluit_common.operations import Operations
from peluit_common.rpc import call, rpc
from peluit_common.settings import env_float
from peluit_common.web import HttpError, http, json_endpoint, json_response
from peluit_contracts.statistics import ExportQuery, ProvinceExportQuery, ProvinceQuery, PublicQuery, StatsQuery

from . import export, projection, stats
from .access import require_province, require_tenant
from .openapi import OPENAPI
from .query import load, parse, period

log = logging.getLogger(__name__)

PROJECTION_POSITION = Gauge("peluit_projection_position", "Last applied cases notification id", ["projection"])
PROJECTION_LAG = Gauge("peluit_projection_lag_events", "Cases notifications not yet applied", ["projection"])
PROJECTION_LAG_SECONDS = Gauge(
    "peluit_projection_lag_seconds", "Seconds since the projection was last caught up with the log (0 when it is)",
    ["projection"])
PROJECTION_PROGRESS = Gauge(
    "peluit_projection_progress_ratio", "Applied share of the cases notification log (climbs 0 to 1 in a rebuild)",
    ["projection"])
PROJECTION = "case_summary"

RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)
PAGE = 500
PAGES_AHEAD = max(1, projection.WINDOW // PAGE)
NAME_TIMEOUT = 2.0


class _Lag:
    """When the follower was last caught up; read at scrape time."""

    caught_up_at = time.monotonic()
    behind = False
    rebuilding = False

    @classmethod
    def seconds(cls) -> float:
        return time.monotonic() - cls.caught_up_at if cls.behind else 0.0


PROJECTION_LAG_SECONDS.labels(PROJECTION).set_function(_Lag.seconds)


class ReportingService:
    name = "reporting"

    ops = Operations()
    db = Database(migrate=projection.migrate)
    cases = RpcProxy("cases", expiration=RPC_TIMEOUT)
    officers = OfficerAuth(sessions=sessions_over_rpc("cases"))  # a stale session ends on its next request

    @timer(interval=env_float("PELUIT_FOLLOW_INTERVAL", 0.25))
    def follow(self):
        with self.db.connection() as conn, conn.transaction():
            start = projection.lock_position(conn)
        if start is None:
            return  # another instance is following: no pages read ahead for nothing
        # pages are read ahead while a window is applied (cases and reporting at work together)
        ahead = projection.ReadAhead(self._fetch, start, PAGES_AHEAD, eventlet.spawn, LightQueue)
        try:
            while self._apply_next_page(ahead):
                eventlet.sleep(0)
        finally:
            ahead.close()

    @timer(interval=env_float("PELUIT_KEEP_STATISTICS_INTERVAL", 1.0))
    def keep_statistics(self):
        """The statistics parts of tenant-months that windows changed (all of
        them after a rebuild), computed again so that reports find them kept;
        then their quarters and years, merged from them."""
        with self.db.connection() as conn:
            for keep in (stats.keep_months, stats.keep_blocks):
                while keep(conn) == stats.KEEP_BATCH:
                    eventlet.sleep(0)
            stats.read_kept(conn)  # once per process: its first reports read no kept figures

    @timer(interval=3600)
    def forget_kept_statistics(self):
        with self.db.connection() as conn:
            stats.forget_kept(conn)

    def _fetch(self, after: int) -> dict:
        return call(self.cases.domain_events, after=after, limit=PAGE, timeout=RPC_TIMEOUT)

    def _apply_next_page(self, fetch) -> bool:
        with self.db.connection() as conn:
            page = projection.follow(conn, fetch)
        if page is None:
            return False  # another instance is following
        if page["finished"]:
            log.info("rebuild caught up at %d; seconds: %s", page["next"],
                     ", ".join(f"{name} {secs:.1f}" for name, secs in page["finished"].items()))
        if page["start"] == 0 and page["next"] > 0:
            _Lag.rebuilding = True  # a rebuild (or the first start) has begun
        lag = max(page["head"] - page["next"], 0)
        PROJECTION_POSITION.labels(PROJECTION).set(page["next"])
        PROJECTION_LAG.labels(PROJECTION).set(lag)
        PROJECTION_PROGRESS.labels(PROJECTION).set(page["next"] / page["head"] if page["head"] else 1.0)
        if lag == 0:
            _Lag.caught_up_at, _Lag.behind = time.monotonic(), False
            if _Lag.rebuilding:
                _Lag.rebuilding = False
                with self.db.connection() as conn:
                    t0 = time.monotonic()
                    projection.vacuum_analyze(conn)
                    log.info("read models vacuumed and analyzed after the rebuild in %.1f s", time.monotonic() - t0)
        else:
            _Lag.behind = True
        return page["next"] != page["start"]

    @http("GET", "/api/v1/openapi.json")
    def openapi(self, request):
        return json_response(200, OPENAPI)

    # -- public transparency statistics (no login) ------------------------------

    @http("GET", "/api/v1/public/stats")
    @json_endpoint
    def public_stats_http(self, request):
        args = parse(PublicQuery, request)
        with self.db.connection() as conn:
            return json_response(200, stats.public_stats(conn, args.get("tenant"), args.get("year")))

    @rpc
    def public_stats(self, query: dict | None = None) -> dict:
        """``GET /api/v1/public/stats`` over RPC (the portal's statistics page):
        the same parameters (``PublicQuery``), the same rules and reply
        (``PublicStats``), or ``{"error": "validation_failed", "fields": ...}``."""
        try:
            args = load(PublicQuery, query if query is not None else {})
        except HttpError as err:
            return {"error": err.code, "fields": err.fields}
        with self.db.connection() as conn:
            return stats.public_stats(conn, args.get("tenant"), args.get("year"))

    # -- officer statistics ---------------------------------------------------------

    @http("GET", "/api/v1/stats")
    @json_endpoint
    def tenant_stats(self, request):
        def report(conn, tenant, start, end):
            return {"tenant": tenant, **stats.tenant_stats(conn, [tenant], start, end, defer=self._keep_later)}
        _, _, figures = self._figures(request, StatsQuery, "tenant", require_tenant, report)
        return json_response(200, figures)

    @http("GET", "/api/v1/stats/province")
    @json_endpoint
    def province_stats(self, request):
        def report(conn, province, start, end):
            return stats.province_overview(conn, province, start, end, defer=self._keep_later)
        _, _, figures = self._figures(request, ProvinceQuery, "province", require_province, report)
        return json_response(200, figures)

    def _figures(self, request, schema, scope: str, require, report, period_of=period):
        """The officer's token (401), the parameters (400), the tenant or
        province they may see (403); then who, the period of the parameters
        (``period_of``) and ``report(conn, who, start, end)``."""
        claims = self.officers.claims(request)
        args = parse(schema, request)
        who = require(claims, args.get(scope))
        start, end = period_of(args)
        with self.db.connection() as conn:
            return who, (start, end), report(conn, who, start, end)

    def _keep_later(self, keep) -> None:
        """What a statistics query computed is kept in a green thread of its
        own, after the response is on its way: the megabytes of durations a
        province's tenant parts hold were a fifth of a first request. Only a
        cache: if it fails, the next request computes it again."""
        def run():
            try:
                with self.db.connection() as conn:
                    keep(conn)
            except Exception as exc:  # noqa: BLE001 - logged; nothing is lost but a cache entry
                log.warning("statistics computed but not kept: %s", type(exc).__name__)
        eventlet.spawn_n(run)

    @http("GET", "/api/v1/stats/export.<string:fmt>")
    @json_endpoint
    def export_stats(self, request, fmt):
        def report(conn, tenant, start, end):
            return stats.tenant_stats(conn, [tenant], start, end)
        tenant, year, data = self._export_figures(request, fmt, ExportQuery, "tenant", require_tenant, report)
        name = f"laporan-berkala-{tenant}-{year}"
        if fmt == "csv":
            return _download(name, fmt, export.to_csv, data)
        build = export.to_xlsx if fmt == "xlsx" else export.to_pdf
        return _download(name, fmt, build, data, _label(self._tenant_names(), tenant))

    @http("GET", "/api/v1/stats/province/export.<string:fmt>")
    @json_endpoint
    def export_province(self, request, fmt):
        province, year, data = self._export_figures(request, fmt, ProvinceExportQuery, "province",
                                                    require_province, stats.province_overview)
        name = f"laporan-berkala-provinsi-{province}-{year}"
        if fmt == "csv":
            return _download(name, fmt, export.province_to_csv, data)
        names = self._tenant_names()
        build = export.province_to_xlsx if fmt == "xlsx" else export.province_to_pdf
        return _download(name, fmt, build, data, _label(names, province), names)

    def _export_figures(self, request, fmt: str, schema, scope: str, require, report):
        """A known format (404), then ``_figures`` for the year asked for (default: this year)."""
        if fmt not in EXPORT_TYPES:
            raise HttpError(404, "not_found", text="unknown_export_format")
        who, (start, _), data = self._figures(request, schema, scope, require, report, _whole_year)
        return who, start.year, data

    def _tenant_names(self) -> dict[str, str]:
        """Tenant names from cases' catalogue (configuration, not case data);
        none when cases does not answer in time: the codes then stand alone."""
        try:
            catalogue = call(self.cases.catalogue, timeout=NAME_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a label is not worth failing the export
            log.warning("tenant names unavailable: %s", type(exc).__name__)
            return {}
        return {t["code"]: t["name"] for t in catalogue.get("tenants", [])}


EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf",
                "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


def _whole_year(args: dict) -> tuple[date, date]:
    year = args.get("year") or date.today().year
    return date(year, 1, 1), date(year, 12, 1)


def _label(names: dict[str, str], tenant: str) -> str:
    """"Inspektorat Kota Malang (35.73)", or the code alone."""
    return f"{names[tenant]} ({tenant})" if tenant in names else tenant


def _download(name: str, fmt: str, build, *args) -> Response:
    # CPU-bound building (XLSX, PDF) runs in a real thread so the hub keeps serving
    body = build(*args) if fmt == "csv" else tpool.execute(build, *args)
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}  # the rest: SecureWsgiApp
    return Response(body, status=200, content_type=EXPORT_TYPES[fmt], headers=headers)
