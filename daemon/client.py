"""The ToDoList API operations, and what each API answer means for the person running them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
import requests

from common.challenge import decoded_claims, param
from daemon.errors import DaemonError, unreachable

READ_ROLES = "ToDoList.Read.All (or ToDoList.ReadWrite.All)"
WRITE_ROLE = "ToDoList.ReadWrite.All"
MAX_DETAIL = 300


@dataclass(frozen=True)
class Operation:
    method: str
    with_id: bool
    role: str
    summary: str


OPERATIONS: dict[str, Operation] = {
    "getToDos": Operation("GET", False, READ_ROLES, "list every user's items"),
    "getToDo": Operation("GET", True, READ_ROLES, "show one item (--id)"),
    "postToDo": Operation(
        "POST", False, WRITE_ROLE, "add an item (--description, optional --owner)"
    ),
    "updateToDo": Operation("PUT", True, WRITE_ROLE, "change an item's text (--id, --description)"),
    "deleteToDo": Operation("DELETE", True, WRITE_ROLE, "remove an item (--id)"),
}


class Tokens(Protocol):
    def acquire(self) -> tuple[str, bool]: ...

    def invalidate(self) -> None: ...


class ToDoClient:
    """Runs one operation against the API with the daemon's app token."""

    def __init__(self, http: requests.Session, endpoint: str, tokens: Tokens) -> None:
        self._http = http
        self._endpoint = endpoint
        self._tokens = tokens

    def run(
        self,
        op: str,
        item_id: int | None = None,
        description: str | None = None,
        owner: str | None = None,
    ) -> Any:
        """The API's JSON answer for `op`; for `deleteToDo` (204) `{"id": N, "deleted": true}`."""
        operation = OPERATIONS[op]
        url = f"{self._endpoint}/{item_id}" if operation.with_id else self._endpoint
        body: dict[str, str] | None = None
        if description is not None:
            body = {"description": description}
            if owner is not None:
                body["owner"] = owner
        # A create carries a new Idempotency-Key: sent again (below, or by whoever reruns a
        # request they are unsure about) it cannot make a second item. The retry keeps it.
        extra = {"Idempotency-Key": str(uuid.uuid4())} if operation.method == "POST" else {}
        token, cached = self._tokens.acquire()
        response = self._send(operation, url, token, body, extra)
        if response.status_code == 401 and cached and _claims_asked(response) is None:
            # The API refused a token from the cache file (revoked, keys rotated...): the
            # request was not carried out, so drop the token and try once with a fresh one.
            # (Not for a claims challenge: no app token can satisfy it.)
            self._tokens.invalidate()
            token, _ = self._tokens.acquire()
            response = self._send(operation, url, token, body, extra)
        return self._answer(op, operation, response, item_id, token)

    def _send(
        self, operation: Operation, url: str, token: str, body: dict[str, str] | None,
        extra: dict[str, str],
    ) -> requests.Response:
        try:
            return self._http.request(
                operation.method,
                url,
                json=body,
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept": "application/json",
                    # The API logs it and echoes it: a failure message names it for its logs.
                    "X-Request-ID": uuid.uuid4().hex,
                    **extra,
                },
            )
        except requests.exceptions.ReadTimeout as exc:
            message = unreachable("the API", self._endpoint, exc)
            if operation.method != "GET":
                message += "; the change may or may not have been made"
            raise DaemonError(message) from exc
        except requests.RequestException as exc:
            raise DaemonError(unreachable("the API", self._endpoint, exc)) from exc

    def _answer(
        self, op: str, operation: Operation, response: requests.Response,
        item_id: int | None, token: str,
    ) -> Any:
        status = response.status_code
        if status == 204:
            return {"id": item_id, "deleted": True}
        if 200 <= status < 300:
            try:
                return response.json()
            except ValueError as exc:
                message = f"the API answered {status} with a body that is not JSON"
                raise DaemonError(message) from exc
        if status == 401:
            raise DaemonError(_refused_token(op, response, token))
        if status == 403:
            raise DaemonError(
                f"the API refused {op}: the daemon's token lacks the app role {operation.role} "
                "(insufficient_scope); grant it to the daemon's registration and give admin "
                "consent"
            )
        if status == 404 and item_id is not None:
            raise DaemonError(f"item {item_id} not found (404)")
        if status == 404:
            raise DaemonError(f"the API has nothing at {self._endpoint} (404); check API_ENDPOINT")
        if status in (400, 409):
            raise DaemonError(f"the API rejected the request: {_problem(response)}")
        sent = response.request.headers.get("X-Request-ID")  # typed str | bytes; ours is str
        request_id = response.headers.get("X-Request-ID") or (
            sent.decode() if isinstance(sent, bytes) else sent
        )
        raise DaemonError(
            f"the API failed with {status}: {_problem(response)} (request id {request_id})"
        )


def _refused_token(op: str, response: requests.Response, token: str) -> str:
    claims = _claims_asked(response)
    if claims is not None:
        return (
            f"the API answered {op} with a claims challenge (insufficient_claims), asking for "
            f"a token with the claims {claims}: a user's sign-in with a second factor (MFA). "
            "The daemon signs in as an application and cannot do MFA or any user interaction, "
            "so it cannot do this; a signed-in user can (the web app), or the API's "
            "administrator can stop requiring it (REQUIRE_MFA_FOR_DELETE)"
        )
    challenge = response.headers.get("WWW-Authenticate", "")
    error = param(challenge, "error") or "invalid_token"
    description = param(challenge, "error_description")
    detail = f"{error}: {description}" if description else error
    if not _roles(token):
        return (
            f"the API refused the token ({detail}): it carries no app roles; grant the daemon's "
            f"registration {READ_ROLES} and give admin consent"
        )
    return f"the API refused the daemon's token ({detail})"


def _claims_asked(response: requests.Response) -> str | None:
    """The claims a claims challenge asks for (its decoded `claims`, bounded), or None if
    the answer is not one (`error="insufficient_claims"` in `WWW-Authenticate`)."""
    challenge = response.headers.get("WWW-Authenticate", "")
    try:
        text = decoded_claims(challenge)
    except ValueError:
        text = f"(undecodable) {param(challenge, 'claims')}"
    return None if text is None else " ".join(text.split())[:MAX_DETAIL]


def _roles(token: str) -> list[str]:
    """The token's `roles`, read without verification: only to word an error message."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return []
    roles = claims.get("roles")
    return roles if isinstance(roles, list) else []


def _problem(response: requests.Response) -> str:
    """The problem+json `detail` (or `title`), else the status text, on one line."""
    text = response.reason or "no details"
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        found = body.get("detail") or body.get("title")
        if isinstance(found, str) and found.strip():
            text = found
    return " ".join(text.split())[:MAX_DETAIL]
