"""Fault switches, lifetimes, key rotation and request counters, seen through PyJWT and MSAL."""

from __future__ import annotations

import hashlib

import jwt
import pytest

from devtenant.admin import TenantAdminError
from tests.devtenant.helpers import REDIRECT_URI, daemon_app, sign_in, validate, web_app
from tests.support.browser import FormBrowser

# What PyJWT (validating as docs/security.md#discovery-and-signing-keys asks) says about each
# broken token.
PYJWT_FAILURES = {
    "wrong_iss": jwt.InvalidIssuerError,
    "wrong_aud": jwt.InvalidAudienceError,
    "expired": jwt.ExpiredSignatureError,
    "missing_iat": jwt.MissingRequiredClaimError,
    "missing_sub": jwt.MissingRequiredClaimError,
    "bad_signature": jwt.InvalidSignatureError,
}


def _keys(tenant, http) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_dict(http.get(tenant.jwks_uri).json())


def _decode(token: str, tenant, http, audience: str) -> dict:
    """Validation without assumptions about the header (for tokens broken on purpose)."""
    header = jwt.get_unverified_header(token)
    keys = _keys(tenant, http).keys
    key = next(k for k in keys if k.key_id == header["kid"]) if "kid" in header else keys[-1]
    return jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=audience,
        issuer=tenant.issuer,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )


def _app_token(tenant, http) -> str:
    result = daemon_app(tenant, http).acquire_token_for_client(
        [tenant.env("daemon")["SCOPES"] + "/.default"]
    )
    assert "access_token" in result, result
    return result["access_token"]


@pytest.mark.parametrize("fault", sorted(PYJWT_FAILURES))
def test_access_token_faults_fail_validation_once(tenant, tenant_reset, http, fault):
    api_id = tenant.env("api")["CLIENT_ID"]
    tenant.admin.fault("access_token", fault)
    with pytest.raises(PYJWT_FAILURES[fault]):
        _decode(_app_token(tenant, http), tenant, http, api_id)
    validate(_app_token(tenant, http), tenant, http, api_id)  # one-shot: the next one is fine


def test_access_token_alg_none(tenant, tenant_reset, http):
    tenant.admin.fault("access_token", "alg_none")
    token = _app_token(tenant, http)
    assert jwt.get_unverified_header(token)["alg"] == "none"
    assert token.endswith(".")
    with pytest.raises(jwt.InvalidAlgorithmError):
        _decode(token, tenant, http, tenant.env("api")["CLIENT_ID"])


def test_access_token_without_kid_is_signed_by_the_current_key(tenant, tenant_reset, http):
    tenant.admin.fault("access_token", "no_kid")
    token = _app_token(tenant, http)
    assert "kid" not in jwt.get_unverified_header(token)
    claims = _decode(token, tenant, http, tenant.env("api")["CLIENT_ID"])
    assert claims["roles"]


@pytest.mark.parametrize("fault", sorted(PYJWT_FAILURES))
def test_id_token_faults(tenant, tenant_reset, http, fault):
    tenant.admin.fault("id_token", fault)
    _app, _user, result, _browser = sign_in(tenant, http, [])
    web_id = tenant.env("web")["CLIENT_ID"]
    with pytest.raises(PYJWT_FAILURES[fault]):
        _decode(result["id_token"], tenant, http, web_id)
    # The access token of the same response is not affected.
    assert _decode(result["access_token"], tenant, http, "00000003-0000-0000-c000-000000000000")


def test_id_token_wrong_nonce_is_caught_by_msal(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    tenant.admin.fault("id_token", "wrong_nonce")
    with pytest.raises(RuntimeError, match="nonce"):
        app.acquire_token_by_auth_code_flow(flow, back.params)


def test_id_token_alg_none_and_no_kid(tenant, tenant_reset, http):
    web_id = tenant.env("web")["CLIENT_ID"]
    tenant.admin.fault("id_token", "alg_none")
    _app, _user, result, _browser = sign_in(tenant, http, [])
    assert jwt.get_unverified_header(result["id_token"])["alg"] == "none"
    with pytest.raises(jwt.InvalidAlgorithmError):
        _decode(result["id_token"], tenant, http, web_id)

    tenant.admin.fault("id_token", "no_kid")
    _app, _user, result, _browser = sign_in(tenant, http, [])
    assert "kid" not in jwt.get_unverified_header(result["id_token"])
    assert _decode(result["id_token"], tenant, http, web_id)["sub"]


def test_faults_are_refused_when_unknown(tenant, tenant_reset):
    with pytest.raises(TenantAdminError, match="400"):
        tenant.admin.fault("access_token", "make_it_weird")
    with pytest.raises(TenantAdminError, match="400"):
        tenant.admin.fault("refresh_token", "expired")


@pytest.mark.parametrize(
    ("error", "code"), [("invalid_grant", 50173), ("interaction_required", 50076)]
)
def test_refuse_next_refresh(tenant, tenant_reset, http, error, code):
    env = tenant.env("web")
    app, _user, _result, _browser = sign_in(tenant, http, [env["TODOLIST_READ"]])
    account = app.get_accounts()[0]
    tenant.admin.refuse_next_refresh(error)
    refused = app.acquire_token_silent_with_error(
        [env["TODOLIST_READ"]], account=account, force_refresh=True
    )
    assert refused["error"] == error
    assert refused["error_codes"] == [code]
    # One-shot: another application (no MSAL throttling state) refreshes fine.
    rt = next(iter(app.token_cache.search(app.token_cache.CredentialType.REFRESH_TOKEN)))
    again = web_app(tenant, http).acquire_token_by_refresh_token(
        rt["secret"], [env["TODOLIST_READ"]]
    )
    assert "access_token" in again, again


def test_lifetimes_apply_to_new_tokens_until_reset(tenant, tenant_reset, http):
    tenant.admin.set_lifetimes(access_token=120, id_token=300)
    _app, _user, result, _browser = sign_in(tenant, http, [])
    access = jwt.decode(result["access_token"], options={"verify_signature": False})
    id_claims = jwt.decode(result["id_token"], options={"verify_signature": False})
    assert access["exp"] - access["iat"] == 120
    assert id_claims["exp"] - id_claims["iat"] == 300
    assert result["expires_in"] == 120
    tenant.admin.reset()
    claims = jwt.decode(_app_token(tenant, http), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 3600


def test_key_rotation_old_and_new_tokens_validate(tenant, tenant_reset, http):
    api_id = tenant.env("api")["CLIENT_ID"]
    old = _app_token(tenant, http)
    old_kid = jwt.get_unverified_header(old)["kid"]
    new_kid = tenant.admin.rotate_key()
    assert new_kid != old_kid
    new = _app_token(tenant, http)
    assert jwt.get_unverified_header(new)["kid"] == new_kid
    kids = [k.key_id for k in _keys(tenant, http).keys]
    assert old_kid in kids
    assert new_kid in kids
    assert validate(old, tenant, http, api_id)["roles"]
    assert validate(new, tenant, http, api_id)["roles"]


def test_idtyp_claim_switch(tenant, tenant_reset, http):
    tenant.admin.set_idtyp(False)
    assert "idtyp" not in jwt.decode(_app_token(tenant, http), options={"verify_signature": False})
    tenant.admin.set_idtyp(True)
    assert (
        jwt.decode(_app_token(tenant, http), options={"verify_signature": False})["idtyp"] == "app"
    )


def test_counters_count_each_endpoint(tenant, tenant_reset, http):
    env = tenant.env("web")
    assert tenant.admin.counts() == {
        "discovery": 0,
        "keys": 0,
        "authorize": 0,
        "logout": 0,
        "token": {"authorization_code": 0, "refresh_token": 0, "client_credentials": 0},
    }
    app, _user, _result, _browser = sign_in(tenant, http, [env["TODOLIST_READ"]])
    app.acquire_token_silent([env["TODOLIST_READWRITE"]], account=app.get_accounts()[0])
    daemon_app(tenant, http).acquire_token_for_client(
        [tenant.env("daemon")["SCOPES"] + "/.default"]
    )
    http.get(tenant.jwks_uri)
    counts = tenant.admin.counts()
    assert counts["discovery"] == 2  # one per MSAL application constructed
    assert counts["keys"] == 1
    assert counts["authorize"] == 1
    assert counts["token"] == {
        "authorization_code": 1,
        "refresh_token": 1,
        "client_credentials": 1,
    }
    tenant.admin.reset_counts()
    assert tenant.admin.counts()["discovery"] == 0


def test_nonce_is_echoed_exactly(tenant, tenant_reset, http):
    user = tenant.add_user()
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
    back = FormBrowser(tenant.ca_file).sign_in(flow["auth_uri"], user.email, user.password)
    result = app.acquire_token_by_auth_code_flow(flow, back.params)
    expected = hashlib.sha256(flow["nonce"].encode()).hexdigest()
    assert (
        validate(result["id_token"], tenant, http, tenant.env("web")["CLIENT_ID"])["nonce"]
        == expected
    )
