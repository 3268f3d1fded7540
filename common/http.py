"""Outbound HTTP: one pooled session per process, default timeouts, explicit TLS trust."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)


class HttpClient(requests.Session):
    """A `requests.Session` with connection pooling, a default timeout and explicit trust.

    `trust_env` is off because `requests` lets `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` from the
    environment override `verify`; trust must come from `ca_file` (or the system store when
    it is None), never from whatever the environment happens to say. Verification is never off.
    """

    def __init__(
        self,
        ca_file: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        pool_maxsize: int = 32,
    ) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = ca_file or True
        self.timeout = timeout
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=pool_maxsize, max_retries=0)
        self.mount("https://", adapter)
        self.mount("http://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        # MSAL passes timeout=None explicitly when it has none configured: treat it as "default".
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)
