"""The tenant as this process knows it: discovery document, signing keys, MSAL applications.

One `Tenant` per process holds what every request shares: one pooled `HttpClient` (trusting
`CA_FILE`), MSAL's `http_cache`, the discovery document (fetched once; a failure is retried on
the next request) and the key set. MSAL caches every 2xx GET in `http_cache`, so the short-lived
MSAL application built per request around a session's token cache costs no network; the
discovery document is fetched through the same cache, so MSAL finds it there: one discovery
request per process.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from msal.throttled_http_client import ThrottledHttpClient

from app.failures import AppFacts, ProviderUnavailable
from common.http import HttpClient
from common.oidc import DiscoveryError, KeySet, discovery_url, fetch_discovery
from common.settings import is_guid
from config import Config


class Tenant:
    """The External ID tenant named by `config.authority`."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.http = HttpClient(ca_file=config.ca_file, timeout=config.tenant_timeout)
        self.http_cache: dict[Any, Any] = {}
        self._lock = threading.Lock()
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        credential = config.client_credential
        self.facts = AppFacts(
            client_id=config.client_id,
            credential=(
                f"client certificate (thumbprint {credential.get('thumbprint', 'from CERT_FILE')})"
                if isinstance(credential, dict) else "client secret"
            ),
            redirect_uri=config.redirect_uri,
        )

    def discovery(self) -> dict[str, Any]:
        """The tenant's discovery document, fetched once per process (a failure is retried)."""
        doc = self._discovery
        if doc is not None:
            return doc
        with self._lock:
            if self._discovery is None:
                try:
                    cached = ThrottledHttpClient(self.http, http_cache=self.http_cache)
                    self._discovery = fetch_discovery(cached, self.config.authority)
                except DiscoveryError as exc:
                    url = discovery_url(self.config.authority)
                    if isinstance(exc.__cause__, requests.RequestException):
                        raise ProviderUnavailable.network(exc.__cause__, url, "discovery") from exc
                    raise ProviderUnavailable.bad_answer(f"{url}: {exc}", "discovery") from exc
            return self._discovery

    def page_origins(self) -> tuple[str, ...]:
        """The origins of the tenant's pages a form of ours can lead the browser to.

        Signing out is a form POST answered by a redirect to the `end_session_endpoint`, and a
        to-do form may be answered by a redirect to sign in again (`authorization_endpoint`):
        browsers hold those redirects to the page's CSP `form-action`. The origins come from
        the discovery document when this process has it, else from the authority. Never
        fetches: a response's headers must not wait for the tenant.
        """
        doc = self._discovery or {}
        urls = [doc.get("end_session_endpoint"), doc.get("authorization_endpoint")]
        origins = tuple(dict.fromkeys(filter(None, map(_origin, urls))))
        return origins or tuple(filter(None, [_origin(self.config.authority)]))

    def keys(self) -> KeySet:
        doc = self.discovery()
        with self._lock:
            if self._keys is None:
                refresh = self.config.jwks_min_refresh_seconds
                self._keys = KeySet(self.http, doc["jwks_uri"], refresh)
            return self._keys

    def tenant_id(self) -> str | None:
        """The configured tenant GUID, or the one the discovered issuer names."""
        if self.config.tenant_id:
            return self.config.tenant_id
        first = urlsplit(self.discovery()["issuer"]).path.strip("/").split("/")[0]
        return first if is_guid(first) else None

    def msal_app(
        self, cache: msal.SerializableTokenCache | None = None
    ) -> msal.ConfidentialClientApplication:
        """An MSAL application around `cache` (MSAL's discovery GET comes from `http_cache`)."""
        self.discovery()
        try:
            return msal.ConfidentialClientApplication(
                self.config.client_id,
                client_credential=self.config.client_credential,
                authority=self.config.authority,
                token_cache=cache or msal.SerializableTokenCache(),
                http_client=self.http,
                http_cache=self.http_cache,
                instance_discovery=False,
                # Claims challenges are handled (app.user_calls): tokens may carry CAE's events.
                client_capabilities=["CP1"],
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable.network(
                exc, discovery_url(self.config.authority), "discovery"
            ) from exc
        except ValueError as exc:
            raise ProviderUnavailable.bad_answer(
                f"MSAL cannot use the tenant's configuration ({exc})", "discovery"
            ) from exc


def _origin(url: object) -> str | None:
    """`https://host[:port]` of an http(s) URL, else None."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a port number
        return None
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        return None
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}"
