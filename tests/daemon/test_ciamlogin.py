"""TENANT_SUBDOMAIN: the daemon's token request in External ID's own layout (`<sub>.ciamlogin.com`).

No name resolves to ciamlogin.com here, so this runs the daemon's modules in the test process
with an HTTP client that routes `<sub>.ciamlogin.com` to the local tenant (TLS still verified
against that name); the tenant then serves discovery and tokens as External ID does.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import jwt

from common.http import HttpClient
from daemon.auth import TokenProvider
from daemon.config import Config
from tests.devtenant.helpers import RouteHostAdapter


def test_tenant_subdomain_gets_a_token_from_the_ciamlogin_host(tenant_reset) -> None:
    tenant = tenant_reset
    sub = tenant.tenant_name.split(".")[0]
    settings = {k: v for k, v in tenant.env("daemon").items() if k != "AUTHORITY"}
    config = Config.from_mapping({**settings, "TENANT_SUBDOMAIN": sub})
    assert config.authority == f"https://{sub}.ciamlogin.com/{tenant.tenant_name}"
    port = urlsplit(tenant.https_url).port
    with HttpClient(ca_file=config.ca_file) as http:
        http.mount(f"https://{sub}.ciamlogin.com", RouteHostAdapter(port))
        token, cached = TokenProvider(config, http).acquire()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert not cached
    assert claims["iss"] == f"https://{tenant.tenant_id}.ciamlogin.com/{tenant.tenant_id}/v2.0"
    assert claims["aud"] == tenant.env("api")["CLIENT_ID"]
    assert sorted(claims["roles"]) == ["ToDoList.Read.All", "ToDoList.ReadWrite.All"]
    assert tenant.admin.counts()["token"]["client_credentials"] == 1
