"""The web app's client for the ToDoList API.

Two layers:
- `TodoApiClient` speaks HTTP to the API: one urllib3 connection pool for the API's host per
  process, connect/read timeouts from settings, never a retry (a write that timed out may have
  happened, so only the user decides to send it again) and never a redirect followed, an
  `X-Request-ID` on every call for correlation. TLS is verified against `CA_FILE`, or without
  it against the same bundle `requests` uses (certifi); the environment is not consulted.
  Every way the API can fail is one of the `TodoApiError`s below, whose log line names the
  method, URL, what happened and the request id. It uses urllib3 (the library under
  `requests`) directly: `requests.Session`'s per-call merging and adapters cost about a fifth
  of a proxied call's CPU, for nothing this one fixed host needs.
- `call()` adds the user: a token for the operation's scope from the session's cache
  (`TODOLIST_READ` for reads, `TODOLIST_READWRITE` for writes); when the API answers 401 it
  refreshes the token once (or gets one for a claims challenge's claims) and tries again, then
  asks for a sign-in (`SignInRequired`, see `app.user_calls`).
"""

from __future__ import annotations

import json as jsonlib
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import urllib3
from flask import current_app
from requests.utils import DEFAULT_CA_BUNDLE_PATH
from urllib3.exceptions import HTTPError

from app import messages
from app.failures import Failure
from app.messages import Message
from app.user_calls import as_user
from common import logsafe
from common.challenge import challenge_claims
from common.http import failure_cause
from common.requestlog import REQUEST_ID_HEADER, request_id
from config import Config

log = logging.getLogger(__name__)

EXTENSION = "todolist_api"
IDEMPOTENCY_HEADER = "Idempotency-Key"
POOL_MAXSIZE = 32  # kept-alive connections to the API per process (as common.http's pools)

READ = "read"
WRITE = "write"


class TodoApiError(Failure):
    """Base of every failure of a call to the ToDoList API; `detail` is the person's text."""

    @property
    def title(self) -> str:
        return self.message.title

    @property
    def detail(self) -> str:
        return self.message.text


class ApiUnavailable(TodoApiError):
    """The API could not be used: down, refusing connections, too slow, or answering garbage.

    `status` is what the web app answers in its turn: 503 when nothing answered, 504 when the
    API did not answer in time, 502 when it answered with an error or something not JSON.
    """


class ApiAnswer(TodoApiError):
    """The API answered with a 4xx status; `body` is its (problem+)JSON if any."""

    title_text = "The to-do service refused the request"

    def __init__(self, status: int, body: Any, detail: str, log: str) -> None:
        super().__init__(Message(self.title_text, detail), status, log)
        self.body = body


class ApiUnauthorized(ApiAnswer):
    """401; `claims` is set when it is a claims challenge (the claims, decoded)."""

    title_text = "The to-do service did not accept the sign-in"
    claims: str | None = None


class ApiForbidden(ApiAnswer):
    title_text = messages.PERMISSION_TITLE


class ApiNotFound(ApiAnswer):
    level = logging.INFO  # an item deleted elsewhere: nothing for an administrator to do
    title_text = messages.ITEM_GONE.rstrip(".")


class ApiRejected(ApiAnswer):
    """400 (or another 4xx): the API refused the request; `detail` is its message for the user."""

    level = logging.INFO  # the person's input, refused with a message for them
    title_text = messages.API_REFUSED_INPUT.title


_ANSWERS: dict[int, type[ApiAnswer]] = {
    401: ApiUnauthorized, 403: ApiForbidden, 404: ApiNotFound, 400: ApiRejected,
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
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
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

    def request(
        self,
        method: str,
        token: str,
        item_id: str | int | None = None,
        *,
        json: Any = None,
        data: bytes | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> ApiResult:
        """One call, never retried. Raises `ApiUnavailable` or an `ApiAnswer` subclass.

        `idempotency_key` makes a POST safe to repeat: the API answers the same key with the
        first result instead of adding the item again.
        """
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if idempotency_key:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        if json is not None:
            data = jsonlib.dumps(json, allow_nan=False).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        tail = "" if item_id is None else "/" + quote(str(item_id), safe="")
        where = f"to-do API {method} {self.base_url}{tail}"
        try:
            resp = self.pool.urlopen(
                method, self.path + tail, body=data, headers=headers, redirect=False,
                retries=False,
            )
        except HTTPError as exc:
            raise _unreachable(exc, where, request_id) from exc
        return _result(resp, where, request_id)


def _unreachable(exc: HTTPError, where: str, request_id: str | None) -> ApiUnavailable:
    cause = failure_cause(exc)
    message, status = {
        "timed out": (messages.API_TIMEOUT, 504),
        "TLS verification failed": (messages.API_TLS, 502),
        "TLS handshake failed": (messages.API_TLS, 502),
    }.get(cause, (messages.API_UNREACHABLE, 503))
    return ApiUnavailable(message, status, f"{where}: {cause} (request {request_id})")


def _result(resp: urllib3.BaseHTTPResponse, where: str, request_id: str | None) -> ApiResult:
    status = resp.status
    is_json, body = _json_body(resp)
    if status >= 500:
        raise ApiUnavailable(messages.API_FAILED, status if status in (503, 504) else 502,
                             f"{where} answered {status} (request {request_id})")
    if 200 <= status < 300:
        if not is_json:
            raise ApiUnavailable(messages.API_GARBLED, 502,
                                 f"{where} answered {status} without JSON (request {request_id})")
        return ApiResult(status, body, dict(resp.headers), resp.data)
    answer = _ANSWERS.get(status, ApiRejected if 400 <= status < 500 else None)
    if answer is None or (not is_json and status not in (401, 403)):
        # A redirect, or an HTML 404 from something that is not the API: not the contract.
        raise ApiUnavailable(messages.API_GARBLED, 502,
                             f"{where} answered unexpected {status} (request {request_id})")
    return_body = body if is_json else None
    refusal = answer(status, return_body, _message(return_body) or answer.title_text,
                     f"{where} answered {status} (request {request_id})")
    if isinstance(refusal, ApiUnauthorized):
        refusal.claims = challenge_claims(resp.headers.get("WWW-Authenticate", ""))
    raise refusal


def create(config: Config) -> TodoApiClient:
    """The process's API client, from the app's settings (its log escapes control characters,
    as the app's own does: `common.logsafe`)."""
    logsafe.install(log)
    connect, read = config.todolist_api_timeout
    return TodoApiClient(
        config.todolist_api_url, ca_file=config.ca_file,
        connect_timeout=connect, read_timeout=read,
    )


def scopes_for(kind: str) -> list[str]:
    """The scope a to-do operation needs: TODOLIST_READ for reads, TODOLIST_READWRITE for writes."""
    config: Config = current_app.config["WEB_CONFIG"]
    return [config.todolist_readwrite if kind == WRITE else config.todolist_read]


def call(
    method: str,
    item_id: str | int | None = None,
    *,
    json: Any = None,
    data: bytes | None = None,
    idempotency_key: str | None = None,
) -> ApiResult:
    """Call the API as the signed-in user with a token for the operation's scope.

    A 401 gets one more try with a refreshed token, or with one for the claims of a claims
    challenge (`app.user_calls`); a second 401 raises `SignInRequired` for that scope (with the
    claims, for a challenge).
    """
    scopes = scopes_for(READ if method.upper() in ("GET", "HEAD") else WRITE)
    api: TodoApiClient = current_app.extensions[EXTENSION]
    rid = request_id()

    def send(token: str) -> ApiResult:
        return api.request(method, token, item_id, json=json, data=data, request_id=rid,
                           idempotency_key=idempotency_key)

    # Two fresh tokens refused: often the API expects another audience or tenant.
    return as_user(scopes, send, ApiUnauthorized, "the to-do service did not accept the token",
                   log)
