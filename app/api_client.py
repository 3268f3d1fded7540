"""The web app's client for the ToDoList API.

Two layers:
- `TodoApiClient` speaks HTTP to the API: one urllib3 connection pool for the API's host per
  process, connect/read timeouts from settings, never a retry (a write that timed out may have
  happened, so only the user decides to send it again) and never a redirect followed, an
  `X-Request-ID` on every call for correlation. TLS is verified against `CA_FILE`, or without
  it against the same bundle `requests` uses (certifi); the environment is not consulted.
  Every way the API can fail is turned into one of the exceptions below.
  It uses urllib3 (the library under `requests`) directly: per call, `requests.Session`'s
  setting merges, request preparation and adapter cost about a fifth of a proxied call's CPU in
  the web app, for nothing this one fixed host needs.
- `call()` adds the user: a token for the operation's scope from the session's cache
  (`TODOLIST_READ` for reads, `TODOLIST_READWRITE` for writes); when the API answers 401 it
  refreshes the token once and tries again, then asks for a sign-in (`SignInRequired`).
"""

from __future__ import annotations

import json as jsonlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from flask import Flask, current_app
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from app.identity import SignInRequired
from common.requestlog import REQUEST_ID_HEADER, request_id

log = logging.getLogger(__name__)

EXTENSION = "todolist_api"
DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_DESCRIPTION_MAX_LENGTH = 500  # the API's documented maximum (docs/api.md)
POOL_MAXSIZE = 32  # kept-alive connections to the API per process (as common.http's pools)

READ = "read"
WRITE = "write"


class TodoApiError(Exception):
    """Base of every failure of a call to the ToDoList API."""

    status = 502
    title = "The to-do service failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ApiUnavailable(TodoApiError):
    """The API could not be used: down, refusing connections, too slow, or answering garbage.

    `status` is what the web app answers in its turn: 503 when nothing answered, 504 when the
    API did not answer in time, 502 when it answered with an error or something not JSON.
    """

    title = "The to-do service is unavailable"

    def __init__(self, detail: str, status: int) -> None:
        super().__init__(detail)
        self.status = status


class ApiAnswer(TodoApiError):
    """The API answered a request with a 4xx status; `body` is its (problem+)JSON if any."""

    def __init__(self, status: int, body: Any, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.body = body


class ApiUnauthorized(ApiAnswer):
    title = "The to-do service did not accept the sign-in"


class ApiForbidden(ApiAnswer):
    title = "Your account lacks permission"


class ApiNotFound(ApiAnswer):
    title = "That item no longer exists"


class ApiRejected(ApiAnswer):
    """400 (or another 4xx): the API refused the request; `detail` is its message for the user."""

    title = "The to-do service refused the input"


_ANSWERS: dict[int, type[ApiAnswer]] = {
    401: ApiUnauthorized,
    403: ApiForbidden,
    404: ApiNotFound,
    400: ApiRejected,
}


@dataclass
class ApiResult:
    """A successful (2xx) answer: its status, parsed JSON body (None when empty), headers,
    and the body's bytes as the API sent them (`raw`, JSON already checked by parsing)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


def _json_body(resp: urllib3.BaseHTTPResponse) -> tuple[bool, Any]:
    """(True, parsed) when the answer carries JSON, (True, None) when empty, else (False, None)."""
    if not resp.data:
        return True, None
    ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype != "application/json" and not ctype.endswith("+json"):
        return False, None
    try:
        return True, jsonlib.loads(resp.data)
    except ValueError:
        return False, None


def _message(body: Any) -> str | None:
    """The human-readable part of an API error body (problem+json `detail`/`title`, or errors)."""
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, dict):
        texts = [m for v in errors.values() for m in (v if isinstance(v, list) else [v])]
        texts = [t for t in texts if isinstance(t, str)]
        if texts:
            return " ".join(texts)
    for key in ("detail", "title", "message", "error_description"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


class TodoApiClient:
    """HTTP calls to the ToDoList API at `base_url` (e.g. https://localhost:44351/api/todolist)."""

    def __init__(
        self,
        base_url: str,
        ca_file: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the to-do API's URL must be http(s)://host/..., not {base_url!r}")
        self.path = parts.path
        options: dict[str, Any] = {}
        if parts.scheme == "https":
            options = {"cert_reqs": "CERT_REQUIRED", "ca_certs": ca_file or DEFAULT_CA_BUNDLE_PATH}
        self.pool = urllib3.connection_from_url(
            self.base_url,
            maxsize=POOL_MAXSIZE,
            retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            **options,
        )

    def url(self, item_id: str | int | None = None) -> str:
        return self.base_url + self._tail(item_id)

    @staticmethod
    def _tail(item_id: str | int | None) -> str:
        return "" if item_id is None else "/" + quote(str(item_id), safe="")

    def request(
        self,
        method: str,
        token: str,
        item_id: str | int | None = None,
        *,
        json: Any = None,
        data: bytes | None = None,
        request_id: str | None = None,
    ) -> ApiResult:
        """One call, never retried. Raises `ApiUnavailable` or an `ApiAnswer` subclass."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if json is not None:
            data = jsonlib.dumps(json, allow_nan=False).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        tail = self._tail(item_id)
        url = self.base_url + tail
        try:
            resp = self.pool.urlopen(
                method, self.path + tail, body=data, headers=headers, redirect=False,
                retries=False,
            )
        except NewConnectionError as exc:
            # urllib3 makes "could not connect" a ConnectTimeoutError too: test for it first.
            raise _unreachable(method, url, exc, request_id) from exc
        except (ConnectTimeoutError, ReadTimeoutError) as exc:
            log.warning("to-do API %s %s timed out (request %s)", method, url, request_id)
            raise ApiUnavailable(
                "The to-do service did not answer in time. Please try again.", 504
            ) from exc
        except SSLError as exc:
            log.warning("to-do API %s %s: TLS failed: %s (request %s)", method, url, exc,
                        request_id)
            raise ApiUnavailable(
                "The to-do service could not be reached securely.", 502
            ) from exc
        except HTTPError as exc:
            raise _unreachable(method, url, exc, request_id) from exc
        return self._result(method, url, resp, request_id)

    def _result(
        self, method: str, url: str, resp: urllib3.BaseHTTPResponse, request_id: str | None
    ) -> ApiResult:
        status = resp.status
        is_json, body = _json_body(resp)
        if status >= 500:
            log.warning("to-do API %s %s answered %s (request %s)", method, url, status, request_id)
            raise ApiUnavailable(
                "The to-do service ran into a problem. Please try again later.",
                status if status in (503, 504) else 502,
            )
        if 200 <= status < 300:
            if not is_json:
                log.warning("to-do API %s %s answered non-JSON %s", method, url, status)
                raise ApiUnavailable("The to-do service gave an answer we cannot read.", 502)
            return ApiResult(status, body, dict(resp.headers), resp.data)
        answer = _ANSWERS.get(status, ApiRejected if 400 <= status < 500 else None)
        if answer is None or (not is_json and status not in (401, 403)):
            # A redirect, or an HTML 404 from something that is not the API: not the contract.
            log.warning("to-do API %s %s answered unexpected %s", method, url, status)
            raise ApiUnavailable("The to-do service gave an answer we cannot read.", 502)
        return_body = body if is_json else None
        raise answer(status, return_body, _message(return_body) or answer.title)


def init_app(app: Flask) -> TodoApiClient | None:
    """The process's API client, created once from the app's settings (`app.extensions`)."""
    if EXTENSION in app.extensions:
        return app.extensions[EXTENSION]
    config = app.config["WEB_CONFIG"]
    if not config.todolist_api_url:
        # The pages then say the to-do service is not configured; sign-in still works.
        app.extensions[EXTENSION] = None
        return None
    connect, read = config.todolist_api_timeout
    api = TodoApiClient(
        config.todolist_api_url,
        ca_file=config.ca_file,
        connect_timeout=connect,
        read_timeout=read,
    )
    app.extensions[EXTENSION] = api
    return api


NOT_CONFIGURED = (
    "The to-do service is not configured (TODOLIST_API_URL, TODOLIST_READ, TODOLIST_READWRITE)."
)


def client() -> TodoApiClient:
    api = current_app.extensions.get(EXTENSION)
    if api is None:
        raise ApiUnavailable(NOT_CONFIGURED, 503)
    return api


def _unreachable(
    method: str, url: str, exc: Exception, request_id: str | None
) -> ApiUnavailable:
    log.warning(
        "to-do API %s %s unreachable: %s (request %s)",
        method, url, type(exc).__name__, request_id,
    )
    return ApiUnavailable(
        "The to-do service cannot be reached right now. Please try again later.", 503
    )


def scopes_for(kind: str) -> list[str]:
    """The scope a to-do operation needs: TODOLIST_READ for reads, TODOLIST_READWRITE for writes."""
    config = current_app.config["WEB_CONFIG"]
    scope = config.todolist_readwrite if kind == WRITE else config.todolist_read
    return [scope] if scope else []


def max_description_length() -> int:
    """The API's maximum description length (setting TODO_DESCRIPTION_MAX_LENGTH), for forms."""
    config = current_app.config["WEB_CONFIG"]
    return int(config.todo_description_max_length)


def call(
    method: str,
    item_id: str | int | None = None,
    *,
    json: Any = None,
    data: bytes | None = None,
) -> ApiResult:
    """Call the API as the signed-in user with a token for the operation's scope.

    A 401 from the API means the token is no good to it (expired early, revoked, keys rotated):
    one forced refresh and one more try, which is safe for writes too because a 401 means the API
    did nothing. A second 401 raises `SignInRequired` for that scope.
    Raises `SignInRequired`, `IdentityProviderUnavailable`, `ApiUnavailable`, `ApiAnswer`.
    """
    kind = READ if method.upper() in ("GET", "HEAD") else WRITE
    scopes = scopes_for(kind)
    api = client()
    if not scopes:
        raise ApiUnavailable(NOT_CONFIGURED, 503)
    identity = current_app.extensions["identity"]
    rid = request_id()
    token = identity.acquire_token(scopes)
    try:
        return api.request(method, token, item_id, json=json, data=data, request_id=rid)
    except ApiUnauthorized:
        log.info("to-do API refused the token; refreshing once (request %s)", rid)
    token = identity.acquire_token(scopes, force_refresh=True)
    try:
        return api.request(method, token, item_id, json=json, data=data, request_id=rid)
    except ApiUnauthorized as exc:
        raise SignInRequired(scopes, "the to-do service did not accept the token") from exc
