"""The configuration real users run: `TENANT_SUBDOMAIN=contoso`, no `AUTHORITY`.

The app's MSAL then talks to `https://contoso.ciamlogin.com/`. This machine cannot reach
Microsoft, so a test-only transport adapter, mounted on the app's HTTP session (and on the
test's browser), routes that host name to a local tenant named `contoso.onmicrosoft.com`.
TLS verification stays on: the connection goes to 127.0.0.1, but the certificate is checked
against the local CA for the name `contoso.ciamlogin.com` (the tenant's leaf certificate covers
`*.ciamlogin.com`), and the request carries `Host: contoso.ciamlogin.com`, which switches the
tenant to External ID's real URL layout and issuer.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.fixtures.tenant import RunningTenant, running_tenant
from tests.fixtures.web import LiveWeb
from tests.support.person import Person

HOST = "contoso.ciamlogin.com"
DISCOVERY = f"https://{HOST}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"


class RouteHostAdapter(HTTPAdapter):
    """Sends `https://<hostname>/...` to `127.0.0.1:<port>`, verifying TLS for `<hostname>`."""

    def __init__(self, hostname: str, port: int) -> None:
        self.hostname = hostname
        self.port = port
        super().__init__()

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):  # type: ignore[no-untyped-def]
        assert isinstance(verify, str), "the test trusts the local CA file, nothing else"
        return self.poolmanager.connection_from_host(
            "127.0.0.1",
            self.port,
            scheme="https",
            pool_kwargs={
                "cert_reqs": "CERT_REQUIRED",
                "ca_certs": verify,
                "server_hostname": self.hostname,
                "assert_hostname": self.hostname,
            },
        )

    def add_headers(self, request: requests.PreparedRequest, **kwargs: Any) -> None:
        request.headers["Host"] = self.hostname


@pytest.fixture(scope="module")
def contoso_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTenant]:
    """A local tenant of its own, named contoso.onmicrosoft.com."""
    root = tmp_path_factory.mktemp("contoso-tenant")
    with running_tenant(root, name="contoso.onmicrosoft.com") as running:
        yield running


def test_tenant_subdomain_signs_in_through_contoso_ciamlogin_com(
    contoso_tenant: RunningTenant, tmp_path: Path
) -> None:
    settings = {k: v for k, v in contoso_tenant.env("web").items() if k != "AUTHORITY"}
    settings["TENANT_SUBDOMAIN"] = "contoso"
    route = RouteHostAdapter(HOST, int(contoso_tenant.https_url.rsplit(":", 1)[1]))
    with LiveWeb(settings, tmp_path / "instance") as web:
        assert web.config.authority == "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
        requested: list[str] = []
        web.identity.tenant.http.hooks["response"].append(
            lambda resp, **_: requested.append(f"{resp.request.method} {resp.request.url}")
        )
        web.identity.tenant.http.mount(f"https://{HOST}/", route)
        browser = Person(web.url, contoso_tenant.ca_file)
        browser.http.mount(f"https://{HOST}/", route)
        user = contoso_tenant.add_user()

        auth_uri = browser.start("/auth/signin", next="/users/id")
        assert auth_uri.startswith(f"https://{HOST}/{contoso_tenant.tenant_id}/oauth2/v2.0/authorize?")
        assert requested == [f"GET {DISCOVERY}"]
        resp = browser.deliver(browser.tenant.sign_in(auth_uri, user.email, user.password))
        assert resp.status_code == 302, resp.text
        assert resp.headers["Location"] == "/users/id"

        tid = contoso_tenant.tenant_id
        assert requested == [
            f"GET {DISCOVERY}",
            f"POST https://{HOST}/{tid}/oauth2/v2.0/token",
            f"GET https://{HOST}/{tid}/discovery/v2.0/keys",
        ]
        page = browser.get("/users/id").text
        assert f"https://{tid}.ciamlogin.com/{tid}/v2.0" in page  # External ID's issuer
        assert user.oid in page

        out = browser.sign_out()
        assert out.headers["Location"].startswith(f"https://{HOST}/{tid}/oauth2/v2.0/logout?")


def test_the_adapter_keeps_tls_verification_on(contoso_tenant: RunningTenant) -> None:
    """Without the local CA the routed connection fails: nothing here trusts blindly."""
    from common.http import HttpClient

    route = RouteHostAdapter(HOST, int(contoso_tenant.https_url.rsplit(":", 1)[1]))
    other_ca = HttpClient(ca_file=str(Path(requests.certs.where())))
    other_ca.mount(f"https://{HOST}/", route)
    with pytest.raises(requests.exceptions.SSLError):
        other_ca.get(DISCOVERY)
    trusted = HttpClient(ca_file=contoso_tenant.ca_file)
    trusted.mount(f"https://{HOST}/", route)
    assert trusted.get(DISCOVERY).json()["issuer"].endswith(".ciamlogin.com/"
                                                            f"{contoso_tenant.tenant_id}/v2.0")
