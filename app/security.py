"""Browser-facing protections: CSRF tokens on every form, the hosts the app answers to, and
protective response headers.

`csrf` protects every POST/PUT/PATCH/DELETE: forms carry `csrf_token()` in a hidden field,
browser code sends the token from `<meta name="csrf-token">` in an `X-CSRFToken` header.

`TRUSTED_HOSTS` (setting) becomes Flask's `TRUSTED_HOSTS`: a request whose `Host` (as WSGI sees
it: behind a proxy, the forwarded host only with `TRUSTED_PROXY_HOPS`) is not one of them is
answered 400 by `app.errors`, before anything can build an address from it. A path
`REDIRECT_URI` or `POST_LOGOUT_REDIRECT_URI` is refused at start-up without it (config.py).

Headers: a Content-Security-Policy whose `form-action` allows this site and the tenant's pages
(sign-out is a form POST answered by a redirect to the tenant, and browsers hold redirects of
a form submission to `form-action`), and `Strict-Transport-Security` on responses to https
requests (as WSGI sees them).
"""

from __future__ import annotations

import functools

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

from app.identity import current_identity
from config import Config

csrf = CSRFProtect()

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # `same-origin`, not `no-referrer`: Flask-WTF checks the Referer of form posts over https.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@functools.lru_cache(maxsize=8)
def content_security_policy(tenant_origins: tuple[str, ...]) -> str:
    """The CSP for pages whose forms may lead to the tenant's pages at `tenant_origins`."""
    sources = " ".join(["'self'", *tenant_origins])
    return f"{CONTENT_SECURITY_POLICY}; form-action {sources}"


def _add_headers(response: Response) -> Response:
    origins = current_identity().tenant.page_origins()
    response.headers.setdefault("Content-Security-Policy", content_security_policy(origins))
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    if not request.path.startswith("/static/"):
        # Pages show personal data; no shared or back-button cache may keep them.
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    config: Config = app.config["WEB_CONFIG"]
    if config.trusted_hosts:
        app.config["TRUSTED_HOSTS"] = list(config.trusted_hosts)
    csrf.init_app(app)
    app.after_request(_add_headers)
