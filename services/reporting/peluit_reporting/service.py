"""nameko entry module of reporting: ``nameko run peluit_reporting.service``.

Pulls the cases notification log page by page over RPC (never reads the cases
database) and applies each page with its tracking position in one transaction.
Serves officer statistics and exports (officer token), and public
transparency statistics with small-cell suppression (no login).
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
from peluit_common.rpc import call
from peluit_common.settings import env_float
from peluit_common.web import HttpError, http, json_endpoint, json_response
from peluit_contracts.statistics import ExportQuery, ProvinceQuery, PublicQuery, StatsQuery

from . import export, projection, stats
from .access import require_province, require_tenant
from .openapi import OPENAPI
from .query import parse, period

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
    def public_stats(self, request):
        args = parse(PublicQuery, request)
        with self.db.connection() as conn:
            counts = stats.public_counts(conn, args.get("tenant"), args.get("year"))
        return json_response(200, {"counts": counts, "small_cell_threshold": stats.SMALL_CELL,
                                   "rule": stats.PUBLIC_RULE})

    # -- officer statistics ---------------------------------------------------------

    @http("GET", "/api/v1/stats")
    @json_endpoint
    def tenant_stats(self, request):
        def report(conn, tenant, start, end):
            return {"tenant": tenant, **stats.tenant_stats(conn, [tenant], start, end, defer=self._keep_later)}
        return self._officer_report(request, StatsQuery, "tenant", require_tenant, report)

    @http("GET", "/api/v1/stats/province")
    @json_endpoint
    def province_stats(self, request):
        def report(conn, province, start, end):
            return stats.province_overview(conn, province, start, end, defer=self._keep_later)
        return self._officer_report(request, ProvinceQuery, "province", require_province, report)

    def _officer_report(self, request, schema, scope: str, require, report):
        """The officer's token (401), the parameters (400), the tenant or
        province they may see (403), then ``report(conn, who, start, end)``."""
        claims = self.officers.claims(request)
        args = parse(schema, request)
        who = require(claims, args.get(scope))
        start, end = period(args)
        with self.db.connection() as conn:
            figures = report(conn, who, start, end)
        return json_response(200, figures)

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
        if fmt not in ("csv", "xlsx", "pdf"):
            raise HttpError(404, "not_found", text="unknown_export_format")
        claims = self.officers.claims(request)
        args = parse(ExportQuery, request)
        tenant = require_tenant(claims, args.get("tenant"))
        year = args.get("year") or date.today().year
        with self.db.connection() as conn:
            data = stats.tenant_stats(conn, [tenant], date(year, 1, 1), date(year, 12, 1))
        name = f"laporan-berkala-{tenant}-{year}"
        if fmt == "csv":
            body, mime = export.to_csv(data), "text/csv; charset=utf-8"
        else:
            label = self._tenant_label(tenant)
            # CPU-bound building runs in a real thread so the hub keeps serving
            if fmt == "xlsx":
                body = tpool.execute(export.to_xlsx, data, label)
                mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            else:
                body, mime = tpool.execute(export.to_pdf, data, label), "application/pdf"
        headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}  # the rest: SecureWsgiApp
        return Response(body, status=200, content_type=mime, headers=headers)

    def _tenant_label(self, tenant: str) -> str:
        """"Inspektorat Kota Malang (35.73)" from cases' catalogue (configuration,
        not case data); the code alone when cases does not answer in time."""
        try:
            catalogue = call(self.cases.catalogue, timeout=NAME_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a label is not worth failing the export
            log.warning("tenant name unavailable: %s", type(exc).__name__)
            return tenant
        names = {t["code"]: t["name"] for t in catalogue.get("tenants", [])}
        return f"{names[tenant]} ({tenant})" if tenant in names else tenant
