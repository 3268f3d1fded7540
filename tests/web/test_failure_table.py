"""Every row of docs/web.md's failure table, end to end: the real MSAL against the local tenant.

Each test makes one real misconfiguration or outage (a name the tenant does not know, a wrong
or expired secret, a certificate it never saw, a tenant that cannot be reached in one of four
ways) and asserts what the person sees (status, the page's words) and the one log line that
names the real cause (URL or setting, and the provider's AADSTS code).
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests

from app import create_app
from tests.daemon.keys import write_key_and_cert
from tests.fixtures.web import LiveWeb
from tests.support.browser import Redirect
from tests.support.person import Person
from tests.support.ports import free_port
from tests.web.upstreams import HangingServer, ScriptedServer

MISCONFIGURED = "This app is not set up correctly"
UNAVAILABLE = "The sign-in service is unavailable"


def page_text(resp: requests.Response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", resp.text))


def assert_page(resp: requests.Response, status: int, title: str) -> None:
    assert resp.status_code == status, resp.text[:500]
    assert title in page_text(resp)
    assert "Traceback" not in resp.text


def the_log_line(caplog: pytest.LogCaptureFixture, *parts: str) -> str:
    """The one warning-or-worse line of the app's log that names every part."""
    lines = [r.getMessage() for r in caplog.records
             if r.name.startswith("app") and r.levelno >= logging.WARNING]
    matching = [line for line in lines if all(part in line for part in parts)]
    assert len(matching) == 1, f"want one line naming {parts}, the log has: {lines}"
    return matching[0]


@pytest.fixture
def web_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO):
        yield caplog


# --- the tenant cannot be reached --------------------------------------------------------------


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    with HangingServer() as server:
        yield server


@pytest.mark.parametrize(("cause", "status"), [
    ("DNS lookup failed", 503),
    ("connection refused", 503),
    ("TLS verification failed", 503),
    ("timed out", 504),
])
def test_an_unreachable_tenant_is_named_with_its_url_and_which_failure(
    web_app: Any, tenant: Any, hanging: HangingServer, web_log: pytest.LogCaptureFixture,
    cause: str, status: int,
) -> None:
    authority = {
        "DNS lookup failed": f"https://tenant.invalid/{tenant.tenant_id}",
        "connection refused": f"https://localhost:{free_port()}/{tenant.tenant_id}",
        "TLS verification failed": tenant.authority,
        "timed out": f"https://localhost:{hanging.port}/{tenant.tenant_id}",
    }[cause]
    # certifi's bundle does not hold the local tenant's CA: its certificate fails to verify.
    ca_file = certifi.where() if cause == "TLS verification failed" else tenant.ca_file
    web = web_app(AUTHORITY=authority, CA_FILE=ca_file, TENANT_TIMEOUT="0.5")
    resp = Person(web.url, tenant.ca_file).get("/auth/signin")
    assert_page(resp, status, UNAVAILABLE)
    url = f"{authority}/v2.0/.well-known/openid-configuration"
    line = the_log_line(web_log, url, cause)
    assert line.startswith("sign-in service unreachable during discovery")


# --- the tenant refuses this app's settings ------------------------------------------------------


def the_tenants_error_page(web: LiveWeb, tenant: Any) -> str:
    """Start signing in: the tenant refuses with its own page (400), whose text is returned."""
    browser = Person(web.url, tenant.ca_file)
    page = browser.http.get(browser.start(), allow_redirects=False)
    assert page.status_code == 400
    return page_text(page)


def signed_in(web: LiveWeb, tenant: Any) -> Person:
    browser = Person(web.url, tenant.ca_file)
    assert browser.sign_in(tenant.add_user()).status_code == 302
    return browser


@pytest.mark.parametrize(("scope_of", "code"), [
    (lambda api: f"{api['app_id_uri']}/ToDoList.Typo", 70011),
    (lambda api: f"api://{uuid.uuid4()}/ToDoList.Read", 500011),
])
def test_a_scope_the_tenant_does_not_know_is_a_misconfiguration_not_an_outage(
    web_app: Any, tenant: Any, web_log: pytest.LogCaptureFixture, scope_of: Any, code: int,
) -> None:
    scope = scope_of(tenant.registrations["api"])
    web = web_app(TODOLIST_READ=scope)
    browser = signed_in(web, tenant)
    page = browser.get("/todos")
    assert_page(page, 500, MISCONFIGURED)
    assert "cannot be reached" not in page_text(page)
    the_log_line(web_log, f"scope {scope} is not known to the tenant", f"AADSTS{code}")
    answer = browser.get("/api/todolist")
    assert answer.status_code == 500
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json()["title"] == MISCONFIGURED


def test_a_scope_the_tenant_does_not_know_at_sign_in_is_a_misconfiguration(
    web_app: Any, tenant: Any, web_log: pytest.LogCaptureFixture,
) -> None:
    scope = f"{tenant.registrations['api']['app_id_uri']}/ToDoList.Typo"
    web = web_app(TODOLIST_READ=scope)
    browser = Person(web.url, tenant.ca_file)
    # The tenant refuses the scope before it asks who you are, as Entra does.
    back = browser.tenant.open(browser.start(scope=scope))
    assert isinstance(back, Redirect)
    assert back.params["error_description"].startswith("AADSTS650053:")
    assert_page(browser.deliver(back), 500, MISCONFIGURED)
    line = the_log_line(web_log, f"scope {scope} is not known", "AADSTS650053", "authorization")
    assert "Trace ID" not in line


def test_an_unknown_client_id_is_shown_by_the_tenant_at_sign_in(
    web_app: Any, tenant: Any
) -> None:
    client_id = str(uuid.uuid4())
    page = the_tenants_error_page(web_app(CLIENT_ID=client_id), tenant)
    assert f"AADSTS700016: Application with identifier '{client_id}'" in page


def test_an_app_deleted_from_the_tenant_is_a_misconfiguration(
    web_app: Any, tenant_reset: Any, web_log: pytest.LogCaptureFixture,
) -> None:
    reg = tenant_reset.admin.add_client("web", consented_scopes=tenant_reset.env("web")[
        "TODOLIST_READ"].split())
    web = web_app(CLIENT_ID=reg["client_id"], CLIENT_SECRET=reg["client_secret"])
    browser = signed_in(web, tenant_reset)
    tenant_reset.admin.remove_client(reg["client_id"])
    assert_page(browser.get("/todos"), 500, MISCONFIGURED)
    the_log_line(web_log, f"client id {reg['client_id']} is not registered", "AADSTS700016")


def test_a_wrong_client_secret_is_a_misconfiguration_named_in_the_log(
    web_app: Any, tenant: Any, web_log: pytest.LogCaptureFixture,
) -> None:
    web = web_app(CLIENT_SECRET="not-the-secret-" + uuid.uuid4().hex)
    browser = Person(web.url, tenant.ca_file)
    resp = browser.sign_in(tenant.add_user(), next="/users/id")
    assert_page(resp, 500, MISCONFIGURED)
    assert 'href="/auth/signin">Sign in again' in resp.text
    line = the_log_line(web_log, "the client secret is wrong", "AADSTS7000215")
    assert "not-the-secret" not in line
    assert browser.get("/users/id").status_code == 302  # nobody was signed in


def test_an_expired_client_secret_is_a_misconfiguration_named_in_the_log(
    web_app: Any, tenant_reset: Any, web_log: pytest.LogCaptureFixture,
) -> None:
    reg = tenant_reset.admin.add_client("web", consented_scopes=[])
    tenant_reset.admin.expire_secret(reg["client_id"])
    web = web_app(CLIENT_ID=reg["client_id"], CLIENT_SECRET=reg["client_secret"])
    resp = Person(web.url, tenant_reset.ca_file).sign_in(tenant_reset.add_user())
    assert_page(resp, 500, MISCONFIGURED)
    the_log_line(web_log, "the client secret has expired", "AADSTS7000222")


def test_a_certificate_the_tenant_does_not_accept_is_a_misconfiguration(
    web_app: Any, tenant: Any, tmp_path: Path, web_log: pytest.LogCaptureFixture,
) -> None:
    key_file, _, thumbprint = write_key_and_cert(tmp_path, "unregistered")
    web = web_app(CLIENT_SECRET="", CERT_PRIVATE_KEY_FILE=str(key_file),
                  CERT_THUMBPRINT=thumbprint)
    resp = Person(web.url, tenant.ca_file).sign_in(tenant.add_user())
    assert_page(resp, 500, MISCONFIGURED)
    the_log_line(web_log, f"client certificate (thumbprint {thumbprint})",
                 "was not accepted", "AADSTS700027")


def test_a_redirect_uri_not_registered_is_shown_by_the_tenant(
    web_settings: dict[str, str], tenant: Any, tmp_path: Path
) -> None:
    web = LiveWeb(web_settings, tmp_path / "web")
    elsewhere = f"{web.url}/not/registered"
    web.config = dataclasses.replace(web.config, redirect_uri=elsewhere)
    web.app = create_app(web.config)
    with web:
        page = the_tenants_error_page(web, tenant)
    assert f"AADSTS50011: The redirect URI '{elsewhere}'" in page


# --- consent -------------------------------------------------------------------------------------


def test_missing_consent_shows_the_permission_page_and_logs_scope_and_code(
    web_app: Any, tenant_reset: Any, web_log: pytest.LogCaptureFixture,
) -> None:
    settings = tenant_reset.env("web")
    reg = tenant_reset.admin.add_client("web", consented_scopes=[settings["TODOLIST_READ"]])
    web = web_app(CLIENT_ID=reg["client_id"], CLIENT_SECRET=reg["client_secret"])
    browser = signed_in(web, tenant_reset)
    page = browser.post("/todos", {"description": "x", "csrf_token": browser.csrf_token("/")})
    assert_page(page, 403, "Your account lacks permission")
    the_log_line(web_log, f"consent missing for scope {settings['TODOLIST_READWRITE']}",
                 "AADSTS65001")


# --- the ToDoList API ------------------------------------------------------------------------


@pytest.fixture
def upstream() -> Iterator[ScriptedServer]:
    with ScriptedServer(200, [], "application/json") as server:
        yield server


@pytest.mark.parametrize(("status", "body", "ctype", "shown", "logged"), [
    (500, "<h1>oops</h1>", "text/html", 502, "answered 500"),
    (200, "<html>a proxy's login page</html>", "text/html", 502, "answered 200 without JSON"),
    (403, {"title": "Forbidden"}, "application/problem+json", 403, "answered 403"),
])
def test_an_api_failure_is_logged_with_its_url_status_and_request_id(
    web_app: Any, tenant: Any, upstream: ScriptedServer, web_log: pytest.LogCaptureFixture,
    status: int, body: Any, ctype: str, shown: int, logged: str,
) -> None:
    web = web_app(TODOLIST_API_URL=upstream.url)
    browser = signed_in(web, tenant)
    upstream.status, upstream.body, upstream.ctype = status, body, ctype
    page = browser.get("/todos", headers={"X-Request-ID": "row-test-1"})
    assert page.status_code == shown
    assert "Traceback" not in page.text
    the_log_line(web_log, f"to-do API GET {upstream.url}", logged, "request row-test-1")


@pytest.mark.parametrize(("where", "cause", "shown"), [
    ("closed", "connection refused", 503),
    ("hanging", "timed out", 504),
])
def test_an_api_that_cannot_be_reached_is_named_with_its_url_and_cause(
    web_app: Any, tenant: Any, hanging: HangingServer, web_log: pytest.LogCaptureFixture,
    where: str, cause: str, shown: int,
) -> None:
    url = hanging.url if where == "hanging" else f"http://127.0.0.1:{free_port()}/api/todolist"
    web = web_app(TODOLIST_API_URL=url, TODOLIST_API_READ_TIMEOUT="0.5")
    page = signed_in(web, tenant).get("/todos", headers={"X-Request-ID": "row-test-2"})
    assert_page(page, shown, "The to-do service is unavailable.")
    the_log_line(web_log, f"to-do API GET {url}: {cause}", "request row-test-2")


def test_an_api_refusing_every_token_sends_to_sign_in_and_says_why_in_the_log(
    web_app: Any, tenant: Any, upstream: ScriptedServer, web_log: pytest.LogCaptureFixture,
) -> None:
    web = web_app(TODOLIST_API_URL=upstream.url)
    browser = signed_in(web, tenant)
    upstream.status, upstream.body, upstream.ctype = 401, {"title": "no"}, "application/json"
    page = browser.get("/todos", headers={"X-Request-ID": "row-test-3"})
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/auth/signin?")
    assert len(upstream.requests) == 2  # one refresh, one more try
    the_log_line(web_log, f"to-do API GET {upstream.url} answered 401", "again after a refresh",
                 "request row-test-3")
