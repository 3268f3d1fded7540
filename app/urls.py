"""Addresses on this site: local return paths, absolute URLs for the tenant, this request's path."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request


def local_path(value: str | None) -> str | None:
    """`value` if it is a path on this site (`/x?y`), else None: no `//host`, no scheme, no `\\`."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def absolute_url(address: str) -> str:
    """`address` as configured, or for a path (`/auth/redirect`) the URL on this request's host.

    The scheme and host are the request's as WSGI sees them: behind a proxy they are the public
    ones only when `TRUSTED_PROXY_HOPS` lets ProxyFix apply the proxy's forwarded headers.
    """
    if address.startswith("/"):
        return request.host_url.rstrip("/") + address
    return address


def request_path() -> str:
    """The current request's path and query, as a return address."""
    query = request.query_string.decode("latin-1")
    return f"{request.path}?{query}" if query else request.path
