"""The OAuth 2.0 machinery: Authlib's AuthorizationServer and grants, adjusted to Entra.

Changes from Authlib's defaults (see docs/devtenant.md): every grant accepts
client_secret_post, client_secret_basic and private_key_jwt; a refresh token can be redeemed for
any consented scope; tokens and the ID token are built by `TokenFactory`; scopes are resolved
to one resource as Entra does; errors carry AADSTS codes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import Response, json
from flask import request as flask_request

from devtenant.claims import Claims, SignedIn, SignIn
from devtenant.errors import (
    ASSERTION_BAD_SIGNATURE,
    ASSERTION_KEY_NOT_FOUND,
    EntraError,
    Trace,
    error_body,
    from_authlib,
)
from devtenant.records import AuthCode, RefreshToken
from devtenant.store import secret_expired
from devtenant.tokens import GRAPH_APP_ID, GRAPH_SCOPES
from devtenant.urls import token_endpoint_audiences

if TYPE_CHECKING:
    from devtenant.app import Tenant
    from devtenant.store import UserInfo

RESERVED_SCOPES = {"openid", "profile", "offline_access", "email"}
GRAPH_URL = "https://graph.microsoft.com"
GRAPH_RESOURCES = {GRAPH_URL, GRAPH_APP_ID}
# The Graph delegated permissions this tenant knows (docs/devtenant.md, "Microsoft Graph").
GRAPH_PERMISSIONS = frozenset({"User.Read", "User.ReadWrite", "User.RevokeSessions.All"})
GRAPH_IMPLICIT = "User.Read"  # on every registration, as Entra adds it to each new one
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]
# What a grant's create_token_response returns to Authlib: (status, body, headers).
TokenResponse = tuple[int, dict[str, Any], list[tuple[str, str]]]


# -- scopes ---------------------------------------------------------------------------------
@dataclass
class Scopes:
    """A delegated request resolved to one resource."""

    reserved: set[str]
    audience: str
    short: list[str]
    full: list[str]

    @property
    def response_scope(self) -> str:
        return " ".join(self.full)


def _split_resource(item: str) -> tuple[str, str]:
    if "/" not in item:
        return GRAPH_URL, item
    resource, _, name = item.rpartition("/")
    return resource, name


def _api_for(resource: str, api: dict[str, Any]) -> bool:
    return resource in (api["app_id_uri"], api["client_id"])


class UnknownScopeError(EntraError):
    """A scope name the API does not expose. The token endpoint answers AADSTS70011 naming the
    whole requested scope; the authorize endpoint answers AADSTS650053 instead."""

    def __init__(self, scope: str, name: str, resource_id: str) -> None:
        super().__init__("invalid_scope", 70011, detail=scope)
        self.name = name
        self.resource_id = resource_id

    def at_authorize(self, client: dict[str, Any]) -> EntraError:
        """What Entra redirects to the client for it (`error=invalid_client`, as it does)."""
        return EntraError(
            "invalid_client",
            650053,
            detail=self.name,
            app_name=client["display_name"],
            resource=self.resource_id,
        )


def _no_consent(client: dict[str, Any]) -> EntraError:
    return EntraError(
        "invalid_grant",
        65001,
        client_id=client["client_id"],
        suberror="consent_required",
        app_name=client["display_name"],
    )


def resolve_delegated(scope: str, client: dict[str, Any], api: dict[str, Any]) -> Scopes:
    """Entra's scope rules for a user's request: one resource, consented scopes only."""
    items = scope.split()
    reserved = {s for s in items if s in RESERVED_SCOPES}
    others = [s for s in items if s not in RESERVED_SCOPES]
    resources = {_split_resource(s)[0] for s in others}
    if len(resources) > 1:
        raise EntraError("invalid_scope", 700022, detail=" ".join(others))
    if not resources:
        return Scopes(reserved, GRAPH_APP_ID, GRAPH_SCOPES.split(), GRAPH_SCOPES.split())
    resource = resources.pop()
    if resource in GRAPH_RESOURCES:
        return _resolve_graph(scope, others, reserved, client)
    if not _api_for(resource, api):
        raise EntraError("invalid_resource", 500011, detail=resource)
    consented = set(client.get("consented_scopes", []))
    names: list[str] = []
    for item in others:
        name = _split_resource(item)[1]
        if name == ".default":
            names.extend(s.rpartition("/")[2] for s in consented if s.startswith(resource + "/"))
        elif name not in api["scopes"]:
            raise UnknownScopeError(scope, name, api["client_id"])
        else:
            names.append(name)
    names = list(dict.fromkeys(names))
    if not names or any(f"{api['app_id_uri']}/{n}" not in consented for n in names):
        raise _no_consent(client)
    return Scopes(reserved, api["client_id"], names, [f"{api['app_id_uri']}/{n}" for n in names])


def _resolve_graph(
    scope: str, items: list[str], reserved: set[str], client: dict[str, Any]
) -> Scopes:
    """Microsoft Graph's delegated permissions: `User.Read` is granted to every registration
    (Entra adds it to each new one); the others need the app's consent. `.default` means
    every Graph permission the app holds. The response names each scope as it was asked for
    (`User.Read`, or `https://graph.microsoft.com/User.ReadWrite`), so MSAL's cache finds it."""
    consented = {GRAPH_IMPLICIT} | {
        s.rpartition("/")[2] for s in client.get("consented_scopes", []) if s.startswith(GRAPH_URL)
    }
    short: list[str] = []
    full: list[str] = []
    for item in items:
        name = _split_resource(item)[1]
        if name == ".default":
            names = sorted(consented)
            short.extend(names)
            full.extend(f"{GRAPH_URL}/{n}" for n in names)
            continue
        if name not in GRAPH_PERMISSIONS:
            raise UnknownScopeError(scope, name, GRAPH_APP_ID)
        if name not in consented:
            raise _no_consent(client)
        short.append(name)
        full.append(item)
    return Scopes(reserved, GRAPH_APP_ID, list(dict.fromkeys(short)), list(dict.fromkeys(full)))


def resolve_app(scope: str, api: dict[str, Any]) -> str:
    """The resource (audience) of a client-credentials request: `<App ID URI>/.default` only."""
    items = scope.split()
    if not items:
        raise EntraError("invalid_request", 900144, detail="scope")
    resources = {_split_resource(s)[0] for s in items}
    if any(_split_resource(s)[1] != ".default" for s in items):
        raise EntraError("invalid_scope", 1002012, detail=scope)
    if len(resources) > 1:
        raise EntraError("invalid_scope", 700022, detail=scope)
    resource = resources.pop()
    if resource in GRAPH_RESOURCES:
        return GRAPH_APP_ID
    if not _api_for(resource, api):
        raise EntraError("invalid_resource", 500011, detail=resource)
    return api["client_id"]


# -- clients --------------------------------------------------------------------------------
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}


def redirect_matches(uri: str, registered: list[str]) -> bool:
    """Exact match, except that loopback http URIs match whatever their port (as Entra does)."""
    if uri in registered:
        return True
    want = urlsplit(uri)
    if want.scheme != "http" or want.hostname not in {"localhost", "127.0.0.1", "::1"}:
        return False
    for reg in registered:
        have = urlsplit(reg)
        if (have.scheme, have.hostname, have.path or "/", have.query) == (
            want.scheme,
            want.hostname,
            want.path or "/",
            want.query,
        ):
            return True
    return False


class Client(ClientMixin):
    """An app registration as Authlib sees it."""

    def __init__(self, reg: dict[str, Any], data_dir: Path) -> None:
        self.reg = reg
        self.data_dir = data_dir

    def get_client_id(self) -> str:
        return self.reg["client_id"]

    def get_default_redirect_uri(self) -> str | None:
        uris = self.reg.get("redirect_uris") or []
        return uris[0] if uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_matches(redirect_uri, self.reg.get("redirect_uris") or [])

    def check_client_secret(self, client_secret: str) -> bool:
        """The value must match; a matching secret past its end date is refused as expired
        (AADSTS7000222), not as wrong."""
        if not hmac.compare_digest(client_secret.encode(), self.reg["client_secret"].encode()):
            return False
        if secret_expired(self.reg):
            raise EntraError(
                "invalid_client", 7000222, client_id=self.get_client_id(), status_code=401
            )
        return True

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and bool(self.reg.get("redirect_uris"))

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token", "client_credentials")

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(
            (self.data_dir / self.reg["certificate_file"]).read_bytes()
        )


def authenticate_client_assertion(query_client: Any, request: Any) -> Client | None:
    """`private_key_jwt` as MSAL sends it: RS256 + `x5t`, or PS256 + `x5t#S256` (+ `x5c`)."""
    form = request.form
    if form.get("client_assertion_type") != JWT_BEARER or not form.get("client_assertion"):
        return None
    assertion = form["client_assertion"]
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise EntraError("invalid_client", 700027, detail="The assertion is malformed.") from exc
    client_id = form.get("client_id") or unverified.get("sub") or ""
    client = query_client(client_id)
    if client is None:
        raise EntraError("unauthorized_client", 700016, client_id=client_id)
    cert = client.certificate()
    der = cert.public_bytes(Encoding.DER)
    if "x5t#S256" in header:
        expected, got = _digest("sha256", der), header["x5t#S256"]
    else:
        expected, got = _digest("sha1", der), header.get("x5t", "")
    sent = _b64decode(str(got))
    thumbprint = sent.hex().upper() or str(got)
    if not hmac.compare_digest(sent, expected):
        raise EntraError(
            "invalid_client",
            700027,
            detail=thumbprint,
            client_id=client_id,
            status_code=401,
            template=ASSERTION_KEY_NOT_FOUND,
        )
    try:
        claims = jwt.decode(
            assertion,
            cert.public_key(),
            algorithms=["RS256", "PS256"],
            audience=token_endpoint_audiences(),
            options={"require": ["exp", "aud", "iss", "sub"]},
            leeway=60,
        )
    except jwt.InvalidSignatureError as exc:
        raise EntraError(
            "invalid_client",
            700027,
            detail=thumbprint,
            status_code=401,
            template=ASSERTION_BAD_SIGNATURE,
        ) from exc
    except jwt.PyJWTError as exc:
        raise EntraError(
            "invalid_client", 700027, detail=f"[Reason - {type(exc).__name__}]", status_code=401
        ) from exc
    if claims["iss"] != client_id or claims["sub"] != client_id:
        raise EntraError("invalid_client", 700027, detail="[Reason - iss/sub]", status_code=401)
    return client


def _b64decode(value: str) -> bytes:
    """base64url, padded or not (MSAL pads its thumbprints)."""
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except ValueError:
        return b""


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def azpacr(request: Any) -> str:
    return "2" if getattr(request, "auth_method", None) == "private_key_jwt" else "1"


# -- grants ---------------------------------------------------------------------------------
class S256Challenge(CodeChallenge):
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    @property
    def tenant(self) -> Tenant:
        return self.server.tenant

    def save_authorization_code(self, code: str, request: Any) -> None:
        signed_in: SignedIn = request.user
        payload = request.payload.data
        record = AuthCode(
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope or "",
            oid=signed_in.oid,
            sid=signed_in.sid,
            auth_time=signed_in.auth_time,
            nonce=payload.get("nonce"),
            code_challenge=payload.get("code_challenge"),
            code_challenge_method=payload.get("code_challenge_method"),
            expires_at=time.time() + 600,
            redeemed=False,
            **signed_in.sign_in.as_record(),
        )
        self.tenant.state.save_code(code, record)

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        record = self.tenant.state.redeem_code(code, client.get_client_id())
        if record is None:
            return None
        if record.expires_at < time.time():
            raise EntraError("invalid_grant", 70008)
        self._check_redirect_uri(record, client)
        return record

    def _check_redirect_uri(self, record: AuthCode, client: Client) -> None:
        """The redemption's redirect_uri: one the app registers (AADSTS50011, as at authorize)
        and the one the code was issued for (AADSTS500112). Authlib's own check, which comes
        after this one, then always passes."""
        sent = self.request.payload.redirect_uri or ""
        if not client.check_redirect_uri(sent):
            raise EntraError(
                "invalid_request", 50011, detail=sent, client_id=client.get_client_id()
            )
        if sent != record.redirect_uri:
            raise EntraError("invalid_grant", 500112, detail=sent, expected=record.redirect_uri)

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        authorization_code.redeemed = True

    def authenticate_user(self, authorization_code: AuthCode) -> UserInfo | None:
        return self.tenant.store.user(authorization_code.oid)

    def create_token_response(self) -> TokenResponse:
        record: AuthCode = self.request.authorization_code
        user = self.authenticate_user(record)
        if user is None:
            raise EntraError("invalid_grant", 50173)
        body = self.tenant.user_tokens(
            self.request.client.reg,
            user,
            record.scope,
            record.sid,
            azpacr(self.request),
            SignIn(tuple(record.amr or ()), tuple(record.acrs or ()), record.xms_cc),
            nonce=record.nonce,
            auth_time=record.auth_time,
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    @property
    def tenant(self) -> Tenant:
        return self.server.tenant

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken:
        record = self.tenant.state.refresh_token(refresh_token)
        if record is None:
            raise EntraError("invalid_grant", 9002313, detail="The refresh token is not valid.")
        if record.revoked:
            raise EntraError("invalid_grant", 50173)
        if record.expires_at < time.time():
            raise EntraError("invalid_grant", 700082)
        return record

    def _validate_token_scope(self, token: RefreshToken) -> None:
        fault = self.tenant.state.take_refresh_fault()
        if fault == "invalid_grant":
            raise EntraError("invalid_grant", 50173, suberror="bad_token")
        if fault == "interaction_required":
            raise needs_mfa("ToDoList")
        scope = self.request.payload.scope or token.get_scope()
        scopes = resolve_delegated(
            scope, self.request.client.reg, self.tenant.store.registrations["api"]
        )
        user = self.tenant.store.user(token.oid)
        asked = Claims.parse(self.request.payload.data.get("claims"))
        policy = self.tenant.mfa_policy()
        covered = user is not None and policy.covers(
            (user.oid, user.email), token.client_id, scopes.full
        )
        if (covered or asked.acrs) and "mfa" not in (token.amr or []):
            raise needs_mfa(self.request.client.reg["display_name"])
        if not set(asked.acrs) <= set(token.acrs or []):
            raise needs_mfa(self.request.client.reg["display_name"])

    def authenticate_user(self, refresh_token: RefreshToken) -> UserInfo | None:
        return self.tenant.store.user(refresh_token.oid)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        """Entra keeps a rotated refresh token valid until it expires; so do we."""

    def create_token_response(self) -> TokenResponse:
        record: RefreshToken = self.request.refresh_token
        user = self.authenticate_user(record)
        if user is None:
            raise EntraError("invalid_grant", 50173)
        scope = self.request.payload.scope or record.scope
        asked = Claims.parse(self.request.payload.data.get("claims"))
        sign_in = SignIn(
            tuple(record.amr or ()), tuple(record.acrs or ()), record.xms_cc or asked.cp1
        )
        body = self.tenant.user_tokens(
            self.request.client.reg, user, scope, record.sid, azpacr(self.request), sign_in
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER


def needs_mfa(resource: str) -> EntraError:
    """AADSTS50076: the grant lacks the second factor a policy or a claims request needs."""
    return EntraError("interaction_required", 50076, detail=resource, suberror="basic_action")


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def create_token_response(self) -> TokenResponse:
        tenant: Tenant = self.server.tenant
        body = tenant.app_token(
            self.request.client.reg, self.request.payload.scope or "", azpacr(self.request)
        )
        return 200, body, self.TOKEN_RESPONSE_HEADER


# -- the server -----------------------------------------------------------------------------
class EntraAuthorizationServer(AuthorizationServer):
    """Authlib's Flask AuthorizationServer answering errors the way Entra does."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        super().__init__(query_client=self._client, save_token=lambda token, request: None)
        self.register_client_auth_method("private_key_jwt", authenticate_client_assertion)
        self.register_grant(AuthorizationCodeGrant, [S256Challenge(required=True)])
        self.register_grant(RefreshTokenGrant)
        self.register_grant(ClientCredentialsGrant)

    def _client(self, client_id: str) -> Client | None:
        reg = self.tenant.store.client(client_id) if client_id else None
        return Client(reg, self.tenant.store.dir) if reg else None

    def validate_requested_scope(self, scope: str | None) -> None:
        """Scopes are resolved by the grants (resolve_delegated / resolve_app)."""

    def entra_error(self, error: OAuth2Error) -> EntraError:
        client_id = flask_request.values.get("client_id", "")
        if not client_id and flask_request.authorization:
            client_id = flask_request.authorization.parameters.get("username") or ""
        known = bool(client_id) and self.tenant.store.client(client_id) is not None
        return from_authlib(error, client_id, known)

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        entra = self.entra_error(error)
        trace = Trace.for_request()
        body = error_body(entra, self.tenant.store.tenant_id, trace)
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        return Response(json.dumps(body), status=entra.status_code, headers=headers)
