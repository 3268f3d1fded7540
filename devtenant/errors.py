"""Errors shaped like Entra's: an OAuth error code plus an AADSTS number and message."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import errors as oauth_errors

MESSAGES = {
    50011: "The redirect URI '{detail}' specified in the request does not match the redirect "
    "URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the "
    "request matches one added to your application in the Azure portal.",
    50058: "A silent sign-in request was sent but no user is signed in.",
    50076: "Due to a configuration change made by your administrator, or because you moved to "
    "a new location, you must use multi-factor authentication to access '{detail}'.",
    50126: "Error validating credentials due to invalid username or password.",
    50173: "The provided grant has expired due to it being revoked, a fresh auth token is "
    "needed. The user might have changed or reset their password.",
    54005: "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
    "or use an existing refresh token.",
    65001: "The user or administrator has not consented to use the application with ID "
    "'{client_id}'. Send an interactive authorization request for this user and resource.",
    70003: "The app requested an unsupported grant type '{detail}'.",
    70008: "The provided authorization code or refresh token has expired due to inactivity. "
    "Send a new interactive authorization request for this user and resource.",
    70011: "The provided value for the input parameter 'scope' is not valid. The scope "
    "{detail} is not valid.",
    700016: "Application with identifier '{client_id}' was not found in the directory "
    "'{tenant}'. This can happen if the application has not been installed by the "
    "administrator of the tenant or consented to by any user in the tenant. You may have sent "
    "your authentication request to the wrong tenant.",
    700022: "The provided value for the input parameter scope is not valid because it contains "
    "more than one resource. Scope {detail} is not valid.",
    700027: "Client assertion failed signature validation. {detail}",
    700082: "The refresh token has expired due to inactivity.",
    7000215: "Invalid client secret provided. Ensure the secret being sent in the request is "
    "the client secret value, not the client secret ID, for a secret added to app "
    "'{client_id}'.",
    500011: "The resource principal named {detail} was not found in the tenant named "
    "{tenant}. This can happen if the application has not been installed by the administrator "
    "of the tenant or consented to by any user in the tenant. You might have sent your "
    "authentication request to the wrong tenant.",
    501481: "The Code_Verifier does not match the code_challenge supplied in the authorization "
    "request.",
    900144: "The request body must contain the following parameter: '{detail}'.",
    9002313: "Invalid request. Request is malformed or invalid. {detail}",
    9002325: "Proof Key for Code Exchange is required: the authorization request must carry "
    "a code_challenge with code_challenge_method S256.",
    1002012: "The provided value for scope {detail} is not valid. Client credential flows must "
    "have a scope value with /.default suffixed to the resource identifier (application ID "
    "URI).",
}


class EntraError(OAuth2Error):
    """An OAuth error carrying Entra's AADSTS code (and optional `suberror`)."""

    def __init__(
        self,
        error: str,
        code: int,
        detail: str = "",
        client_id: str = "",
        status_code: int = 400,
        suberror: str | None = None,
        redirect_uri: str | None = None,
        state: str | None = None,
    ) -> None:
        self.code = code
        self.detail = detail
        self.client_id = client_id
        self.suberror = suberror
        super().__init__(
            description=f"AADSTS{code}",
            status_code=status_code,
            redirect_uri=redirect_uri,
            state=state,
            error=error,
        )

    def message(self, tenant: str) -> str:
        text = MESSAGES.get(self.code, "{detail}")
        return f"AADSTS{self.code}: " + text.format(
            detail=self.detail, client_id=self.client_id, tenant=tenant
        )


def from_authlib(error: OAuth2Error, client_id: str, client_known: bool) -> EntraError:
    """The Entra error for an error Authlib raised while validating a request."""
    if isinstance(error, EntraError):
        return error
    description = error.description or ""
    if isinstance(error, oauth_errors.InvalidClientError):
        if client_id and client_known:
            return EntraError("invalid_client", 7000215, client_id=client_id, status_code=401)
        return EntraError("unauthorized_client", 700016, client_id=client_id)
    if isinstance(error, oauth_errors.InvalidGrantError):
        if "challenge" in description.lower():
            return EntraError("invalid_grant", 501481)
        if "redirect_uri" in description:
            return EntraError("invalid_grant", 50011, detail="(token request)", client_id=client_id)
        return EntraError("invalid_grant", 70008)
    if isinstance(error, oauth_errors.UnsupportedGrantTypeError):
        return EntraError("unsupported_grant_type", 70003, detail=str(error.error))
    if isinstance(error, oauth_errors.InvalidScopeError):
        return EntraError("invalid_scope", 70011, detail="(empty)")
    if "code_verifier" in description:
        missing = "Missing" in description
        return EntraError("invalid_request", 900144 if missing else 501481, detail="code_verifier")
    if description.startswith("Missing '"):
        return EntraError("invalid_request", 900144, detail=description.split("'")[1])
    return EntraError(error.error or "invalid_request", 9002313, detail=description)


def error_body(error: EntraError, tenant: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
    body: dict[str, Any] = {
        "error": error.error,
        "error_description": f"{error.message(tenant)} Trace ID: {trace_id} Correlation ID: "
        f"{correlation_id} Timestamp: {stamp}",
        "error_codes": [error.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={error.code}",
    }
    if error.suberror:
        body["suberror"] = error.suberror
    return body
