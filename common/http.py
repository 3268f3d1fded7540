"""Outbound HTTP: one pooled session per process, default timeouts, explicit TLS trust."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import requests
import urllib3.exceptions
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

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]  # narrower than Session's str | bytes: we only send str
        # MSAL passes timeout=None explicitly when it has none configured: treat it as "default".
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception it wraps (causes, contexts, urllib3's `reason`, arguments)."""
    found: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None),
                 *current.args]
        stack.extend(e for e in inner if isinstance(e, BaseException))
    return found


def failure_cause(exc: BaseException) -> str:
    """Which of the usual network failures `exc` (requests or urllib3) is, in a few words.

    requests and urllib3 wrap the real cause several layers deep (a DNS failure is a
    `ConnectionError` around a `MaxRetryError` around a `NameResolutionError`); the log must
    name the real one, so the most specific cause found anywhere in the chain wins.
    """
    chain = _chain(exc)

    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    if has(ssl.SSLCertVerificationError):
        return "TLS verification failed"
    if has(socket.gaierror, urllib3.exceptions.NameResolutionError):
        return "DNS lookup failed"
    if has(ConnectionRefusedError):
        return "connection refused"
    if has(TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError):
        return "timed out"
    if has(ssl.SSLError, urllib3.exceptions.SSLError):
        return "TLS handshake failed"
    return f"connection failed ({type(exc).__name__})"


def is_timeout(exc: BaseException) -> bool:
    return failure_cause(exc) == "timed out"
