"""`/healthz` (the process answers) and `/readyz` (it can serve users), both JSON, no session.

`/readyz` checks, each with a short timeout, and answers 200 only when all pass (503 otherwise,
naming the failing ones; a load balancer takes the instance out of rotation meanwhile):
- `session_store`: Redis answers PING (or the session directory is writable), and so does the
  token store;
- `tenant`: the tenant's discovery document is loaded (fetched now if it was not yet);
- `api`: the ToDoList API's `/healthz` answers 200.
Nothing about a failure is cached: every call checks again.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
import requests
from flask import Blueprint, Flask, Response, current_app, jsonify

from app.failures import ProviderUnavailable
from app.identity import current_identity
from common.http import HttpClient
from config import Config

bp = Blueprint("health", __name__)
PROBE_TIMEOUT = (1.0, 2.0)
EXTENSION = "health.http"


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


def _session_store() -> str | None:
    interface: Any = current_app.session_interface
    try:
        client = interface.client
        if isinstance(client, redis.Redis):
            client.ping()
        elif not client.set("readyz", "1", timeout=60):
            return "the session directory is not writable"
        current_identity().tokens.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        return f"unreachable ({type(exc).__name__})"
    return None


def _tenant() -> str | None:
    try:
        current_identity().tenant.discovery()
    except ProviderUnavailable as exc:
        return exc.log
    return None


def api_health_url(todolist_url: str) -> str:
    """`https://host:port/healthz` for the API at `https://host:port/api/todolist`."""
    parts = urlsplit(todolist_url)
    return f"{parts.scheme}://{parts.netloc}/healthz"


def _api() -> str | None:
    config: Config = current_app.config["WEB_CONFIG"]
    http: HttpClient = current_app.extensions[EXTENSION]
    try:
        resp = http.get(api_health_url(config.todolist_api_url))
    except requests.RequestException as exc:
        return f"unreachable ({type(exc).__name__})"
    return None if resp.status_code == 200 else f"answered {resp.status_code}"


@bp.get("/readyz")
def readyz() -> Response:
    checks = {"session_store": _session_store(), "tenant": _tenant(), "api": _api()}
    failed = {name: why for name, why in checks.items() if why is not None}
    body = {
        "status": "fail" if failed else "ok",
        "checks": {name: (failed.get(name) or "ok") for name in checks},
    }
    response = jsonify(body)
    response.status_code = 503 if failed else 200
    return response


def init_app(app: Flask) -> None:
    config: Config = app.config["WEB_CONFIG"]
    app.extensions[EXTENSION] = HttpClient(ca_file=config.ca_file, timeout=PROBE_TIMEOUT)
