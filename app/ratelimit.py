"""Rate limits (Flask-Limiter) on what an anonymous visitor can start: signing in or up.

Each client address may start `SIGNIN_RATE_LIMIT` sign-ins and sign-ups together (default
20 per minute); behind a trusted proxy the address is the forwarded one (`TRUSTED_PROXY_HOPS`
lets ProxyFix set it). Counts live in Redis when `REDIS_URL` is set, so every instance shares
them, and in memory otherwise. Over the limit: 429 with `Retry-After` and a page that says when
to try again.
"""

from __future__ import annotations

import math
import time
from typing import Any, cast

from flask import Flask, Response
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from app import messages
from app.errors import error_page
from config import Config

LIMITED_ENDPOINTS = ("auth.signin", "auth.signup")


def storage_uri(config: Config) -> str:
    """Flask-Limiter's storage for the app's settings (the `limits` package's URI schemes)."""
    if not config.redis_url:
        return "memory://"
    if config.redis_url.startswith("unix://"):
        return "redis+unix://" + config.redis_url.removeprefix("unix://")
    return config.redis_url


def init_app(app: Flask, config: Config) -> Limiter:
    # Flask-Limiter's own headers would put Retry-After on every answer of a limited route;
    # only the refusal gets one, with the seconds until this client's window ends.
    limiter = Limiter(
        get_remote_address,
        app=app,
        storage_uri=storage_uri(config),
        headers_enabled=False,
        strategy="fixed-window",
    )

    def too_many(exc: RateLimitExceeded) -> Response:
        window = exc.limit.limit.get_expiry()
        current = limiter.current_limit
        reset_at = current.reset_at if current else time.time() + window
        seconds = min(window, max(1, math.ceil(reset_at - time.time())))
        response = error_page(429, messages.TOO_MANY_SIGN_INS.format(exc.limit.limit, seconds))
        response.headers["Retry-After"] = str(seconds)
        return response

    shared = limiter.shared_limit(config.signin_rate_limit, scope="sign-in")
    for endpoint in LIMITED_ENDPOINTS:
        # The decorated view checks the limit itself (Flask-Limiter's request hook skips it).
        app.view_functions[endpoint] = cast(Any, shared(app.view_functions[endpoint]))
    app.register_error_handler(RateLimitExceeded, too_many)
    return limiter
