"""The tenant's public URLs, including the "ciamlogin host mode".

Normally the tenant announces https://localhost:<port>/<tenant-id>/... (and its browser pages
on http://localhost:<pages-port>). A request whose Host header is `<sub>.ciamlogin.com` (tests
route that host here) gets External ID's real layout: endpoints on
https://<sub>.ciamlogin.com/<tenant-id>/... and the issuer https://<tid>.ciamlogin.com/<tid>/v2.0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import current_app, request

if TYPE_CHECKING:
    from devtenant.store import TenantStore

CIAM_SUFFIX = ".ciamlogin.com"


def _store() -> TenantStore:
    return current_app.extensions["devtenant"].store


def ciam_host() -> str | None:
    """The `<sub>.ciamlogin.com` host the request addressed, with its port unless it is 443
    (so endpoints announced on a non-default port stay reachable); None in the normal layout."""
    name, _, port = (request.host or "").lower().partition(":")  # never an IPv6 literal here
    if not name.endswith(CIAM_SUFFIX):
        return None
    return name if port in ("", "443") else f"{name}:{port}"


def issuer_for() -> str:
    store = _store()
    if ciam_host():
        return f"https://{store.tenant_id}{CIAM_SUFFIX}/{store.tenant_id}/v2.0"
    return f"{store.https_url}/{store.tenant_id}/v2.0"


def bases() -> tuple[str, str]:
    """(server-to-server base, browser pages base), each with the tenant id as first segment."""
    store = _store()
    host = ciam_host()
    if host:
        base = f"https://{host}/{store.tenant_id}"
        return base, base
    return f"{store.https_url}/{store.tenant_id}", f"{store.pages_url}/{store.tenant_id}"


def discovery_document() -> dict[str, Any]:
    store = _store()
    api_base, pages_base = bases()
    return {
        "token_endpoint": f"{api_base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{api_base}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer_for(),
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{pages_base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{api_base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{pages_base}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
            "oid",
            "sid",
        ],
        "kerberos_endpoint": f"{api_base}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
        "tenant_name": store.tenant_name,
    }


def token_endpoint_audiences() -> list[str]:
    """Every URL a client may put in a client assertion's `aud` for our token endpoint."""
    store = _store()
    hosts = {f"localhost:{store.port}", f"127.0.0.1:{store.port}", request.host}
    return [
        f"https://{host}/{tenant}/oauth2/v2.0/token"
        for host in hosts
        for tenant in (store.tenant_id, store.tenant_name)
    ]


GRAPH_PREFIX = "/graph/v1.0"  # where the tenant serves its Microsoft Graph (https port)


def graph_base_url(store: TenantStore) -> str:
    """Microsoft Graph's base URL as the tenant serves it (`GRAPH_BASE_URL` of `env`)."""
    return f"{store.https_url}{GRAPH_PREFIX}"


def graph_base() -> str:
    """The Graph base URL of this request's layout (the ciamlogin host in that mode)."""
    host = ciam_host()
    return f"https://{host}{GRAPH_PREFIX}" if host else graph_base_url(_store())


def issuers() -> list[str]:
    """Every issuer the tenant's tokens may carry: the normal one and the ciamlogin one."""
    store = _store()
    tid = store.tenant_id
    return [f"{store.https_url}/{tid}/v2.0", f"https://{tid}{CIAM_SUFFIX}/{tid}/v2.0"]
