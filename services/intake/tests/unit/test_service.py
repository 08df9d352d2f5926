"""The nameko entry module's wiring: one service class for ``nameko run``,
an entrypoint for every documented path, and thin entrypoints that reach
the application through this worker's RPC proxies (faked here as RPC
servers that check the contract payloads)."""

from __future__ import annotations

import json
import os

from nacl.public import PrivateKey
from nameko.cli.run import import_service
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from peluit_contracts.reports import RegisterReportCommand, StoreIdentityCommand
from peluit_contracts.statistics import PublicQuery, PublicStats
from peluit_intake.catalogue import TenantCatalogue
from peluit_intake.keys import IntakeKeys
from peluit_intake.openapi import OPENAPI
from peluit_intake.portal_pages import PortalKit
from peluit_intake.receipts import Argon2Params
from peluit_intake.service import IntakeService

VAULT = PrivateKey.generate()


class CasesRpc:
    def __init__(self):
        self.registered = []

    def catalogue(self):
        return {"tenants": [{"code": "35.73", "name": "Inspektorat Kota Malang", "parent": "35",
                             "categories": [{"code": "korupsi", "name": {"id": "Korupsi", "en": "Corruption"}}]}]}

    def register_report(self, payload):
        self.registered.append(RegisterReportCommand().load(payload))
        return {"registration_number": "WBS/35.73/2026/000001", "created": True}


class VaultRpc:
    def store_identity(self, payload):
        StoreIdentityCommand().load(payload)
        return {"reporter_ref": "r" * 32}


class ReportingRpc:
    def __init__(self):
        self.queries = []

    def public_stats(self, query):
        self.queries.append(PublicQuery().load(query))
        reply = {"counts": [{"tenant": "35.73", "year": 2026, "category": "korupsi", "status": "diterima", "count": 8}],
                 "small_cell_threshold": 5, "rule": {"id": "Aturan", "en": "Rule"}}
        assert PublicStats().validate(reply) == {}
        return reply


def routes(cls) -> dict[str, tuple]:
    """method name -> (HTTP method, path), or () for an entrypoint that is not HTTP."""
    out = {}
    for name, member in vars(cls).items():
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            out[name] = (entrypoint.method, entrypoint.url) if hasattr(entrypoint, "url") else ()
    return out


def test_nameko_run_finds_exactly_one_service_in_the_entry_module():
    assert import_service("peluit_intake.service") == [IntakeService]


def test_every_documented_path_and_every_portal_page_has_an_entrypoint():
    served = {route for route in routes(IntakeService).values() if route}
    documented = {(method.upper(), path) for path, item in OPENAPI["paths"].items() for method in item}
    assert len(documented) == 7
    assert documented <= served
    assert {("GET", "/"), ("GET", "/statistik"), ("POST", "/lapor"), ("POST", "/status"), ("POST", "/status/bukti"),
            ("POST", "/keluar"), ("GET", "/api/v1/openapi.json"), ("POST", "/api/v1/channels/whatsapp/webhook")} <= served
    assert routes(IntakeService)["receive_mail"] == ()


def service():
    keys = IntakeKeys.derive(os.urandom(32), bytes(VAULT.public_key), Argon2Params(time_cost=1, memory_kib=8192))
    return worker_factory(IntakeService, keys=keys, catalogue=TenantCatalogue(), cases=CasesRpc(), vault=VaultRpc(),
                          reporting=ReportingRpc(), portal=PortalKit(os.urandom(32)))


def test_an_entrypoint_reaches_cases_and_the_vault_through_its_own_proxies_with_contract_payloads():
    svc = service()
    body = {"tenant": "35.73", "category": "korupsi", "what": "Dana hibah dipotong dua puluh persen",
            "where": "Dinas Sosial", "when": "Oktober 2026", "identity": {"name": "Budi"}}
    request = Request(EnvironBuilder(path="/api/v1/reports", method="POST", content_type="application/json",
                                     data=json.dumps(body)).get_environ())
    response = svc.submit_report(request)
    assert response.status_code == 201
    body = json.loads(response.get_data())
    assert body["registration_number"] == "WBS/35.73/2026/000001" and body["anonymous"] is False
    command, = svc.cases.registered
    assert command["reporter_ref"] == "r" * 32 and command["channel"] == "web" and "identity" not in command["report"]


def test_the_portal_and_the_tenant_list_share_the_process_catalogue():
    svc = service()
    tenants = svc.tenants(Request(EnvironBuilder(path="/api/v1/tenants").get_environ()))
    assert json.loads(tenants.get_data())["tenants"][0]["code"] == "35.73"
    assert svc.catalogue.data is not None  # the tenant list refreshed the one copy the pages read
    page = svc.portal_report_form(Request(EnvironBuilder(path="/lapor").get_environ()))
    assert page.status_code == 200 and "Inspektorat Kota Malang" in page.get_data(as_text=True)


def test_the_statistics_page_asks_reporting_through_its_own_proxy_with_the_contract_query():
    svc = service()
    page = svc.portal_statistics(Request(EnvironBuilder(path="/statistik", query_string={
        "tenant": "35.73", "year": "2026", "lang": "en"}).get_environ()))
    assert page.status_code == 200 and svc.reporting.queries == [{"tenant": "35.73", "year": 2026}]
    assert "Inspektorat Kota Malang · 2026" in page.get_data(as_text=True)
