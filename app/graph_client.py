"""The web app's client for Microsoft Graph `/me`: the signed-in user's own profile.

`GraphClient` speaks HTTP to `GRAPH_BASE_URL` with the process's pooled `common.http.HttpClient`
(timeouts, TLS trust from `CA_FILE`, never off; no retry, no redirect followed); each call sends
a new `client-request-id` (Graph's correlation id, a GUID), which the log line of a failure names
with the URL, Graph's status and error code, never the token. The functions below add the user:
a token for the permission the call needs, acquired incrementally from the session's cache
(`User.Read` to read, `User.ReadWrite` to change, `User.RevokeSessions.All` to revoke); a 401 from
Graph gets one more try (a forced refresh, or a token for a claims challenge's claims), then
`SignInRequired`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from flask import current_app

from app import messages
from app.failures import Failure, log_safe
from app.user_calls import as_user
from common import logsafe
from common.challenge import challenge_claims
from common.http import HttpClient, failure_cause
from common.requestlog import request_id
from config import GRAPH_READ, GRAPH_READWRITE, GRAPH_REVOKE, Config

log = logging.getLogger(__name__)

EXTENSION = "graph"
T = TypeVar("T")


class GraphFailure(Failure):
    """A call to Microsoft Graph failed (the base of the failures below)."""


class GraphUnavailable(GraphFailure):
    """Graph could not be reached, was too slow, failed (5xx) or answered something unusable."""


class GraphForbidden(GraphFailure):
    """403: the token lacks the permission (the app's consent is missing or was removed)."""


class GraphRejected(GraphFailure):
    """400: Graph refused the values sent."""

    level = logging.INFO  # the person's input


class GraphUnauthorized(GraphFailure):
    """401: Graph did not accept the token (expired early, revoked): refresh once. `claims`
    is set when it is a claims challenge (an authentication context, a CAE event)."""

    claims: str | None = None


def _graph_error(resp: requests.Response) -> str:
    """`code: message` of a Graph error body (or the status alone)."""
    try:
        error = resp.json().get("error") or {}
        return log_safe(f"{error.get('code')}: {error.get('message')}", 200)
    except (ValueError, AttributeError):
        return "no Graph error body"


class GraphClient:
    """HTTP calls to Microsoft Graph at `base_url` (e.g. https://graph.microsoft.com/v1.0)."""

    def __init__(self, base_url: str, ca_file: str | None, timeout: tuple[float, float]) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = HttpClient(ca_file=ca_file, timeout=timeout)

    def request(
        self, method: str, path: str, token: str, *, params: dict[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """One call; the parsed JSON body (None for 204). Raises a `GraphFailure`."""
        correlation = str(uuid.uuid4())
        where = f"Graph {method} {self.base_url}{path}"
        ids = f"(client-request-id {correlation}, request {request_id()})"
        headers = {"Authorization": f"Bearer {token}", "client-request-id": correlation,
                   "Accept": "application/json"}
        try:
            resp = self.http.request(method, self.base_url + path, params=params, json=json,
                                     headers=headers, allow_redirects=False)
        except requests.RequestException as exc:
            cause = failure_cause(exc)
            message = messages.PROFILE_TIMEOUT if cause == "timed out" else (
                messages.PROFILE_UNREACHABLE)
            raise GraphUnavailable(message, 504 if cause == "timed out" else 503,
                                   f"{where}: {cause} {ids}") from exc
        return _result(resp, f"{where} answered {resp.status_code}", ids)


def _result(resp: requests.Response, where: str, ids: str) -> Any:
    if resp.status_code == 204:
        return None
    if 200 <= resp.status_code < 300:
        try:
            return resp.json()
        except ValueError:
            raise GraphUnavailable(messages.PROFILE_FAILED, 502,
                                   f"{where} without JSON {ids}") from None
    line = f"{where}: {_graph_error(resp)} {ids}"
    if resp.status_code == 401:
        refusal = GraphUnauthorized(messages.PROFILE_SIGN_IN_AGAIN.format(""), 401, line)
        refusal.claims = challenge_claims(resp.headers.get("WWW-Authenticate", ""))
        raise refusal
    if resp.status_code == 403:
        raise GraphForbidden(messages.PROFILE_NO_PERMISSION.format(""), 403, line)
    if resp.status_code == 400:
        raise GraphRejected(messages.PROFILE_REFUSED_INPUT, 400, line)
    raise GraphUnavailable(messages.PROFILE_FAILED, 502, line)


def create(config: Config) -> GraphClient:
    """The process's Graph client, from the app's settings."""
    logsafe.install(log)
    return GraphClient(config.graph_base_url, config.ca_file, config.tenant_timeout)


def _as_user(scope: str, send: Callable[[str], T]) -> T:
    """`send(token)` with the user's token for `scope` (`app.user_calls`: after a 401 one
    more try, refreshed or for a claims challenge's claims, then `SignInRequired`)."""
    return as_user([scope], send, GraphUnauthorized, "Microsoft Graph did not accept the token",
                   log)


def _client() -> GraphClient:
    client: GraphClient = current_app.extensions[EXTENSION]
    return client


def get_me(properties: list[str]) -> dict[str, Any]:
    """The user's profile: `GET /me?$select=...`."""
    select = {"$select": ",".join(properties)}
    body = _as_user(GRAPH_READ, lambda t: _client().request("GET", "/me", t, params=select))
    if not isinstance(body, dict):
        raise GraphUnavailable(messages.PROFILE_FAILED, 502, "Graph GET /me: not a JSON object")
    return body


def update_me(changes: dict[str, Any]) -> None:
    """`PATCH /me` with `changes` (Graph's property names; None clears one)."""
    _as_user(GRAPH_READWRITE, lambda t: _client().request("PATCH", "/me", t, json=changes))


def revoke_sign_in_sessions() -> None:
    """`POST /me/revokeSignInSessions`: the user's refresh tokens and sign-in sessions end."""
    path = "/me/revokeSignInSessions"
    _as_user(GRAPH_REVOKE, lambda t: _client().request("POST", path, t))
