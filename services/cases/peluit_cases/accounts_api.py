"""The officer API's account and administration handlers, as plain functions
``service.py``'s one-line entrypoints call with the worker (``svc``: its
``db``, ``keys``, ``auth``, ``app``, ``deadline_config`` and vault proxy).

Sign-in, enrolment, sessions and password (``officers``, ``enrolment``);
officer administration (``officer_admin``), audit grants (``audit_grants``),
tenant settings (``tenant_settings``, retention through the vault) and the
admin change log (``admin_log``). The rules are in ``access``; every refusal
is a ``CasesError`` that ``officer_api.STATUS`` turns into HTTP.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from datetime import date, datetime, timedelta, timezone

import pyotp
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from peluit_common.auth import TENANT_RE, AuthError
from peluit_common.ratelimit import RateLimiter, client_address
from peluit_common.settings import env_float, env_int
from peluit_common.web import SECURITY_HEADERS, json_response, read_json
from peluit_contracts import officer_api as contract
from peluit_contracts import officer_accounts as accounts_contract
from peluit_contracts.i18n import message

from . import access, admin_log, audit_grants, enrolment, officer_admin, officers, tenant_settings
from .access import Access, Actor, PgDirectory
from .errors import CasesError
from .officer_api import invalid, load
from .vault import VaultClient

BODY_LIMIT = 4096
RPC_TIMEOUT = env_float("PELUIT_RPC_TIMEOUT", 10.0)
ISSUER_NAME = "Peluit"


def session_from_db(svc, officer_id: str):
    """Cases' own ``SessionLookup`` for ``OfficerAuth``: the officer table."""
    with svc.db.connection() as conn:
        return officers.session_state(conn, officer_id)


def officer_session(svc, officer_id) -> dict | None:
    """The ``cases.officer_session`` RPC: reporting and intake check tokens with it."""
    state = session_from_db(svc, officer_id) if isinstance(officer_id, str) else None
    return state.reply() if state else None


def _actor(svc, request) -> Actor:
    return Actor.from_claims(svc.auth.claims(request))


def _password_refused(err: officers.OfficerError, field: str) -> CasesError:
    """A password rule broken: a field error like the contract's own."""
    return invalid({field: [message(err.code, **err.params)]})


# -- signing in, enrolment, sessions ------------------------------------------------------------------

def _signed_in(svc, officer: officers.Officer, auth_time: datetime | None = None) -> Response:
    """The login body: a token for the officer's current session."""
    ttl = env_int("PELUIT_OFFICER_TOKEN_TTL", 900)
    token = svc.keys.issuer.issue(officer.id, officer.tenant, officer.roles, officer.username, ttl_seconds=ttl,
                                  session_version=officer.session_version, auth_time=auth_time)
    return json_response(200, {"token": token, "token_type": "Bearer", "expires_in": ttl,
                               "officer": {"id": officer.id, "tenant": officer.tenant, "roles": list(officer.roles),
                                           "username": officer.username}})


def _credentials(schema, request, refusal: str) -> dict:
    """A sign-in body; one that does not fit is refused like wrong credentials, telling nothing."""
    try:
        return schema().load(read_json(request, BODY_LIMIT))
    except ValidationError:
        raise CasesError(refusal) from None


class LoginThrottle(DependencyProvider):
    """Failed sign-ins per client, on top of the per-account lockout: at most
    ``PELUIT_LOGIN_CLIENT_FAILURES`` (20) per ``PELUIT_LOGIN_CLIENT_WINDOW``
    seconds (900) from one address, counted on a keyed, daily rotating hash
    of it (``peluit_common.ratelimit``; the key is derived from the TOTP key
    file, the address is never kept). Behind ``PELUIT_CASES_PROXY_HOPS``
    trusted proxies the address is the one they appended. Per process, like
    intake's portal limits."""

    def setup(self):
        key = hmac.new(officers.load_totp_key(), b"peluit-cases/login-throttle", hashlib.sha256).digest()
        self.limiter = RateLimiter(key, {"login": (env_int("PELUIT_LOGIN_CLIENT_FAILURES", 20),
                                                   float(env_int("PELUIT_LOGIN_CLIENT_WINDOW", 900)))})
        self.proxy_hops = env_int("PELUIT_CASES_PROXY_HOPS", 0)

    def get_dependency(self, worker_ctx):
        return self


@contextlib.contextmanager
def throttled(throttle, request, failures):
    """A guess (sign-in, enrolment code) from a client past its failures is
    refused before any account is touched, so it counts towards no lockout;
    a ``failures`` exception inside counts for the client."""
    address = client_address(request.environ, throttle.proxy_hops)
    if throttle.limiter.blocked("login", address) is not None:
        raise CasesError("too_many_attempts")
    try:
        yield
    except failures:
        throttle.limiter.hit("login", address)
        raise


def login(svc, request) -> Response:
    with throttled(svc.login_throttle, request, officers.LoginFailed):
        creds = _credentials(contract.Login, request, "invalid_credentials")
        with svc.db.connection() as conn:
            try:
                officer = officers.authenticate(conn, svc.keys.totp_key, creds["username"], creds["password"],
                                                creds["totp"])
            except officers.LoginFailed as err:
                # locked, inactive, not enrolled and unknown look the same from outside
                raise officers.LoginFailed("invalid_credentials") from None
    return _signed_in(svc, officer)


def start_enrolment(svc, request) -> Response:
    """Step 1 of 2: the enrolment code for the officer's own new TOTP secret."""
    with throttled(svc.login_throttle, request, enrolment.EnrolmentFailed):
        args = _credentials(accounts_contract.EnrolmentStart, request, "invalid_enrolment")
        with svc.db.connection() as conn:
            started = enrolment.start(conn, svc.keys.totp_key, args["username"], args["enrolment_code"])
    ttl = enrolment.ENROLMENT_TOKEN_SECONDS
    token = svc.keys.issuer.issue_enrolment(started.officer_id, started.session_version, ttl)
    return json_response(200, {
        "enrolment_token": token, "totp_secret": started.secret, "expires_in": ttl,
        "totp_uri": pyotp.TOTP(started.secret).provisioning_uri(name=started.username, issuer_name=ISSUER_NAME)})


def complete_enrolment(svc, request) -> Response:
    """Step 2 of 2: the officer's own password and a code from the new secret; signed in."""
    args = load(accounts_contract.EnrolmentComplete, read_json(request, BODY_LIMIT))
    try:
        officer_id, version = svc.auth.verifier.verify_enrolment(args["enrolment_token"])
    except AuthError:
        raise CasesError("invalid_enrolment") from None
    with svc.db.connection() as conn:
        try:
            officer = enrolment.complete(conn, svc.keys.totp_key, officer_id, version, args["password"], args["totp"],
                                         email=args["email"])
        except officers.OfficerError as err:
            raise _password_refused(err, "password") from None
    return _signed_in(svc, officer)


def refresh(svc, request) -> Response:
    """A fresh token for a live session, never past its version or its age limit."""
    claims = svc.auth.claims(request)
    limit = timedelta(hours=env_int("PELUIT_OFFICER_SESSION_HOURS", 12))
    if claims.auth_time is None or datetime.now(timezone.utc) - claims.auth_time > limit:
        raise AuthError("session_ended")
    # read again, not from the session cache: a refresh must not outlive a change by a second
    with svc.db.connection() as conn:
        officer = officers.get_officer(conn, claims.officer_id)
    if officer is None or not officers.session_of(officer).admits(claims):
        raise AuthError("session_ended")
    return _signed_in(svc, officer, auth_time=claims.auth_time)


def logout(svc, request) -> Response:
    """Every token of the officer ends, on every service, on its next request."""
    claims = svc.auth.claims(request)
    with svc.db.connection() as conn:
        officers.end_sessions(conn, claims.officer_id)
    svc.auth.forget(claims.officer_id)
    return Response(status=204, headers=SECURITY_HEADERS)


def me(svc, request) -> Response:
    claims = svc.auth.claims(request)
    with svc.db.connection() as conn:
        account = officer_admin.account(conn, claims.officer_id)
    if account is None:
        raise AuthError("session_ended")
    return json_response(200, account.own_view())


def change_password(svc, request) -> Response:
    claims = svc.auth.claims(request)
    args = load(accounts_contract.PasswordChange, read_json(request, BODY_LIMIT))
    with svc.db.connection() as conn:
        try:
            officer = officers.change_password(conn, svc.keys.totp_key, claims.officer_id, args["current_password"],
                                               args["new_password"], args["totp"])
        except officers.OfficerError as err:
            raise _password_refused(err, "new_password") from None
    svc.auth.forget(claims.officer_id)
    return _signed_in(svc, officer)


# -- officers -----------------------------------------------------------------------------------------

def create_officer(svc, request) -> Response:
    """A tenant admin (own tenant) or the province admin adds an officer; the
    enrolment code is shown once, here."""
    actor = _actor(svc, request)
    new = load(contract.NewOfficer, read_json(request, BODY_LIMIT))
    with svc.db.connection() as conn:
        Access(svc.app, PgDirectory(conn)).require_officer_creation(actor, new["tenant"], new["roles"])
        invitation = enrolment.invite(conn, svc.keys.totp_key, tenant=new["tenant"], username=new["username"],
                                      display_name=new["display_name"], roles=new["roles"], email=new["email"],
                                      created_by=actor.officer_id)
    return json_response(201, {"officer_id": invitation.officer_id, "username": new["username"],
                                "tenant": new["tenant"], "roles": list(dict.fromkeys(new["roles"])),
                                "enrolment_code": invitation.code,
                                "enrolment_expires_at": invitation.expires_at.isoformat()})


def list_officers(svc, request) -> Response:
    actor = _actor(svc, request)
    query = load(accounts_contract.OfficerListQuery, request.args.to_dict())
    tenants, full = access.officer_listing(actor, query.get("tenant"))
    with svc.db.connection() as conn:
        accounts, total = officer_admin.listing(
            conn, tenants=tenants, role=query.get("role"), active=query.get("active") if full else True,
            enrolled_only=not full, page=query["page"], per_page=query["per_page"])
    return json_response(200, {"items": [a.admin_view() if full else a.picker_view() for a in accounts],
                               "page": query["page"], "per_page": query["per_page"], "total": total})


def _administer(svc, request, officer_id: str, change, roles=None):
    """Run ``change(conn, check, actor_id)`` on the account; its sessions end at once here."""
    actor = _actor(svc, request)
    if not actor.has_role(*access.ADMIN_ROLES):
        raise access.forbidden()
    with svc.db.connection() as conn:
        result = change(conn, access.officer_admin_check(actor, roles), actor.officer_id)
    svc.auth.forget(officer_id)
    return result


def deactivate(svc, request, officer_id: str) -> Response:
    account = _administer(svc, request, officer_id, lambda conn, check, by: officer_admin.deactivate(
        conn, officer_id, check, by))
    return json_response(200, account.admin_view())


def reactivate(svc, request, officer_id: str) -> Response:
    account = _administer(svc, request, officer_id, lambda conn, check, by: officer_admin.reactivate(
        conn, officer_id, check, by))
    return json_response(200, account.admin_view())


def set_roles(svc, request, officer_id: str) -> Response:
    roles = officers.check_roles(load(accounts_contract.Roles, read_json(request, BODY_LIMIT))["roles"])
    account = _administer(svc, request, officer_id, lambda conn, check, by: officer_admin.set_roles(
        conn, officer_id, roles, check, by), roles)
    return json_response(200, account.admin_view())


def reset_factor(svc, request, officer_id: str) -> Response:
    account, invitation = _administer(svc, request, officer_id, lambda conn, check, by: officer_admin.reset_factor(
        conn, svc.keys.totp_key, officer_id, check, by))
    return json_response(200, {**account.admin_view(), "enrolment_code": invitation.code,
                               "enrolment_expires_at": invitation.expires_at.isoformat()})


# -- audit grants -------------------------------------------------------------------------------------

def grant_audit(svc, request) -> Response:
    actor = _actor(svc, request)
    Access.require(actor, {"province_admin"})
    grant = load(contract.AuditGrant, read_json(request, BODY_LIMIT))
    with svc.db.connection() as conn:
        grant_id = Access(svc.app, PgDirectory(conn)).grant_audit(actor, grant["officer_id"], grant["tenant"],
                                                                  grant["days"], grant["reason"])
    return json_response(201, {"id": grant_id, "officer_id": grant["officer_id"], "tenant": grant["tenant"],
                               "days": grant["days"]})


def list_grants(svc, request) -> Response:
    actor = _actor(svc, request)
    query = load(accounts_contract.GrantListQuery, request.args.to_dict())
    with svc.db.connection() as conn:
        items = audit_grants.listing(conn, officer_id=access.grant_listing(actor), tenant=query.get("tenant"),
                                     active=query.get("active"))
    return json_response(200, {"items": items})


def revoke_grant(svc, request, grant_id: int) -> Response:
    actor = _actor(svc, request)
    Access.require(actor, {"province_admin"})
    with svc.db.connection() as conn:
        grant = audit_grants.revoke(conn, grant_id, actor.officer_id)
    if grant is None:
        raise CasesError("not_found", text="grant_not_found")
    return json_response(200, grant)


# -- tenant settings ----------------------------------------------------------------------------------

def _tenant_admin(svc, request, code: str) -> Actor:
    """The tenant's admin (the vault checks the role again in the call token cases signs for retention)."""
    actor = Actor.from_claims(svc.auth.claims(request))
    if not TENANT_RE.fullmatch(code):
        raise CasesError("not_found", text="tenant_not_found")
    access.require_tenant_admin(actor, code)
    return actor


def _settings_reply(svc, actor: Actor, settings: dict | None, changed: bool = True) -> Response:
    """The settings with the vault's retention; after a change, this instance's
    deadline scheduler reads the tenant again."""
    if settings is None:
        raise CasesError("not_found", text="tenant_not_found")
    if changed:
        svc.deadline_config.forget(settings["code"])
    years = _vault(svc).retention(actor, settings["code"])
    return json_response(200, {**settings, "retention_years": years})


def _vault(svc) -> VaultClient:
    return VaultClient(svc.vault, RPC_TIMEOUT, svc.keys.vault_calls)


def tenant_settings_of(svc, request, code: str) -> Response:
    actor = _tenant_admin(svc, request, code)
    with svc.db.connection() as conn:
        settings = tenant_settings.read(conn, code)
    return _settings_reply(svc, actor, settings, changed=False)


def change_tenant_settings(svc, request, code: str) -> Response:
    actor = _tenant_admin(svc, request, code)
    changes = load(accounts_contract.TenantSettingsChange, read_json(request, BODY_LIMIT))

    def retention():
        """Last, inside the settings' transaction: if the vault says no, nothing changes."""
        if "retention_years" not in changes:
            return None
        vault = _vault(svc)
        before = vault.retention(actor, code)
        if before == changes["retention_years"]:
            return None
        return {"from": before, "to": vault.set_retention(actor, code, changes["retention_years"])}

    with svc.db.connection() as conn:
        settings = tenant_settings.change(conn, actor.officer_id, code, changes, also=retention)
    return _settings_reply(svc, actor, settings)


def add_holiday(svc, request, code: str) -> Response:
    actor = _tenant_admin(svc, request, code)
    holiday = load(accounts_contract.Holiday, read_json(request, BODY_LIMIT))
    with svc.db.connection() as conn:
        settings = tenant_settings.add_holiday(conn, actor.officer_id, code, holiday["date"], holiday["name"])
    return _settings_reply(svc, actor, settings)


def delete_holiday(svc, request, code: str, day: str) -> Response:
    actor = _tenant_admin(svc, request, code)
    try:
        when = date.fromisoformat(day)
    except ValueError:
        raise CasesError("not_found", text="holiday_date") from None
    with svc.db.connection() as conn:
        settings = tenant_settings.delete_holiday(conn, actor.officer_id, code, when)
    return _settings_reply(svc, actor, settings)


def put_category(svc, request, code: str) -> Response:
    actor = _tenant_admin(svc, request, code)
    category = load(accounts_contract.Category, read_json(request, BODY_LIMIT))
    with svc.db.connection() as conn:
        settings = tenant_settings.put_category(conn, actor.officer_id, code, category["code"], category["label_id"],
                                                category["label_en"], category["active"])
    return _settings_reply(svc, actor, settings)


# -- the admin change log -----------------------------------------------------------------------------

def admin_changes(svc, request) -> Response:
    actor = _actor(svc, request)
    query = load(accounts_contract.AdminChangeQuery, request.args.to_dict())
    with svc.db.connection() as conn:
        tenants = Access(svc.app, PgDirectory(conn)).admin_change_tenants(actor, query.get("tenant"))
        return json_response(200, admin_log.listing(conn, tenants, query["page"], query["per_page"]))
