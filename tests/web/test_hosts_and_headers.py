"""The hosts the web app answers to (`TRUSTED_HOSTS`) and the headers that depend on the request:
`Strict-Transport-Security` over https, the CSP's `form-action` naming the tenant's pages.

That Chromium really lets the sign-out form's redirect reach the tenant under this CSP is
checked by `test_auth_browser.py` and `tests/browser/` (they sign out in the browser).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient

from app import create_app
from common.settings import SettingsError
from config import Config
from tests.support.person import Person

HSTS = "max-age=31536000; includeSubDomains"
PATHS = {"REDIRECT_URI": "/auth/redirect", "POST_LOGOUT_REDIRECT_URI": "/"}


def web_client(settings: dict[str, str], tmp_path: Path, **more: str) -> FlaskClient:
    config = Config.load({**settings, **more}, instance_dir=tmp_path / "web-instance")
    return create_app(config).test_client()


def form_action(headers: Any) -> list[str]:
    directives = [d.strip() for d in headers["Content-Security-Policy"].split(";")]
    (found,) = [d for d in directives if d.startswith("form-action ")]
    return found.split()[1:]


def test_trusted_hosts_build_the_redirect_uri_and_others_get_a_400_page(
    web_settings: dict[str, str], tmp_path: Path
) -> None:
    client = web_client(
        web_settings, tmp_path, **PATHS, TRUSTED_HOSTS="todo.example.com, localhost:3000"
    )
    for host, expected in (
        ("todo.example.com", "http://todo.example.com/auth/redirect"),
        ("localhost:3000", "http://localhost:3000/auth/redirect"),
    ):
        resp = client.get("/auth/signin", headers={"Host": host})
        assert resp.status_code == 302, resp.text
        query = parse_qs(urlsplit(resp.headers["Location"]).query)
        assert query["redirect_uri"] == [expected]

    for host in ("evil.example", "todo.example.com.evil.example", "127.0.0.1"):
        page = client.get("/auth/signin", headers={"Host": host})
        assert page.status_code == 400
        assert "Location" not in page.headers
        text = html.unescape(page.text)
        assert "This site is not served at this address" in text
        assert "Traceback" not in text
        signout = client.post("/auth/signout", headers={"Host": host})
        assert signout.status_code == 400
        assert "Location" not in signout.headers
    api = client.get("/api/todolist", headers={"Host": "evil.example"})
    assert api.status_code == 400
    assert api.headers["Content-Type"] == "application/problem+json"
    assert api.get_json()["title"] == "This site is not served at this address"


def test_hsts_is_sent_over_https_only_as_wsgi_sees_it(
    web_settings: dict[str, str], tmp_path: Path
) -> None:
    direct = web_client(web_settings, tmp_path)
    assert direct.get("/", base_url="https://localhost").headers[
        "Strict-Transport-Security"
    ] == HSTS
    assert "Strict-Transport-Security" not in direct.get("/").headers
    forwarded = {"X-Forwarded-Proto": "https"}
    # Not trusted without TRUSTED_PROXY_HOPS: anyone can send the header.
    assert "Strict-Transport-Security" not in direct.get("/", headers=forwarded).headers
    proxied = web_client(web_settings, tmp_path, TRUSTED_PROXY_HOPS="1")
    assert proxied.get("/", headers=forwarded).headers["Strict-Transport-Security"] == HSTS


def test_form_action_allows_this_site_and_the_tenants_pages(
    web_settings: dict[str, str], tenant: Any, tmp_path: Path
) -> None:
    client = web_client(web_settings, tmp_path)
    # Before this process has the discovery document: the authority's origin.
    assert form_action(client.get("/healthz").headers) == ["'self'", tenant.https_url]
    signin = client.get("/auth/signin")  # fetches the discovery document
    assert signin.status_code == 302
    # The sign-in and sign-out pages are on the tenant's (plain http) pages port.
    assert form_action(client.get("/").headers) == ["'self'", tenant.pages_url]


def test_a_signed_in_page_carries_the_policy_its_sign_out_form_needs(
    person: Person, tenant: Any
) -> None:
    person.sign_in(tenant.add_user())
    page = person.get("/users/id")
    assert page.status_code == 200
    assert 'action="/auth/signout"' in page.text
    allowed = form_action(page.headers)
    location = person.sign_out().headers["Location"]
    parts = urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}" in allowed


@pytest.mark.parametrize("hosts", [" , ", "http://todo.example.com", "todo example.com", "*"])
def test_trusted_hosts_must_be_host_names(
    web_settings: dict[str, str], tmp_path: Path, hosts: str
) -> None:
    with pytest.raises(SettingsError, match="TRUSTED_HOSTS must be comma-separated host names"):
        Config.load({**web_settings, **PATHS, "TRUSTED_HOSTS": hosts},
                    instance_dir=tmp_path / "web-instance")
