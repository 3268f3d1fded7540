"""`REQUIRE_MFA_FOR_DELETE`: a DELETE whose token lacks the authentication context in `acrs` is
answered with a claims challenge (401, `error="insufficient_claims"`), as Microsoft's APIs do.

Tokens without `acrs` are real ones from the local tenant (a user through MSAL and the sign-in
form, an app through client credentials); the local tenant does not yet put `acrs` in tokens,
so a token that satisfied the context is a real token's claims with `acrs` added, signed with
the tenant's own key (`Forger`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from tests.api.tokens import READ, READWRITE, READWRITE_ALL, Forger, Tokens
from tests.fixtures.api import ApiServer

# base64 of {"access_token":{"acrs":{"essential":true,"value":"c1"}}}, standard, padded.
C1_CLAIMS = "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"
C1_CHALLENGE = f'Bearer realm="", error="insufficient_claims", claims="{C1_CLAIMS}"'


@pytest.fixture(scope="module")
def mfa_api(api_server_factory: Callable[..., ApiServer]) -> ApiServer:
    return api_server_factory(REQUIRE_MFA_FOR_DELETE="1")


def new_item(api: ApiServer, token: str) -> str:
    created = api.request("POST", "/api/todolist", token, json={"description": "Shred files"})
    assert created.status_code == 201, created.text
    return f"/api/todolist/{created.json()['id']}"


def with_acrs(forger: Forger, token: str, *acrs: str) -> str:
    """The real `token`'s claims plus `acrs`, signed with the tenant's key."""
    return forger.sign(forger.claims(token, acrs=list(acrs)))


def test_a_delete_without_the_context_gets_a_claims_challenge_and_nothing_is_deleted(
    mfa_api: ApiServer, tokens: Tokens
) -> None:
    user = tokens.user("mfa-alice", READ, READWRITE)
    item = new_item(mfa_api, user.token)

    refused = mfa_api.request("DELETE", item, user.token)

    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == C1_CHALLENGE
    assert json.loads(base64.b64decode(C1_CLAIMS)) == {
        "access_token": {"acrs": {"essential": True, "value": "c1"}}
    }
    assert refused.headers["Content-Type"] == "application/problem+json"
    body = refused.json()
    assert {k: body[k] for k in ("type", "title", "status", "instance")} == {
        "type": "about:blank", "title": "Unauthorized", "status": 401, "instance": item,
    }
    assert "authentication context c1" in body["detail"]
    assert mfa_api.request("GET", item, user.token).status_code == 200  # still there
    assert (f"claims challenge: DELETE {item} needs authentication context c1; "
            "the token's acrs: none") in mfa_api.log()


def test_a_token_whose_acrs_holds_the_context_deletes(
    mfa_api: ApiServer, tokens: Tokens, forger: Forger
) -> None:
    user = tokens.user("mfa-bob", READ, READWRITE)
    item = new_item(mfa_api, user.token)
    assert mfa_api.request("DELETE", item, with_acrs(forger, user.token, "c2")).status_code == 401
    stepped_up = with_acrs(forger, user.token, "c2", "c1")
    assert mfa_api.request("DELETE", item, stepped_up).status_code == 204
    assert mfa_api.request("GET", item, user.token).status_code == 404


def test_only_deletes_are_challenged(mfa_api: ApiServer, tokens: Tokens) -> None:
    user = tokens.user("mfa-carol", READ, READWRITE)
    item = new_item(mfa_api, user.token)
    assert mfa_api.request("GET", "/api/todolist", user.token).status_code == 200
    changed = mfa_api.request("PUT", item, user.token, json={"description": "Shred papers"})
    assert changed.status_code == 200


def test_an_app_is_challenged_too(mfa_api: ApiServer, tokens: Tokens) -> None:
    """An app cannot do MFA: with the setting on, apps cannot delete (a daemon reports it)."""
    app = tokens.app(READWRITE_ALL)
    item = new_item(mfa_api, app.token)
    refused = mfa_api.request("DELETE", item, app.token)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == C1_CHALLENGE


def test_a_read_only_token_gets_403_before_any_challenge(
    mfa_api: ApiServer, tokens: Tokens
) -> None:
    reader = tokens.user("mfa-dave", READ)
    refused = mfa_api.request("DELETE", "/api/todolist/1", reader.token)
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def test_another_context_is_asked_for_by_name(
    api_server_factory: Callable[..., ApiServer], tokens: Tokens, forger: Forger
) -> None:
    api = api_server_factory(REQUIRE_MFA_FOR_DELETE="true", MFA_AUTH_CONTEXT="c7")
    user = tokens.user("mfa-erin", READ, READWRITE)
    item = new_item(api, user.token)
    refused = api.request("DELETE", item, with_acrs(forger, user.token, "c1"))
    assert refused.status_code == 401
    claims = refused.headers["WWW-Authenticate"].split('claims="')[1].rstrip('"')
    assert base64.b64decode(claims, validate=True) == (
        b'{"access_token":{"acrs":{"essential":true,"value":"c7"}}}'
    )
    assert api.request("DELETE", item, with_acrs(forger, user.token, "c7")).status_code == 204


def test_off_by_default_a_token_without_acrs_deletes(
    api_server: ApiServer, tokens: Tokens
) -> None:
    user = tokens.user("mfa-frank", READ, READWRITE)
    item = new_item(api_server, user.token)
    assert api_server.request("DELETE", item, user.token).status_code == 204


@pytest.mark.parametrize("acrs", ["c1", None, [1], {"c1": True}])
def test_an_acrs_that_is_not_a_list_of_strings_is_an_invalid_token(
    mfa_api: ApiServer, tokens: Tokens, forger: Forger, acrs: object
) -> None:
    user = tokens.user("mfa-alice", READ, READWRITE)
    token = forger.sign(forger.claims(user.token, acrs=acrs))
    refused = mfa_api.request("GET", "/api/todolist", token)
    assert refused.status_code == 401
    assert "the token's acrs is not a list of strings" in refused.headers["WWW-Authenticate"]
