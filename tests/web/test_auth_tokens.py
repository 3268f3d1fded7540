"""Access tokens from the session's token cache: refreshed when needed, written back only then.

A test-only route calls `identity.acquire_token` the way the to-do pages do; the Flask test
client is the browser and the local tenant's forms are filled over HTTP.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask import Flask, jsonify, request
from flask.testing import FlaskClient

from app import SESSION_COOKIE
from app.identity import current_identity
from tests.fixtures.web import stored_session, stored_tokens
from tests.support.browser import FormBrowser


@pytest.fixture
def token_app(app: Flask) -> Flask:
    scope = app.config["WEB_CONFIG"].todolist_read

    def token() -> Any:
        force = request.args.get("force") == "1"
        access_token = current_identity().acquire_token([scope], force_refresh=force)
        claims = jwt.decode(access_token, options={"verify_signature": False})
        return jsonify(scp=claims["scp"], aud=claims["aud"], jti=claims.get("uti"))

    app.add_url_rule("/_test/token", view_func=token)
    return app


def sign_in(client: FlaskClient, tenant: Any) -> Any:
    user = tenant.add_user()
    auth_uri = client.get("/auth/signin").headers["Location"]
    back = FormBrowser(tenant.ca_file).sign_in(auth_uri, user.email, user.password)
    assert client.get(back.location).status_code == 302
    return user


def store_file_stamp(app: Flask, client: FlaskClient) -> tuple[int, int]:
    """Identifies the stored version of the session's token cache (its file in the store)."""
    sid = client.get_cookie(SESSION_COOKIE).value
    key = stored_session(app, sid)["token_key"]
    stat = os.stat(app.config["WEB_CONFIG"].instance_dir / "tokens" / f"{key}.json")
    return stat.st_ino, stat.st_mtime_ns


def test_a_token_is_refreshed_once_and_the_cache_written_only_then(
    token_app: Flask, tenant_reset: Any
) -> None:
    client = token_app.test_client()
    sign_in(client, tenant_reset)
    before = store_file_stamp(token_app, client)
    first = client.get("/_test/token")
    assert first.status_code == 200, first.get_data(as_text=True)
    assert first.json["scp"] == "ToDoList.Read"
    assert tenant_reset.admin.counts()["token"]["refresh_token"] == 1
    after_refresh = store_file_stamp(token_app, client)
    assert after_refresh != before
    second = client.get("/_test/token")
    assert second.status_code == 200
    assert tenant_reset.admin.counts()["token"]["refresh_token"] == 1  # from the cache
    assert store_file_stamp(token_app, client) == after_refresh  # nothing written
    forced = client.get("/_test/token?force=1")
    assert forced.status_code == 200
    assert tenant_reset.admin.counts()["token"]["refresh_token"] == 2
    assert store_file_stamp(token_app, client) != after_refresh


def test_the_stored_cache_keeps_only_what_the_app_reads_back(
    token_app: Flask, tenant_reset: Any
) -> None:
    """No raw ID token (its claims are in the session) and no token for another resource."""
    client = token_app.test_client()
    sign_in(client, tenant_reset)
    sid = client.get_cookie(SESSION_COOKIE).value
    after_sign_in = stored_tokens(token_app, sid)
    assert after_sign_in["RefreshToken"], "the refresh token is what later requests need"
    assert after_sign_in["Account"]
    assert not after_sign_in.get("IdToken")
    assert not after_sign_in.get("AccessToken")  # the sign-in's token was for Microsoft Graph
    assert client.get("/_test/token").status_code == 200
    after_refresh = stored_tokens(token_app, sid)
    targets = [at["target"] for at in after_refresh["AccessToken"].values()]
    assert targets == [token_app.config["WEB_CONFIG"].todolist_read]
    assert not after_refresh.get("IdToken")


def test_a_refused_refresh_sends_the_user_to_sign_in_and_back(
    token_app: Flask, tenant_reset: Any
) -> None:
    client = token_app.test_client()
    sign_in(client, tenant_reset)
    tenant_reset.admin.refuse_next_refresh("invalid_grant")
    # The to-do page asks for the token before it calls the API (which is not running here).
    resp = client.get("/todos")
    assert resp.status_code == 302
    target = urlsplit(resp.headers["Location"])
    assert target.path == "/auth/signin"
    params = parse_qs(target.query)
    assert params["next"] == ["/todos"]
    assert params["scope"] == [token_app.config["WEB_CONFIG"].todolist_read]
    # Signing in for that scope asks the tenant for it and comes back to the page.
    auth_uri = client.get(resp.headers["Location"]).headers["Location"]
    assert token_app.config["WEB_CONFIG"].todolist_read in parse_qs(
        urlsplit(auth_uri).query)["scope"][0]


def test_a_signed_out_request_for_a_token_goes_to_sign_in(token_app: Flask) -> None:
    resp = token_app.test_client().get("/todos")
    assert resp.status_code == 302
    assert urlsplit(resp.headers["Location"]).path == "/auth/signin"


def test_unknown_scopes_in_the_sign_in_link_are_ignored(client: FlaskClient) -> None:
    resp = client.get("/auth/signin?scope=https://graph.microsoft.com/Mail.Read")
    scope = parse_qs(urlsplit(resp.headers["Location"]).query)["scope"][0]
    assert "Mail.Read" not in scope
    assert set(scope.split()) == {"openid", "profile", "offline_access"}
