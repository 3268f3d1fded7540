"""The "ciamlogin host mode": requests for <sub>.ciamlogin.com get External ID's real layout."""

from __future__ import annotations

from urllib.parse import urlsplit

import jwt
import msal
import pytest

from common.http import HttpClient
from tests.devtenant.helpers import REDIRECT_URI, RouteHostAdapter
from tests.fixtures.tenant import running_tenant
from tests.support.browser import FormBrowser


@pytest.fixture
def ciam(tenant):
    sub = tenant.tenant_name.split(".")[0]
    host = f"{sub}.ciamlogin.com"
    port = urlsplit(tenant.https_url).port
    http = HttpClient(ca_file=tenant.ca_file)
    http.mount(f"https://{host}", RouteHostAdapter(port))
    yield host, http
    http.close()


def test_discovery_and_tokens_use_the_ciamlogin_layout(tenant, tenant_reset, ciam):
    host, http = ciam
    doc = http.get(
        f"https://{host}/{tenant.tenant_name}/v2.0/.well-known/openid-configuration"
    ).json()
    issuer = f"https://{tenant.tenant_id}.ciamlogin.com/{tenant.tenant_id}/v2.0"
    assert doc["issuer"] == issuer
    assert doc["token_endpoint"] == f"https://{host}/{tenant.tenant_id}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"https://{host}/{tenant.tenant_id}/discovery/v2.0/keys"

    env = tenant.env("daemon")
    app = msal.ConfidentialClientApplication(
        env["CLIENT_ID"],
        client_credential=env["CLIENT_SECRET"],
        authority=f"https://{host}/",  # MSAL's CIAM form: no instance discovery needed
        http_client=http,
    )
    result = app.acquire_token_for_client([env["SCOPES"] + "/.default"])
    assert "access_token" in result, result
    keys = jwt.PyJWKSet.from_dict(http.get(doc["jwks_uri"]).json())
    kid = jwt.get_unverified_header(result["access_token"])["kid"]
    claims = jwt.decode(
        result["access_token"],
        next(k for k in keys.keys if k.key_id == kid),
        algorithms=["RS256"],
        audience=tenant.env("api")["CLIENT_ID"],
        issuer=issuer,
    )
    assert claims["tid"] == tenant.tenant_id


def test_auth_code_through_the_ciamlogin_host(tenant, tenant_reset, ciam):
    host, http = ciam
    user = tenant.add_user()
    env = tenant.env("web")
    app = msal.ConfidentialClientApplication(
        env["CLIENT_ID"],
        client_credential=env["CLIENT_SECRET"],
        authority=f"https://{host}/",
        http_client=http,
    )
    flow = app.initiate_auth_code_flow([env["TODOLIST_READ"]], redirect_uri=REDIRECT_URI)
    assert flow["auth_uri"].startswith(f"https://{host}/{tenant.tenant_id}/oauth2/v2.0/authorize")
    browser = FormBrowser(tenant.ca_file)
    browser.http.mount(f"https://{host}", RouteHostAdapter(urlsplit(tenant.https_url).port))
    back = browser.sign_in(flow["auth_uri"], user.email, user.password)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert "id_token" in result, result
    assert result["id_token_claims"]["iss"] == (
        f"https://{tenant.tenant_id}.ciamlogin.com/{tenant.tenant_id}/v2.0"
    )


def test_a_tenant_of_its_own_with_a_chosen_name(tmp_path):
    with running_tenant(tmp_path, name="contoso.onmicrosoft.com") as own:
        assert own.tenant_name == "contoso.onmicrosoft.com"
        http = HttpClient(ca_file=own.ca_file)
        http.mount("https://contoso.ciamlogin.com", RouteHostAdapter(urlsplit(own.https_url).port))
        doc = http.get(
            "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        ).json()
        assert doc["issuer"] == f"https://{own.tenant_id}.ciamlogin.com/{own.tenant_id}/v2.0"
        http.close()


def test_a_non_default_port_is_kept_in_the_ciamlogin_layout(tenant, tenant_reset, ciam):
    """An authority `https://<sub>.ciamlogin.com:<port>/` (a test proxy, a custom domain
    on another port) gets endpoints on that port, so MSAL's next requests reach it."""
    host, http = ciam
    port = urlsplit(tenant.https_url).port
    doc = http.get(
        f"https://{host}:{port}/{tenant.tenant_name}/v2.0/.well-known/openid-configuration"
    ).json()
    base = f"https://{host}:{port}/{tenant.tenant_id}"
    assert doc["token_endpoint"] == f"{base}/oauth2/v2.0/token"
    assert doc["jwks_uri"] == f"{base}/discovery/v2.0/keys"
    assert doc["authorization_endpoint"] == f"{base}/oauth2/v2.0/authorize"
    assert doc["end_session_endpoint"] == f"{base}/oauth2/v2.0/logout"
    assert doc["issuer"] == f"https://{tenant.tenant_id}.ciamlogin.com/{tenant.tenant_id}/v2.0"
    on_443 = http.get(
        f"https://{host}:443/{tenant.tenant_name}/v2.0/.well-known/openid-configuration"
    ).json()
    assert on_443["token_endpoint"] == f"https://{host}/{tenant.tenant_id}/oauth2/v2.0/token"

    env = tenant.env("daemon")
    app = msal.ConfidentialClientApplication(
        env["CLIENT_ID"],
        client_credential=env["CLIENT_SECRET"],
        authority=f"https://{host}:{port}/",
        http_client=http,
    )
    assert "access_token" in app.acquire_token_for_client([env["SCOPES"] + "/.default"])
    assert tenant.admin.counts()["token"]["client_credentials"] == 1
