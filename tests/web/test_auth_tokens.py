"""Access tokens from the session's token cache: refreshed when needed, written back only then.

A test-only route calls `identity.acquire_token` the way the to-do pages do, on a web app of the
test's own; a `Person` signs in through the local tenant's forms over HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from flask import jsonify, request
from flask.testing import FlaskClient

from app.identity import current_identity
from tests.fixtures.web import LiveWeb
from tests.support.person import Person
from tests.support.sessions import stored_tokens, token_cache_file


@pytest.fixture
def token_web(web_settings: dict[str, str], tmp_path: Path) -> Iterator[LiveWeb]:
    """A web app with `/_test/token`: the read scope's access token, as the pages get it."""
    web = LiveWeb(web_settings, tmp_path / "instance")
    scope = web.config.todolist_read

    def token() -> Any:
        force = request.args.get("force") == "1"
        access_token = current_identity().acquire_token([scope], force_refresh=force)
        claims = jwt.decode(access_token, options={"verify_signature": False})
        return jsonify(scp=claims["scp"], aud=claims["aud"], jti=claims.get("uti"))

    web.app.add_url_rule("/_test/token", view_func=token)
    with web:
        yield web


def sign_in(web: LiveWeb, tenant: Any) -> Person:
    person = Person(web.url, tenant.ca_file)
    assert person.sign_in(tenant.add_user()).status_code == 302
    return person


def store_file_stamp(web: LiveWeb, person: Person) -> tuple[int, int]:
    """Identifies the stored version of the session's token cache (its file in the store)."""
    stat = os.stat(token_cache_file(web.app, person.session_id))
    return stat.st_ino, stat.st_mtime_ns


def test_a_token_is_refreshed_once_and_the_cache_written_only_then(
    token_web: LiveWeb, tenant_reset: Any
) -> None:
    person = sign_in(token_web, tenant_reset)
    before = store_file_stamp(token_web, person)
    first = person.get("/_test/token")
    assert first.status_code == 200, first.text
    assert first.json()["scp"] == "ToDoList.Read"
    assert tenant_reset.admin.counts()["token"]["refresh_token"] == 1
    after_refresh = store_file_stamp(token_web, person)
    assert after_refresh != before
    second = person.get("/_test/token")
    assert second.status_code == 200
    assert tenant_reset.admin.counts()["token"]["refresh_token"] == 1  # from the cache
    assert store_file_stamp(token_web, person) == after_refresh  # nothing written
    forced = person.get("/_test/token?force=1")
    assert forced.status_code == 200
    assert tenant_reset.admin.counts()["token"]["refresh_token"] == 2
    assert store_file_stamp(token_web, person) != after_refresh


def test_the_stored_cache_keeps_only_what_the_app_reads_back(
    token_web: LiveWeb, tenant_reset: Any
) -> None:
    """No raw ID token (its claims are in the session) and no token for another resource."""
    person = sign_in(token_web, tenant_reset)
    sid = person.session_id
    after_sign_in = stored_tokens(token_web.app, sid)
    assert after_sign_in["RefreshToken"], "the refresh token is what later requests need"
    assert after_sign_in["Account"]
    assert not after_sign_in.get("IdToken")
    assert not after_sign_in.get("AccessToken")  # the sign-in's token was for Microsoft Graph
    assert person.get("/_test/token").status_code == 200
    after_refresh = stored_tokens(token_web.app, sid)
    targets = [at["target"] for at in after_refresh["AccessToken"].values()]
    assert targets == [token_web.config.todolist_read]
    assert not after_refresh.get("IdToken")


def test_a_refused_refresh_sends_the_user_to_sign_in_and_back(
    token_web: LiveWeb, tenant_reset: Any
) -> None:
    person = sign_in(token_web, tenant_reset)
    tenant_reset.admin.refuse_next_refresh("invalid_grant")
    # The to-do page asks for the token before it calls the API (which is not running here).
    resp = person.get("/todos")
    assert resp.status_code == 302
    target = urlsplit(resp.headers["Location"])
    assert target.path == "/auth/signin"
    params = parse_qs(target.query)
    assert params["next"] == ["/todos"]
    assert params["scope"] == [token_web.config.todolist_read]
    # Signing in for that scope asks the tenant for it and comes back to the page.
    auth_uri = person.start(resp.headers["Location"])
    assert token_web.config.todolist_read in parse_qs(urlsplit(auth_uri).query)["scope"][0]


def test_a_signed_out_request_for_a_token_goes_to_sign_in(
    token_web: LiveWeb, tenant: Any
) -> None:
    resp = Person(token_web.url, tenant.ca_file).get("/todos")
    assert resp.status_code == 302
    assert urlsplit(resp.headers["Location"]).path == "/auth/signin"


def test_unknown_scopes_in_the_sign_in_link_are_ignored(client: FlaskClient) -> None:
    resp = client.get("/auth/signin?scope=https://graph.microsoft.com/Mail.Read")
    scope = parse_qs(urlsplit(resp.headers["Location"]).query)["scope"][0]
    assert "Mail.Read" not in scope
    assert set(scope.split()) == {"openid", "profile", "offline_access"}
