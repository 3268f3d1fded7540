"""Microsoft Graph `/me` for the signed-in user (https port, under `/graph/v1.0`).

`GET /me` (Graph's default properties; `$select` for `city` and the custom attributes named
`extension_<extensions-app-id>_<Name>`), `PATCH /me` (displayName, givenName, surname, city,
custom attributes; 204) and `POST /me/revokeSignInSessions` (the user's refresh tokens and SSO
sessions end). Tokens are the tenant's own delegated access tokens for Graph (`aud`
00000003-0000-0000-c000-000000000000), validated with PyJWT (signature, `aud`, `iss`, `exp`)
and their `scp`. Errors are shaped as Graph's: `{"error": {"code", "message", "innerError":
{"date", "request-id", "client-request-id"}}}`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import jwt
from flask import Blueprint, Response, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from common.challenge import encode_claims
from devtenant.errors import client_request_id
from devtenant.tokens import GRAPH_APP_ID
from devtenant.urls import GRAPH_PREFIX, graph_base, issuers

if TYPE_CHECKING:
    from devtenant.app import Tenant
    from devtenant.store import UserInfo

bp = Blueprint("graph", __name__, url_prefix=GRAPH_PREFIX)

READ_SCOPES = frozenset({"User.Read", "User.ReadWrite"})
WRITE_SCOPES = frozenset({"User.ReadWrite"})
REVOKE_SCOPES = frozenset({"User.RevokeSessions.All"})
# Graph property → (the store's attribute, Graph's maximum length).
WRITABLE = {
    "displayName": ("name", 256),
    "givenName": ("given_name", 64),
    "surname": ("surname", 64),
    "city": ("city", 128),
}
EXTENSION_MAX_LENGTH = 256
DEFAULT_PROPERTIES = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)  # fmt: skip
SELECTABLE = frozenset(DEFAULT_PROPERTIES) | {"city"}
EXTENSION_NAME = re.compile(r"^extension_([0-9a-f]{32})_([A-Za-z][A-Za-z0-9]{0,63})$")


class GraphError(Exception):
    """An error answer as Graph shapes it; `claims` (a 401's): a claims challenge for them."""

    def __init__(self, status: int, code: str, message: str, claims: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.claims = claims


def _tenant() -> Tenant:
    return current_app.extensions["devtenant"]


def _ids() -> tuple[str, str]:
    """(request-id, client-request-id): ours, and the client's (any GUID it sent) or a new one."""
    sent = client_request_id(request.headers.get("client-request-id"))
    return str(uuid.uuid4()), sent or str(uuid.uuid4())


def _with_ids(response: Response) -> Response:
    request_id, client_id = _ids()
    response.headers["request-id"] = request_id
    response.headers["client-request-id"] = client_id
    return response


def error_response(status: int, code: str, message: str, claims: str | None = None) -> Response:
    request_id, client_id = _ids()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    inner = {"date": date, "request-id": request_id, "client-request-id": client_id}
    response = jsonify({"error": {"code": code, "message": message, "innerError": inner}})
    response.status_code = status
    response.headers["request-id"] = request_id
    response.headers["client-request-id"] = client_id
    if status == 401:
        challenge = "" if claims is None else (
            f', error="insufficient_claims", claims="{encode_claims(claims)}"'
        )
        response.headers["WWW-Authenticate"] = (
            f'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
            f'oauth2/authorize", client_id="{GRAPH_APP_ID}"{challenge}'
        )
    return response


@bp.errorhandler(GraphError)
def graph_error(exc: GraphError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.claims)


def http_error(exc: HTTPException) -> Response:
    """Routing errors under the Graph prefix (unknown path, method), as Graph answers them."""
    if exc.code == 405:
        return error_response(
            405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri."
        )
    segment = request.path.removeprefix(GRAPH_PREFIX).strip("/").split("/")[0]
    return error_response(
        exc.code or 400, "BadRequest", f"Resource not found for the segment '{segment}'."
    )


@bp.before_request
def https_only() -> None:
    if request.scheme != "https":
        abort(404)


# --- the token -----------------------------------------------------------------------------


def _bearer() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
    return token.strip()


def _claims(token: str) -> dict[str, Any]:
    """The access token's claims when the tenant issued it for Graph and it is still valid."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        keys = jwt.PyJWKSet.from_dict(_tenant().tokens.jwks())
        key = next((k for k in keys.keys if k.key_id == kid), None)
        if key is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Invalid signature.")
        return jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            audience=[GRAPH_APP_ID, "https://graph.microsoft.com"],
            issuer=issuers(),
            options={"require": ["exp", "iss", "aud", "oid"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise GraphError(
            401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired."
        ) from exc
    except jwt.InvalidAudienceError as exc:
        raise GraphError(
            401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
        ) from exc
    except jwt.PyJWTError as exc:
        raise GraphError(
            401, "InvalidAuthenticationToken", "Access token validation failure."
        ) from exc


def _user(needed: frozenset[str], claims: dict[str, Any] | None = None) -> UserInfo:
    """The token's user (of `claims`, the token's, when read already), when its `scp` holds
    one of the `needed` permissions."""
    claims = claims or _claims(_bearer())
    scopes = set(str(claims.get("scp") or "").split())
    if not scopes:
        raise GraphError(
            400, "BadRequest", "/me request is only valid with delegated authentication flow."
        )
    if not scopes & needed:
        raise GraphError(
            403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
        )
    user = _tenant().store.user(str(claims["oid"]))
    if user is None:
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{claims['oid']}' does not exist or one of its queried "
            "reference-property objects are not present.",
        )
    return user


# --- /me -----------------------------------------------------------------------------------


def _extension_prefix() -> str:
    return f"extension_{_tenant().store.extensions_app_id}_"


def _properties(user: UserInfo) -> dict[str, Any]:
    """Every property of the user Graph would return, custom attributes under their names."""
    store = _tenant().store
    upn = f"{user.oid}@{store.tenant_name}"
    values: dict[str, Any] = {
        "businessPhones": [], "displayName": user.name, "givenName": user.given_name,
        "jobTitle": None, "mail": user.email, "mobilePhone": None, "officeLocation": None,
        "preferredLanguage": None, "surname": user.surname, "userPrincipalName": upn,
        "id": user.oid, "city": user.city,
    }  # fmt: skip
    prefix = _extension_prefix()
    values.update({prefix + name: value for name, value in user.extensions.items()})
    return values


def _selected() -> list[str] | None:
    """The `$select` list (None: Graph's default properties); unknown names refused."""
    raw = request.args.get("$select")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        if name not in SELECTABLE and not name.startswith(_extension_prefix()):
            raise GraphError(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.user'.",
            )
    return names


@bp.get("/me")
def me() -> Response:
    values = _properties(_user(READ_SCOPES))
    names = _selected()
    context = f"{graph_base()}/$metadata#users/$entity"
    if names is None:
        body = {name: values[name] for name in DEFAULT_PROPERTIES}
    else:
        context = f"{graph_base()}/$metadata#users({','.join(names)})/$entity"
        body = {name: values[name] for name in names if name in values}
    return _with_ids(jsonify({"@odata.context": context, **body}))


def _patch_body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.mimetype == "application/json" else None
    if not isinstance(body, dict):
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure "
            "Content-Type header is set and payload is of valid JSON format.",
        )
    return body


def _invalid(name: str) -> GraphError:
    return GraphError(
        400,
        "Request_BadRequest",
        f"Invalid value specified for property '{name}' of resource 'User'.",
    )


def _changes(body: dict[str, Any], user: UserInfo) -> dict[str, Any]:
    """The store's changes for a PATCH body, each property and value checked as Graph does."""
    changes: dict[str, Any] = {}
    extensions = dict(user.extensions)
    prefix = _extension_prefix()
    for name, value in body.items():
        if value is not None and not isinstance(value, str):
            raise _invalid(name)
        if name in WRITABLE:
            attribute, limit = WRITABLE[name]
            if (value is not None and len(value) > limit) or (name == "displayName" and not value):
                raise _invalid(name)
            changes[attribute] = value
        elif name.startswith(prefix) and EXTENSION_NAME.match(name):
            if value is not None and len(value) > EXTENSION_MAX_LENGTH:
                raise _invalid(name)
            short = name.removeprefix(prefix)
            if value is None:
                extensions.pop(short, None)
            else:
                extensions[short] = value
            changes["extensions"] = extensions
        else:
            raise GraphError(
                400,
                "BadRequest",
                f"Property '{name}' does not exist as a declared property or extension property.",
            )
    return changes


def _require_context(claims: dict[str, Any]) -> None:
    """A claims challenge when the tenant's step-up setting asks PATCH /me for an
    authentication context the token's `acrs` lacks (as Graph does under Conditional Access
    with an authentication context)."""
    context = _tenant().step_up().graph_acrs
    acrs = claims.get("acrs")
    if context is None or (isinstance(acrs, list) and context in acrs):
        return
    wanted = {"access_token": {"acrs": {"essential": True, "value": context}}}
    raise GraphError(
        401,
        "InvalidAuthenticationToken",
        f"The access token does not satisfy authentication context {context}: a claims "
        "challenge.",
        json.dumps(wanted, separators=(",", ":")),
    )


@bp.patch("/me")
def update_me() -> Response:
    claims = _claims(_bearer())
    user = _user(WRITE_SCOPES, claims)
    _require_context(claims)
    changes = _changes(_patch_body(), user)
    if changes:
        _tenant().store.update_user(user.oid, changes)
    return _with_ids(Response(status=204))


@bp.post("/me/revokeSignInSessions")
def revoke_sign_in_sessions() -> Response:
    user = _user(REVOKE_SCOPES)
    _tenant().state.revoke_user_sessions(user.oid)
    context = f"{graph_base()}/$metadata#Edm.Boolean"
    return _with_ids(jsonify({"@odata.context": context, "value": True}))
