"""TENANT_SUBDOMAIN: the API in External ID's own layout (`<sub>.ciamlogin.com`).

There the issuer's host (`<tenant-id>.ciamlogin.com`) differs from the authority's; the API
must take the issuer from discovery. No name resolves to ciamlogin.com here, so this runs the
API in the test process (Flask's test client) with an HTTP client that routes
`<sub>.ciamlogin.com` to the local tenant, TLS still verified against that name.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import msal
import pytest

from api import create_app
from api.config import Config
from common.http import HttpClient
from tests.api.tokens import READ_ALL, Tokens, claims_of
from tests.devtenant.helpers import RouteHostAdapter


@pytest.fixture
def ciam_http(tenant) -> Iterator[tuple[HttpClient, str]]:
    sub = tenant.tenant_name.split(".")[0]
    http = HttpClient(ca_file=tenant.ca_file)
    http.mount(f"https://{sub}.ciamlogin.com", RouteHostAdapter(urlsplit(tenant.https_url).port))
    yield http, sub
    http.close()


def test_the_api_validates_tokens_of_the_ciamlogin_layout(
    tenant, tokens: Tokens, ciam_http, tmp_path: Path
) -> None:
    http, sub = ciam_http
    api_env = tenant.env("api")
    env_file = tmp_path / "api.env"
    env_file.write_text(
        f"TENANT_ID={api_env['TENANT_ID']}\nCLIENT_ID={api_env['CLIENT_ID']}\n"
        f"TENANT_SUBDOMAIN={sub}\nCA_FILE={tenant.ca_file}\n"
        f"DATABASE_URL=sqlite:///{tmp_path / 'todolist.sqlite'}\n"
    )
    config = Config.from_env(env_file)
    assert config.authority == f"https://{sub}.ciamlogin.com/{tenant.tenant_name}"
    client = create_app(config, http=http).test_client()

    reg = tenant.admin.add_client("daemon", roles=[READ_ALL])
    daemon = msal.ConfidentialClientApplication(
        reg["client_id"],
        client_credential=reg["client_secret"],
        authority=f"https://{sub}.ciamlogin.com/",
        http_client=http,
    )
    result = daemon.acquire_token_for_client([f"api://{api_env['CLIENT_ID']}/.default"])
    assert "access_token" in result, result
    ciam_token = result["access_token"]
    issuer = f"https://{tenant.tenant_id}.ciamlogin.com/{tenant.tenant_id}/v2.0"
    assert claims_of(ciam_token)["iss"] == issuer

    ok = client.get("/api/todolist", headers={"Authorization": f"Bearer {ciam_token}"})
    assert ok.status_code == 200
    assert ok.json == []
    # The same tenant's token in the localhost layout has another issuer: not for this API.
    local_token = tokens.app(READ_ALL).token
    refused = client.get("/api/todolist", headers={"Authorization": f"Bearer {local_token}"})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
