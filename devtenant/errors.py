"""Errors shaped like Entra's: an OAuth error code plus an AADSTS number and message.

The wording of each message is Entra's (as its token endpoint and error page answer in 2024-25);
the `error_description` carries the message followed by Entra's trace lines:
`AADSTS<code>: <message>\r\nTrace ID: <guid>\r\nCorrelation ID: <guid>\r\nTimestamp: <time>`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import errors as oauth_errors
from flask import request

CLIENT_REQUEST_ID = "client-request-id"

MESSAGES = {
    50011: "The redirect URI '{detail}' specified in the request does not match the redirect "
    "URIs configured for the application '{client_id}'. Make sure the redirect URI sent in the "
    "request matches one added to your application in the Azure portal. Navigate to "
    "https://aka.ms/redirectUriMismatchError to learn more about how to fix this.",
    50058: "A silent sign-in request was sent but no user is signed in.",
    50076: "Due to a configuration change made by your administrator, or because you moved to "
    "a new location, you must use multi-factor authentication to access '{detail}'.",
    50126: "Error validating credentials due to invalid username or password.",
    50173: "The provided grant has expired due to it being revoked, a fresh auth token is "
    "needed. The user might have changed or reset their password.",
    54005: "OAuth2 Authorization code was already redeemed, please retry with a new valid code "
    "or use an existing refresh token.",
    65004: "User declined to consent to access the app.",
    65001: "The user or administrator has not consented to use the application with ID "
    "'{client_id}' named '{app_name}'. Send an interactive authorization request for this user "
    "and resource.",
    70003: "The app requested an unsupported grant type '{detail}'.",
    70008: "The provided authorization code or refresh token has expired due to inactivity. "
    "Send a new interactive authorization request for this user and resource.",
    70011: "The provided value for the input parameter 'scope' is not valid. The scope "
    "'{detail}' does not exist.",
    500112: "The reply address '{detail}' does not match the reply address '{expected}' "
    "provided when requesting Authorization code.",
    650053: "The application '{app_name}' asked for scope '{detail}' that doesn't exist on the "
    "resource '{resource}'. Contact the app vendor.",
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
    7000222: "The provided client secret keys for app '{client_id}' are expired. Visit the "
    "Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider "
    "using certificate credentials for added security: https://aka.ms/certCreds.",
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
# AADSTS700027 when the assertion's certificate is not registered on the application (Entra
# names the thumbprint in hex and points at the app's keys).
ASSERTION_KEY_NOT_FOUND = (
    "The certificate with identifier used to sign the client assertion is not registered on "
    "application. [Reason - The key was not found., Thumbprint of key used by client: "
    "'{detail}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see "
    "configured keys for app Id '{client_id}'. Review the documentation at "
    "https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service "
    "endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0"
    "&tabs=http to build a query request URL, such as "
    "'https://graph.microsoft.com/beta/applications/{client_id}']."
)
# AADSTS700027 when the certificate is registered but the signature does not verify.
ASSERTION_BAD_SIGNATURE = (
    "Client assertion contains an invalid signature. [Reason - Key was found, but use of the "
    "key to verify the signature failed., Thumbprint of key used by client: '{detail}']."
)


class EntraError(OAuth2Error):
    """An OAuth error carrying Entra's AADSTS code (and optional `suberror`).

    The message is `MESSAGES[code]` (or `template`), formatted with `detail`, `client_id`, the
    tenant and any further `values` the template names (e.g. `app_name`).
    """

    def __init__(
        self,
        error: str,
        code: int,
        detail: str = "",
        client_id: str = "",
        status_code: int = 400,
        suberror: str | None = None,
        template: str | None = None,
        **values: str,
    ) -> None:
        self.code = code
        self.detail = detail
        self.client_id = client_id
        self.suberror = suberror
        self.template = template or MESSAGES.get(code, "{detail}")
        self.values = values
        super().__init__(description=f"AADSTS{code}", status_code=status_code, error=error)

    def as_error(self, error: str) -> EntraError:
        """The same AADSTS error under another OAuth `error` (Entra answers some conditions
        differently in the browser than at the token endpoint)."""
        return EntraError(
            error,
            self.code,
            self.detail,
            self.client_id,
            self.status_code,
            self.suberror,
            self.template,
            **self.values,
        )

    def message(self, tenant: str) -> str:
        """`AADSTS<code>: <message>`, as the first line of Entra's `error_description`."""
        text = self.template.format(
            detail=self.detail, client_id=self.client_id, tenant=tenant, **self.values
        )
        return f"AADSTS{self.code}: {text}"


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
        return EntraError("invalid_grant", 70008)
    if isinstance(error, oauth_errors.UnsupportedGrantTypeError):
        return EntraError("unsupported_grant_type", 70003, detail=str(error.error))
    if "code_verifier" in description:
        missing = "Missing" in description
        return EntraError("invalid_request", 900144 if missing else 501481, detail="code_verifier")
    if description.startswith("Missing '"):
        return EntraError("invalid_request", 900144, detail=description.split("'")[1])
    return EntraError(error.error or "invalid_request", 9002313, detail=description)


@dataclass(frozen=True)
class Trace:
    """What Entra appends to every error: its trace id, the correlation id, the time."""

    trace_id: str
    correlation_id: str
    timestamp: dt.datetime

    @classmethod
    def for_request(cls) -> Trace:
        """A new trace id; the correlation id the client sent (MSAL sends `client-request-id`
        as a header, MSAL.js as a query parameter) when it is a GUID, else a new one, as Entra
        does."""
        sent = request.headers.get(CLIENT_REQUEST_ID) or request.args.get(CLIENT_REQUEST_ID)
        return cls(str(uuid.uuid4()), client_request_id(sent) or str(uuid.uuid4()), _now())

    @property
    def stamp(self) -> str:
        """The timestamp as Entra writes it in token responses: `2024-03-05 12:54:51Z`."""
        return self.timestamp.strftime("%Y-%m-%d %H:%M:%SZ")

    @property
    def page_stamp(self) -> str:
        """The timestamp as Entra's error page shows it: `2024-03-05T12:54:51Z`."""
        return self.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def client_request_id(value: str | None) -> str | None:
    """`value` when it is a GUID (lower case), else None."""
    if not value:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def describe(error: EntraError, tenant: str, trace: Trace) -> str:
    """Entra's `error_description`: the message, then the trace lines (CRLF-separated)."""
    return (
        f"{error.message(tenant)}\r\nTrace ID: {trace.trace_id}\r\nCorrelation ID: "
        f"{trace.correlation_id}\r\nTimestamp: {trace.stamp}"
    )


def error_body(error: EntraError, tenant: str, trace: Trace) -> dict[str, Any]:
    """The token endpoint's JSON error."""
    body: dict[str, Any] = {
        "error": error.error,
        "error_description": describe(error, tenant, trace),
        "error_codes": [error.code],
        "timestamp": trace.stamp,
        "trace_id": trace.trace_id,
        "correlation_id": trace.correlation_id,
        "error_uri": error_uri(error),
    }
    if error.suberror:
        body["suberror"] = error.suberror
    return body


def error_uri(error: EntraError) -> str:
    return f"https://login.microsoftonline.com/error?code={error.code}"
