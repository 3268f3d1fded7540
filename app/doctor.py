"""`flask --app app doctor`: check the settings against the tenant they name, one line a check.

Each check prints `ok` or `FAIL`, what it found, and for a failure the provider's code and the
fix. The checks, in order (a failed one skips those that need it): the settings; discovery
(reachable, issuer and tenant as configured); the signing keys; the redirect URI and client id
(the tenant's sign-in page for them: AADSTS50011, AADSTS700016); the client credential (a
client-credentials token request: AADSTS700016, AADSTS7000215, AADSTS7000222, AADSTS700027);
the API's resource (AADSTS500011); the Graph permissions (the sign-in page asked for Graph's
User.ReadWrite and User.RevokeSessions.All: AADSTS65001, AADSTS650053; consent itself shows
only once a user signs in); Graph at `GRAPH_BASE_URL` (`GET /me` without a token answers 401
InvalidAuthenticationToken); the API's `/healthz` at `TODOLIST_API_URL`. Exit status 0
when every check passes, 1 otherwise. It runs inside the app, so it reads exactly its settings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import click
import requests
from flask import Flask

from app.failures import ProviderUnavailable, aadsts, provider_text
from app.health import api_health_url
from app.identity import Identity, current_identity
from common.http import failure_cause
from common.oidc import KeySetUnavailable, discovery_url
from config import GRAPH_READWRITE, GRAPH_REVOKE

GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
FIXES = {
    700016: "set CLIENT_ID to the Application (client) ID of an app registered in this tenant",
    7000215: "set CLIENT_SECRET to the secret's Value (not its Secret ID) from the app "
    "registration's Certificates & secrets",
    7000222: "the secret has expired: create a new one in Certificates & secrets and set "
    "CLIENT_SECRET",
    700027: "upload the certificate to the app registration (Certificates & secrets), or fix "
    "CERT_THUMBPRINT / CERT_FILE",
    500011: "set TODOLIST_READ / TODOLIST_READWRITE to scopes of the API's Application ID URI "
    "(the API registration's Expose an API page)",
    50011: "add the redirect URI as a Web redirect URI of the app registration (Authentication)",
    65001: "API permissions > Add a permission > Microsoft Graph > Delegated: User.ReadWrite and "
    "User.RevokeSessions.All, then Grant admin consent",
    650053: "the Graph permission name is wrong: add Microsoft Graph's delegated User.ReadWrite "
    "and User.RevokeSessions.All under API permissions",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class Skip(Exception):
    """A check that cannot run because one it depends on failed."""


def _refused(name: str, result: dict[str, Any], what: str) -> Check:
    code = aadsts(result)
    fix = FIXES.get(code or 0, "see the provider's message")
    return Check(name, False, f"{what}: AADSTS{code} {provider_text(result)}; fix: {fix}")


def check_discovery(identity: Identity) -> Check:
    url = discovery_url(identity.config.authority)
    try:
        doc = identity.tenant.discovery()
        tenant_id = identity.tenant.tenant_id()
    except ProviderUnavailable as exc:
        return Check("discovery", False, f"{exc.log}; fix: check TENANT_SUBDOMAIN / AUTHORITY")
    return Check("discovery", True, f"{url}: issuer {doc['issuer']}, tenant {tenant_id}")


def check_keys(identity: Identity) -> Check:
    try:
        count = identity.tenant.keys().load()
    except KeySetUnavailable as exc:
        return Check("signing keys", False, f"{exc}")
    if not count:
        return Check("signing keys", False, "the tenant's key set holds no RS256 signing key")
    jwks_uri = identity.tenant.discovery()["jwks_uri"]
    return Check("signing keys", True, f"{count} RS256 key(s) at {jwks_uri}")


def check_sign_in_page(identity: Identity) -> Check:
    """The tenant's sign-in page for our client id and redirect URI (no user needed)."""
    redirect_uri = identity.config.redirect_uri
    if redirect_uri.startswith("/"):
        raise Skip(f"REDIRECT_URI is the path {redirect_uri}: set the absolute URL to check it")
    flow = identity.tenant.msal_app().initiate_auth_code_flow([], redirect_uri=redirect_uri)
    try:
        page = identity.tenant.http.get(flow["auth_uri"], allow_redirects=False)
    except requests.RequestException as exc:
        raise Skip(f"the sign-in page could not be fetched ({type(exc).__name__})") from exc
    found = re.search(r"AADSTS(\d+)", page.text) if page.status_code >= 400 else None
    if found is None:
        return Check("sign-in page", True, f"{redirect_uri} accepted for client "
                     f"{identity.config.client_id}")
    code = int(found.group(1))
    return Check("sign-in page", False, f"the sign-in page for {redirect_uri} answers "
                 f"AADSTS{code}; fix: {FIXES.get(code, 'see the tenant page')}")


def check_credential(identity: Identity) -> Check:
    result = identity.tenant.msal_app().acquire_token_for_client([GRAPH_DEFAULT])
    what = f"client {identity.config.client_id} with its {identity.tenant.facts.credential}"
    if "access_token" in result:
        return Check("client credential", True, f"{what} accepted")
    return _refused("client credential", result, what)


def check_api_resource(identity: Identity) -> Check:
    resources = sorted({scope.rpartition("/")[0] for scope in identity.config.api_scopes})
    for resource in resources:
        result = identity.tenant.msal_app().acquire_token_for_client([f"{resource}/.default"])
        if "access_token" not in result:
            return _refused("API scopes", result, f"resource {resource}")
    return Check("API scopes", True, f"resource {', '.join(resources)} known to the tenant")


def check_graph_permission(identity: Identity) -> Check:
    """The tenant's sign-in page asked for Graph's User.ReadWrite and User.RevokeSessions.All.

    Without a user this is what can be known: a tenant that refuses the request at once (the
    local one answers consent_required, AADSTS65001; an unknown permission is AADSTS650053)
    fails; one that shows its sign-in page passes, though a real tenant checks consent only
    after the user signs in (the profile page then says it is missing).
    """
    redirect_uri = identity.config.redirect_uri
    if redirect_uri.startswith("/"):
        raise Skip(f"REDIRECT_URI is the path {redirect_uri}: set the absolute URL to check it")
    scopes = [GRAPH_READWRITE, GRAPH_REVOKE]
    flow = identity.tenant.msal_app().initiate_auth_code_flow(scopes, redirect_uri=redirect_uri)
    try:
        page = identity.tenant.http.get(flow["auth_uri"], allow_redirects=False)
    except requests.RequestException as exc:
        raise Skip(f"the sign-in page could not be fetched ({type(exc).__name__})") from exc
    answer = dict(parse_qsl(urlsplit(page.headers.get("Location", "")).query))
    if page.is_redirect and answer.get("error"):
        return _refused("Graph permission", answer, "Graph User.ReadWrite, User.RevokeSessions.All")
    found = re.search(r"AADSTS(\d+)", page.text) if page.status_code >= 400 else None
    if found is not None:
        return Check("Graph permission", False, f"the sign-in page for Graph answers "
                     f"AADSTS{found.group(1)}; fix: {FIXES[65001]}")
    return Check("Graph permission", True, "the tenant's sign-in page accepts Graph "
                 "User.ReadWrite and User.RevokeSessions.All (consent is checked when a user "
                 "signs in; the profile page names it if missing)")


def check_graph(identity: Identity) -> Check:
    """Graph at GRAPH_BASE_URL answers `GET /me` without a token as Graph does: 401
    InvalidAuthenticationToken."""
    url = f"{identity.config.graph_base_url}/me"
    try:
        answer = identity.tenant.http.get(url, allow_redirects=False)
    except requests.RequestException as exc:
        return Check("Graph", False, f"{url}: {failure_cause(exc)}; fix: check GRAPH_BASE_URL")
    try:
        code = answer.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = None
    if answer.status_code != 401 or code != "InvalidAuthenticationToken":
        got = code or "no Graph error"
        return Check("Graph", False, f"{url} answered {answer.status_code} ({got}), not Graph's "
                     "401 InvalidAuthenticationToken; fix: check GRAPH_BASE_URL")
    return Check("Graph", True, f"{url} answers as Microsoft Graph")


def check_api(identity: Identity) -> Check:
    url = api_health_url(identity.config.todolist_api_url)
    try:
        answer = identity.tenant.http.get(url)
    except requests.RequestException as exc:
        return Check("API", False, f"{url}: {failure_cause(exc)}; fix: check TODOLIST_API_URL")
    if answer.status_code != 200:
        return Check("API", False, f"{url} answered {answer.status_code}")
    return Check("API", True, f"{url} answered 200")


TENANT_CHECKS: tuple[tuple[str, Callable[[Identity], Check]], ...] = (
    ("signing keys", check_keys),
    ("sign-in page", check_sign_in_page),
    ("client credential", check_credential),
    ("API scopes", check_api_resource),
    ("Graph permission", check_graph_permission),
)


def run_checks(identity: Identity) -> Iterator[Check]:
    """Every check in order; those needing the tenant are skipped when discovery fails."""
    yield Check("settings", True, f"the web app's settings are valid ({identity.config.authority})")
    discovery = check_discovery(identity)
    yield discovery
    for name, check in TENANT_CHECKS:
        if not discovery.ok:
            yield Check(name, False, "skipped: discovery failed")
            continue
        try:
            yield check(identity)
        except Skip as exc:
            yield Check(name, False, str(exc))
        except ProviderUnavailable as exc:
            yield Check(name, False, exc.log)
    yield check_graph(identity)
    yield check_api(identity)


@click.command("doctor")
def doctor() -> None:
    """Check the settings against the tenant and the API they name."""
    failed = 0
    for check in run_checks(current_identity()):
        click.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        failed += not check.ok
    click.echo(f"{failed} check(s) failed" if failed else "every check passed")
    raise SystemExit(1 if failed else 0)


def init_app(app: Flask) -> None:
    app.cli.add_command(doctor)

