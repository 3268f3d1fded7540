"""`/healthz` (the process answers) and `/readyz` (it can serve users), both JSON, no session.

`/readyz` checks, each with a short timeout, and answers 200 only when all pass (503 otherwise;
a load balancer takes the instance out of rotation meanwhile):
- `session_store`: Redis answers PING (or the session directory takes a write), and so does the
  token store;
- `tenant`: the tenant's discovery document is loaded (fetched now if it was not yet);
- `api`: the ToDoList API's `/healthz` answers 200.

Probes are cheap: a result is reused for `READYZ_CACHE_SECONDS` (default 5), so however many
probes arrive, each process checks its dependencies at most once per window (concurrent probes
wait for the one check under way). What failed is named in the log, once per check, and in the
answer only to a loopback caller (as WSGI sees it: behind a proxy, the forwarded address with
`TRUSTED_PROXY_HOPS`); anyone else gets `{"status": "fail"}`.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from urllib.parse import urlsplit

import redis
import requests
from cachelib.file import FileSystemCache
from flask import Blueprint, Flask, Response, current_app, jsonify, request

from app.failures import ProviderUnavailable
from app.identity import current_identity
from common.http import HttpClient, failure_cause
from config import Config

bp = Blueprint("health", __name__)
PROBE_TIMEOUT = (1.0, 2.0)
EXTENSION = "health"

Checks = dict[str, str | None]  # check name -> why it failed (None: it passed)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


class Readiness:
    """The checks of one app, each result reused for `max_age` seconds."""

    def __init__(self, store: redis.Redis | FileSystemCache, config: Config) -> None:
        self.store = store
        self.max_age = config.readyz_cache_seconds
        self.api_health_url = api_health_url(config.todolist_api_url)
        self.http = HttpClient(ca_file=config.ca_file, timeout=PROBE_TIMEOUT)
        self._lock = threading.Lock()
        self._result: Checks | None = None
        self._checked_at = 0.0

    def checks(self) -> Checks:
        """The latest result, checked again when it is older than `max_age`."""
        with self._lock:  # one check at a time; the probes waiting for it share its result
            if self._result is None or time.monotonic() - self._checked_at >= self.max_age:
                self._result = {
                    "session_store": self._session_store(),
                    "tenant": self._tenant(),
                    "api": self._api(),
                }
                self._checked_at = time.monotonic()
                failed = {name: why for name, why in self._result.items() if why is not None}
                if failed:
                    current_app.logger.warning(
                        "not ready: %s", "; ".join(f"{n}: {why}" for n, why in failed.items())
                    )
            return self._result

    def _session_store(self) -> str | None:
        try:
            if isinstance(self.store, redis.Redis):
                self.store.ping()
            elif not self.store.set("readyz", "1", timeout=60):
                return "the session directory is not writable"
            current_identity().tokens.ping()
        except (redis.exceptions.RedisError, OSError) as exc:
            return f"unreachable ({type(exc).__name__})"
        return None

    @staticmethod
    def _tenant() -> str | None:
        try:
            current_identity().tenant.discovery()
        except ProviderUnavailable as exc:
            return exc.log
        return None

    def _api(self) -> str | None:
        try:
            resp = self.http.get(self.api_health_url)
        except requests.RequestException as exc:
            return f"{self.api_health_url}: {failure_cause(exc)}"
        ok = resp.status_code == 200
        return None if ok else f"{self.api_health_url} answered {resp.status_code}"


def api_health_url(todolist_url: str) -> str:
    """`https://host:port/healthz` for the API at `https://host:port/api/todolist`."""
    parts = urlsplit(todolist_url)
    return f"{parts.scheme}://{parts.netloc}/healthz"


def _from_loopback() -> bool:
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:  # a Unix socket, or no address at all
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


@bp.get("/readyz")
def readyz() -> Response:
    readiness: Readiness = current_app.extensions[EXTENSION]
    checks = readiness.checks()
    failed = any(why is not None for why in checks.values())
    body: dict[str, object] = {"status": "fail" if failed else "ok"}
    if _from_loopback():
        body["checks"] = {name: why or "ok" for name, why in checks.items()}
    response = jsonify(body)
    response.status_code = 503 if failed else 200
    return response


def init_app(app: Flask, session_store: redis.Redis | FileSystemCache) -> None:
    """`/readyz` checks `session_store` (the one the sessions use) and the app's settings."""
    app.extensions[EXTENSION] = Readiness(session_store, app.config["WEB_CONFIG"])
