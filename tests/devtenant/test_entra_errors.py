"""Each misconfiguration of an app, answered as Entra answers it, seen through unmodified MSAL.

For every row: the OAuth `error`, `error_codes`, the start of the AADSTS text, Entra's trace
lines (`\\r\\nTrace ID: …\\r\\nCorrelation ID: …\\r\\nTimestamp: …`), the HTTP status, and the
correlation id MSAL sent as `client-request-id` coming back. Authorize errors are either
redirected to the client (no `error_codes` there, as in Entra's redirects) or shown on Entra's
own error page (an unknown client, an unregistered redirect URI).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from common.http import HttpClient
from devtenant import pki
from tests.devtenant.helpers import REDIRECT_URI, sign_in, web_app
from tests.support.browser import FormBrowser, Page, Redirect

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TRACE_LINES = re.compile(
    rf"\r\nTrace ID: ({GUID})\r\nCorrelation ID: ({GUID})\r\n"
    r"Timestamp: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ)$"
)


class RecordingHttp(HttpClient):
    """The HttpClient given to MSAL, keeping each token-endpoint response it received, so a
    test sees the HTTP status and the `client-request-id` MSAL sent (MSAL returns neither)."""

    def __init__(self, ca_file: str) -> None:
        super().__init__(ca_file=ca_file)
        self.token_responses: list[requests.Response] = []
        self.hooks["response"].append(self._keep)

    def _keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if (response.request.url or "").endswith("/oauth2/v2.0/token"):
            self.token_responses.append(response)


@pytest.fixture
def http(tenant) -> Any:
    client = RecordingHttp(tenant.ca_file)
    yield client
    client.close()


def assert_token_error(
    result: dict[str, Any], http: RecordingHttp, error: str, code: int, text: str, status: int
) -> str:
    """`result` is Entra's JSON error for the last token request; returns the message line."""
    assert result.get("error") == error, result
    assert result["error_codes"] == [code]
    message, _, trace = result["error_description"].partition("\r\n")
    assert message.startswith(f"AADSTS{code}: {text}"), message
    lines = TRACE_LINES.fullmatch("\r\n" + trace)
    assert lines, result["error_description"]
    assert lines.groups() == (result["trace_id"], result["correlation_id"], result["timestamp"])
    assert result["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"
    response = http.token_responses[-1]
    assert response.status_code == status
    sent = response.request.headers["client-request-id"]
    assert result["correlation_id"] == sent  # the id MSAL sent, not a new one
    assert response.headers["client-request-id"] == sent
    return message


def assert_redirected_error(params: dict[str, str], error: str, code: int, text: str) -> str:
    """`params` is what the tenant redirected to the client; returns the message line."""
    assert params["error"] == error, params
    assert "error_codes" not in params
    message, _, trace = params["error_description"].partition("\r\n")
    assert message.startswith(f"AADSTS{code}: {text}"), message
    assert TRACE_LINES.fullmatch("\r\n" + trace), params["error_description"]
    assert params["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"
    return message


def assert_error_page(page: Page | Redirect, code: int, text: str) -> str:
    """Entra's own error page: no redirect to the client; returns the message."""
    assert isinstance(page, Page), "the tenant must show its page, not redirect"
    assert page.status == 400
    assert page.error is not None
    assert page.error.startswith(f"AADSTS{code}: {text}"), page.error
    assert "Sorry, but we're having trouble signing you in." in page.text
    assert re.search(rf'id="correlation-id">{GUID}<', page.text)
    assert re.search(r'id="timestamp">\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ<', page.text)
    assert "Traceback" not in page.text
    return page.error


def authorize(tenant, app: msal.ConfidentialClientApplication, scopes: list[str], **kw: Any):
    """Open MSAL's authorization URL as a browser; (flow, what the tenant answered)."""
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=kw.pop("redirect_uri", REDIRECT_URI))
    return flow, FormBrowser(tenant.ca_file).open(flow["auth_uri"])


def added_web_app(tenant, http: HttpClient) -> tuple[dict[str, Any], Any]:
    """A web registration of its own (the shared ones must keep working for other tests)."""
    env = tenant.env("web")
    reg = tenant.admin.add_client(
        "web", consented_scopes=[env["TODOLIST_READ"], env["TODOLIST_READWRITE"]]
    )
    return reg, web_app(tenant, http, credential=reg["client_secret"], client_id=reg["client_id"])


def confidential(
    tenant, http: HttpClient, client_id: str, credential: Any, **options: Any
) -> msal.ConfidentialClientApplication:
    """The real MSAL client of this tenant for `client_id` with `credential`."""
    return msal.ConfidentialClientApplication(
        client_id, client_credential=credential, authority=tenant.authority,
        instance_discovery=False, http_client=http, **options,
    )


def added_daemon(tenant, http: HttpClient, credential: Any = None) -> tuple[dict[str, Any], Any]:
    reg = tenant.admin.add_client("daemon", roles=["ToDoList.Read.All"])
    app = confidential(tenant, http, reg["client_id"], credential or reg["client_secret"])
    return reg, app


def daemon_scope(tenant) -> list[str]:
    return [tenant.env("daemon")["SCOPES"] + "/.default"]


# -- AADSTS500011: a resource the tenant does not know -----------------------------------------
def test_an_unknown_resource_at_authorize_is_redirected_as_500011(tenant, tenant_reset, http):
    resource = f"api://{uuid.uuid4()}"
    app = web_app(tenant, http)
    flow, back = authorize(tenant, app, [f"{resource}/ToDoList.Read"])
    assert isinstance(back, Redirect)
    assert back.url == REDIRECT_URI
    assert back.params["state"] == flow["state"]
    message = assert_redirected_error(
        back.params,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named "
        f"{tenant.tenant_id}.",
    )
    assert "You might have sent your authentication request to the wrong tenant." in message
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert result["error"] == "invalid_resource"
    assert "access_token" not in result


def test_an_unknown_resource_on_refresh_gives_500011(tenant, tenant_reset, http):
    app, _user, _result, _browser = sign_in(tenant, http, [tenant.env("web")["TODOLIST_READ"]])
    resource = f"api://{uuid.uuid4()}"
    result = app.acquire_token_silent_with_error(
        [f"{resource}/ToDoList.Read"], account=app.get_accounts()[0]
    )
    assert_token_error(
        result,
        http,
        "invalid_resource",
        500011,
        f"The resource principal named {resource} was not found in the tenant named "
        f"{tenant.tenant_id}.",
        400,
    )
    assert http.token_responses[-1].request.body.count("grant_type=refresh_token") == 1


def test_client_credentials_for_an_unknown_resource_gives_500011(tenant, tenant_reset, http):
    resource = f"api://{uuid.uuid4()}"
    _reg, app = added_daemon(tenant, http)
    result = app.acquire_token_for_client([f"{resource}/.default"])
    assert_token_error(
        result, http, "invalid_resource", 500011, f"The resource principal named {resource} ", 400
    )


# -- a scope name the API does not expose: 650053 at authorize, 70011 at the token endpoint ----
def test_a_scope_the_api_does_not_expose_at_authorize_is_redirected_as_650053(
    tenant, tenant_reset, http
):
    """Entra checks the scope name at authorize and redirects AADSTS650053 with
    error=invalid_client (not 70011, which is the token endpoint's answer)."""
    api = tenant.registrations["api"]
    app = web_app(tenant, http)
    flow, back = authorize(tenant, app, [f"{api['app_id_uri']}/ToDoList.Delete"])
    assert isinstance(back, Redirect)
    assert back.params["state"] == flow["state"]
    assert_redirected_error(
        back.params,
        "invalid_client",
        650053,
        f"The application '{tenant.registrations['web']['display_name']}' asked for scope "
        f"'ToDoList.Delete' that doesn't exist on the resource '{api['client_id']}'. "
        "Contact the app vendor.",
    )
    assert app.acquire_token_by_auth_code_flow(flow, back.params)["error"] == "invalid_client"


def test_a_scope_the_api_does_not_expose_on_refresh_gives_70011(tenant, tenant_reset, http):
    api = tenant.registrations["api"]
    app, _user, _result, _browser = sign_in(tenant, http, [tenant.env("web")["TODOLIST_READ"]])
    unknown = f"{api['app_id_uri']}/ToDoList.Delete"
    result = app.acquire_token_silent_with_error([unknown], account=app.get_accounts()[0])
    message = assert_token_error(
        result,
        http,
        "invalid_scope",
        70011,
        "The provided value for the input parameter 'scope' is not valid. The scope '",
        400,
    )
    named = re.fullmatch(r".*The scope '(.+)' does not exist\.", message)
    assert named, message
    assert unknown in named.group(1).split()  # the whole scope MSAL sent, as Entra names it
    assert "offline_access" in named.group(1).split()


# -- AADSTS700016: an unknown (or deleted) application ------------------------------------------
def test_an_unknown_client_at_authorize_gets_entras_error_page(tenant, tenant_reset, http):
    client_id = str(uuid.uuid4())
    _flow, page = authorize(tenant, web_app(tenant, http, client_id=client_id), [])
    assert_error_page(
        page,
        700016,
        f"Application with identifier '{client_id}' was not found in the directory "
        f"'{tenant.tenant_id}'.",
    )


def test_an_unknown_client_at_the_token_endpoint_gives_700016(tenant, tenant_reset, http):
    client_id = str(uuid.uuid4())
    app = confidential(tenant, http, client_id, "any-secret")
    result = app.acquire_token_for_client(daemon_scope(tenant))
    assert_token_error(
        result,
        http,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the directory "
        f"'{tenant.tenant_id}'.",
        400,
    )


def test_after_the_app_is_deleted_its_refresh_gives_700016(tenant, tenant_reset, http):
    reg, app = added_web_app(tenant, http)
    sign_in(tenant, http, [tenant.env("web")["TODOLIST_READ"]], app=app)
    account = app.get_accounts()[0]
    tenant.admin.remove_client(reg["client_id"])

    result = app.acquire_token_silent_with_error(
        [tenant.env("web")["TODOLIST_READ"]], account=account, force_refresh=True
    )
    assert_token_error(
        result,
        http,
        "unauthorized_client",
        700016,
        f"Application with identifier '{reg['client_id']}' was not found in the directory",
        400,
    )
    # ... and a new sign-in stops at Entra's error page.
    _flow, page = authorize(tenant, app, [])
    assert_error_page(page, 700016, f"Application with identifier '{reg['client_id']}'")


def test_after_a_daemon_is_deleted_client_credentials_give_700016(tenant, tenant_reset, http):
    reg, app = added_daemon(tenant, http)
    assert "access_token" in app.acquire_token_for_client(daemon_scope(tenant))
    tenant.admin.remove_client(reg["client_id"])
    app.remove_tokens_for_client()  # as after the cached token expired
    result = app.acquire_token_for_client(daemon_scope(tenant))
    assert_token_error(result, http, "unauthorized_client", 700016, "Application with", 400)


def test_removing_an_unknown_client_is_refused(tenant, tenant_reset):
    from devtenant.admin import TenantAdminError

    with pytest.raises(TenantAdminError, match="404"):
        tenant.admin.remove_client(str(uuid.uuid4()))
    with pytest.raises(TenantAdminError, match="404"):
        tenant.admin.expire_secret(str(uuid.uuid4()))


# -- AADSTS7000215 / 7000222: a wrong, or an expired, client secret ----------------------------
WRONG_SECRET = "Invalid client secret provided. Ensure the secret being sent in the request is "
EXPIRED_SECRET = "The provided client secret keys for app '{}' are expired. Visit the Azure portal"


def test_a_wrong_secret_on_code_redemption_gives_7000215(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http, credential="not-the-secret")
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    message = assert_token_error(result, http, "invalid_client", 7000215, WRONG_SECRET, 401)
    assert f"for a secret added to app '{tenant.env('web')['CLIENT_ID']}'." in message


def test_a_wrong_secret_on_refresh_gives_7000215(tenant, tenant_reset, http):
    reg, app = added_web_app(tenant, http)
    sign_in(tenant, http, [tenant.env("web")["TODOLIST_READ"]], app=app)
    # The signed-in user's refresh token, with a wrong secret.
    wrong = confidential(
        tenant, http, reg["client_id"], "not-the-secret", token_cache=app.token_cache
    )
    result = wrong.acquire_token_silent_with_error(
        [tenant.env("web")["TODOLIST_READ"]], account=wrong.get_accounts()[0], force_refresh=True
    )
    assert_token_error(result, http, "invalid_client", 7000215, WRONG_SECRET, 401)


def test_an_expired_secret_for_client_credentials_gives_7000222(tenant, tenant_reset, http):
    reg, app = added_daemon(tenant, http)
    tenant.admin.expire_secret(reg["client_id"])
    result = app.acquire_token_for_client(daemon_scope(tenant))
    message = assert_token_error(
        result, http, "invalid_client", 7000222, EXPIRED_SECRET.format(reg["client_id"]), 401
    )
    assert message.endswith(
        "https://aka.ms/NewClientSecret, or consider using certificate credentials for added "
        "security: https://aka.ms/certCreds."
    )
    # A wrong value is still just wrong, and the app's certificate still works.
    _reg, wrong = added_daemon(tenant, http, credential="not-the-secret")
    assert wrong.acquire_token_for_client(daemon_scope(tenant))["error_codes"] == [7000215]
    certificate = {
        "private_key": Path(reg["private_key_file"]).read_text(),
        "thumbprint": reg["thumbprint_sha1"],
    }
    by_cert = confidential(tenant, http, reg["client_id"], certificate)
    assert "access_token" in by_cert.acquire_token_for_client(daemon_scope(tenant))


def test_an_expired_secret_on_code_redemption_and_refresh_gives_7000222(tenant, tenant_reset, http):
    reg, app = added_web_app(tenant, http)
    read = tenant.env("web")["TODOLIST_READ"]
    sign_in(tenant, http, [read], app=app)
    account = app.get_accounts()[0]
    user = tenant.add_user()
    flow = app.initiate_auth_code_flow([read], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)

    tenant.admin.expire_secret(reg["client_id"])
    expired = EXPIRED_SECRET.format(reg["client_id"])
    redeemed = app.acquire_token_by_auth_code_flow(flow, back.params)
    assert_token_error(redeemed, http, "invalid_client", 7000222, expired, 401)
    refreshed = app.acquire_token_silent_with_error([read], account=account, force_refresh=True)
    assert_token_error(refreshed, http, "invalid_client", 7000222, expired, 401)


# -- AADSTS700027: a client assertion the tenant cannot verify ---------------------------------
def _other_certificate() -> tuple[str, str]:
    """(private key PEM, SHA-1 thumbprint) of a certificate no registration has."""
    key, cert = pki.make_client_cert("not registered anywhere")
    sha1, _sha256 = pki.thumbprints(pki.cert_pem(cert))
    return pki.key_pem(key).decode(), sha1


def test_an_assertion_signed_with_an_unregistered_certificate_gives_700027(
    tenant, tenant_reset, http
):
    key, thumbprint = _other_certificate()
    reg, app = added_daemon(tenant, http, {"private_key": key, "thumbprint": thumbprint})
    result = app.acquire_token_for_client(daemon_scope(tenant))
    message = assert_token_error(
        result,
        http,
        "invalid_client",
        700027,
        "The certificate with identifier used to sign the client assertion is not registered "
        "on application. [Reason - The key was not found., Thumbprint of key used by client: "
        f"'{thumbprint}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph "
        f"to see configured keys for app Id '{reg['client_id']}'.",
        401,
    )
    assert message.endswith(f"'https://graph.microsoft.com/beta/applications/{reg['client_id']}'].")


def test_an_assertion_naming_the_registered_certificate_but_signed_by_another_key(
    tenant, tenant_reset, http
):
    key, _thumbprint = _other_certificate()
    reg = tenant.admin.add_client("daemon", roles=[])
    forged = {"private_key": key, "thumbprint": reg["thumbprint_sha1"]}
    app = confidential(tenant, http, reg["client_id"], forged)
    result = app.acquire_token_for_client(daemon_scope(tenant))
    assert_token_error(
        result,
        http,
        "invalid_client",
        700027,
        "Client assertion contains an invalid signature. [Reason - Key was found, but use of "
        f"the key to verify the signature failed., Thumbprint of key used by client: "
        f"'{reg['thumbprint_sha1']}'",
        401,
    )


# -- AADSTS50011 / 500112: redirect URIs ----------------------------------------------------------
def test_an_unregistered_redirect_uri_at_authorize_gets_the_page_naming_it_and_the_app(
    tenant, tenant_reset, http
):
    uri = "https://attacker.example/auth/redirect"
    _flow, page = authorize(tenant, web_app(tenant, http), [], redirect_uri=uri)
    message = assert_error_page(
        page,
        50011,
        f"The redirect URI '{uri}' specified in the request does not match the redirect URIs "
        f"configured for the application '{tenant.env('web')['CLIENT_ID']}'.",
    )
    assert message.endswith(
        "Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."
    )


def test_a_redemption_with_an_unregistered_redirect_uri_gives_50011(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    elsewhere = "https://app.example/auth/redirect"
    result = app.acquire_token_by_auth_code_flow({**flow, "redirect_uri": elsewhere}, back.params)
    assert_token_error(
        result,
        http,
        "invalid_request",
        50011,
        f"The redirect URI '{elsewhere}' specified in the request does not match the redirect "
        f"URIs configured for the application '{tenant.env('web')['CLIENT_ID']}'.",
        400,
    )


def test_a_redemption_with_another_registered_redirect_uri_gives_500112(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    other_port = "http://localhost:5123/auth/redirect"  # registered too: loopback, any port
    result = app.acquire_token_by_auth_code_flow({**flow, "redirect_uri": other_port}, back.params)
    assert_token_error(
        result,
        http,
        "invalid_grant",
        500112,
        f"The reply address '{other_port}' does not match the reply address '{REDIRECT_URI}' "
        "provided when requesting Authorization code.",
        400,
    )


# -- AADSTS65001: no consent for the scope ---------------------------------------------------------
def test_no_consent_on_refresh_and_at_authorize_gives_65001(tenant, tenant_reset, http):
    env = tenant.env("web")
    reg = tenant.admin.add_client("web", consented_scopes=[env["TODOLIST_READ"]])
    app = web_app(tenant, http, credential=reg["client_secret"], client_id=reg["client_id"])
    sign_in(tenant, http, [env["TODOLIST_READ"]], app=app)
    consent = (
        f"The user or administrator has not consented to use the application with ID "
        f"'{reg['client_id']}' named '{reg['display_name']}'. Send an interactive authorization "
        "request for this user and resource."
    )
    result = app.acquire_token_silent_with_error(
        [env["TODOLIST_READWRITE"]], account=app.get_accounts()[0]
    )
    assert_token_error(result, http, "invalid_grant", 65001, consent, 400)
    assert result["suberror"] == "consent_required"

    _flow, back = authorize(tenant, app, [env["TODOLIST_READWRITE"]])
    assert isinstance(back, Redirect)
    assert_redirected_error(back.params, "consent_required", 65001, consent)


# -- correlation ids ---------------------------------------------------------------------------
def test_the_correlation_id_is_the_clients_when_it_sends_a_guid(tenant, tenant_reset, http):
    token_url = f"{tenant.authority}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": str(uuid.uuid4())}
    sent = str(uuid.uuid4())
    answered = http.post(token_url, data=form, headers={"client-request-id": sent})
    assert answered.json()["correlation_id"] == sent
    assert answered.headers["client-request-id"] == sent
    for header in ({}, {"client-request-id": "not-a-guid"}):
        answered = http.post(token_url, data=form, headers=header)
        correlation_id = answered.json()["correlation_id"]
        assert re.fullmatch(GUID, correlation_id)
        assert correlation_id != sent
        assert "client-request-id" not in answered.headers
