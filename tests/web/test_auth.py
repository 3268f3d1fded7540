"""Sign-in, sign-up, sign-out and the claims page, through the local tenant's own pages.

The web app runs on a free loopback port (`live_web`); a `Person` plays the person: one
cookie jar for the app and the tenant, the tenant's forms filled over HTTP.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from app.serving import redact
from app.urls import local_path
from tests.fixtures.web import LiveWeb
from tests.support.person import Person
from tests.support.sessions import session_exists, signed_in_oid, stored_tokens


def claim_row(name: str, value: str) -> str:
    return f"<tr><th scope=\"row\"><code>{name}</code></th><td>{value}</td></tr>"


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_protected_page_sends_a_signed_out_visitor_to_sign_in(person: Person) -> None:
    resp = person.get("/users/id?view=all")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/auth/signin?next=/users/id?view%3Dall"


def test_home_page_signed_out_offers_sign_in_and_sign_up(person: Person) -> None:
    page = person.get("/")
    assert page.status_code == 200
    assert 'href="/auth/signin"' in page.text
    assert 'href="/auth/signup"' in page.text
    assert "Hi " not in page.text
    assert person.session_id is None  # a visit without signing in stores nothing


def test_sign_in_returns_to_the_page_with_a_new_session_id_and_shows_the_claims(
    live_web: LiveWeb, person: Person, tenant: Any
) -> None:
    user = tenant.add_user()
    auth_uri = person.start("/auth/signin", next="/users/id")
    assert urlsplit(auth_uri).path.endswith("/oauth2/v2.0/authorize")
    params = query(auth_uri)
    assert params["response_mode"] == ["query"]
    assert params["code_challenge_method"] == ["S256"]
    assert "prompt" not in params
    # Starting a sign-in stores nothing for an anonymous visitor: no session yet.
    assert person.session_id is None
    resp = person.deliver(person.tenant.sign_in(auth_uri, user.email, user.password))
    assert resp.status_code == 302, resp.text
    assert resp.headers["Location"] == "/users/id"
    before = person.session_id
    assert before is not None
    assert session_exists(live_web.app, before)
    # Signing in again (for an API scope, say) gives the session a new id; the old one is gone.
    again = person.follow_sign_in(f"/auth/signin?scope={live_web.config.todolist_read}")
    assert again.status_code == 302, again.text
    after = person.session_id
    assert after is not None
    assert after != before
    assert not session_exists(live_web.app, before)
    page = person.get("/users/id")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert claim_row("oid", user.oid) in text
    assert claim_row("tid", tenant.tenant_id) in text
    assert claim_row("name", user.name) in text
    home = html.unescape(person.get("/").text)
    assert f"Hi {user.name}!" in home
    assert 'action="/auth/signout"' in home


def test_session_cookie_holds_only_an_id_with_safe_flags(
    live_web: LiveWeb, person: Person, tenant: Any
) -> None:
    started = person.get("/auth/signin")
    # A sign-in in progress is only a short-lived, signed list of its states, for /auth/ only.
    flow_cookie = started.headers["Set-Cookie"]
    assert flow_cookie.startswith("todo_signin=")
    assert "Max-Age=600" in flow_cookie
    assert "Path=/auth/" in flow_cookie
    assert "HttpOnly" in flow_cookie
    assert "SameSite=Lax" in flow_cookie
    person.http.cookies.clear()
    user = tenant.add_user()
    back = person.sign_in(user)
    cookie = next(c for c in back.raw.headers.getlist("Set-Cookie")
                  if c.startswith("todo_session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # served over http://localhost
    assert "Expires" not in cookie  # a browser-session cookie: the server decides its end
    assert "Max-Age" not in cookie
    sid = person.session_id
    assert sid is not None
    assert len(sid) < 64
    assert user.oid not in sid
    assert session_exists(live_web.app, sid)
    assert signed_in_oid(live_web.app, sid) == user.oid
    cache = stored_tokens(live_web.app, sid)
    assert cache is not None
    assert len(cache["RefreshToken"]) == 1
    assert len(cache["Account"]) == 1


def test_sign_up_creates_the_account_and_signs_in(
    person: Person, tenant: Any
) -> None:
    auth_uri = person.start("/auth/signup")
    assert query(auth_uri)["prompt"] == ["create"]
    name = "Ada Newcomer"
    email = f"ada-{id(person)}@example.com"
    back = person.tenant.sign_up(auth_uri, email, "Correct horse battery", name)
    resp = person.deliver(back)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"
    assert f"Hi {name}!" in html.unescape(person.get("/").text)
    assert claim_row("preferred_username", email) in html.unescape(
        person.get("/users/id").text
    )


def test_sign_out_deletes_the_session_and_ends_the_tenant_session(
    live_web: LiveWeb, person: Person, tenant: Any
) -> None:
    user = tenant.add_user()
    person.sign_in(user)
    old_sid = person.session_id
    confirm = person.get("/auth/signout")
    assert confirm.status_code == 200
    assert "Sign out?" in confirm.text
    assert person.get("/users/id").status_code == 200  # GET does not sign out
    token = person.csrf_token("/")
    resp = person.post("/auth/signout", {"csrf_token": token})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    discovery = live_web.identity.tenant.discovery()
    assert location.startswith(discovery["end_session_endpoint"] + "?")
    expected = f"{live_web.url}/"
    assert "post_logout_redirect_uri=" + requests.utils.quote(expected, safe="") in location
    assert query(location)["post_logout_redirect_uri"] == [expected]
    assert not session_exists(live_web.app, old_sid)
    assert person.session_id is None
    assert person.get("/users/id").status_code == 302
    # The tenant ends its own session and sends the browser back to the app.
    logout = person.get(location)
    assert logout.status_code == 302
    assert logout.headers["Location"] == expected
    # Someone holding the old cookie gets nothing.
    thief = requests.Session()
    thief.cookies.set("todo_session", old_sid)
    stolen = thief.get(f"{live_web.url}/users/id", allow_redirects=False)
    assert stolen.status_code == 302
    assert stolen.headers["Location"].startswith("/auth/signin")


def test_sign_out_without_the_csrf_token_is_refused(
    person: Person, tenant: Any
) -> None:
    person.sign_in(tenant.add_user())
    for data in ({}, {"csrf_token": "forged"}):
        resp = person.post("/auth/signout", data)
        assert resp.status_code == 400
        assert "This form has expired" in html.unescape(resp.text)
        assert "Traceback" not in resp.text
    assert person.get("/users/id").status_code == 200


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)",
     "http:/evil.example", "/\tevil"],
)
def test_return_address_only_leads_to_local_paths(
    person: Person, tenant: Any, target: str
) -> None:
    resp = person.sign_in(tenant.add_user(), next=target)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/"


def test_a_signed_in_visit_to_sign_in_goes_straight_to_the_page(
    tenant_reset: Any, person: Person
) -> None:
    person.sign_in(tenant_reset.add_user())
    resp = person.get("/auth/signin?next=/users/id")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/users/id"
    assert tenant_reset.admin.counts()["authorize"] == 1


def test_form_post_answers_are_accepted_too(
    live_web: LiveWeb, person: Person, tenant: Any
) -> None:
    user = tenant.add_user()
    auth_uri = person.start("/auth/signin", next="/users/id")
    form_post = auth_uri.replace("response_mode=query", "response_mode=form_post")
    back = person.tenant.sign_in(form_post, user.email, user.password)
    assert back.method == "POST"
    resp = person.deliver(back)
    assert resp.status_code == 302, resp.text
    assert resp.headers["Location"] == "/users/id"
    assert user.oid in person.get("/users/id").text


def test_many_page_views_make_one_discovery_request(
    tenant_reset: Any, web_settings: dict[str, str], tmp_path: Any
) -> None:
    with LiveWeb(web_settings, tmp_path / "instance") as web:
        browser = Person(web.url, tenant_reset.ca_file)
        user = tenant_reset.add_user()
        for _ in range(2):
            browser.sign_in(user)
            for path in ("/", "/users/id", "/auth/signout", "/users/id?again=1"):
                assert browser.get(path).status_code == 200
            out = browser.sign_out()
            browser.get(out.headers["Location"])
        counts = tenant_reset.admin.counts()
    assert counts["token"]["authorization_code"] == 2
    assert counts["discovery"] == 1
    assert counts["keys"] == 1


def test_the_access_log_never_shows_the_authorization_code(
    person: Person, tenant: Any, caplog: pytest.LogCaptureFixture
) -> None:
    user = tenant.add_user()
    back = person.tenant.sign_in(person.start(), user.email, user.password)
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        assert person.deliver(back).status_code == 302
    lines = [record.getMessage() for record in caplog.records]
    assert any("/auth/redirect?code=[...]&state=[...]" in line for line in lines), lines
    for secret in (back.params["code"], back.params["state"]):
        assert not any(secret in line for line in lines)


@pytest.mark.parametrize("credential", ["thumbprint", "certificate"])
def test_a_certificate_can_replace_the_client_secret(
    tenant_reset: Any, tmp_path: Any, credential: str
) -> None:
    settings = {**tenant_reset.env("web", credential=credential), "JWKS_MIN_REFRESH_SECONDS": "0"}
    assert "CLIENT_SECRET" not in settings
    with LiveWeb(settings, tmp_path / "instance") as web:
        assert isinstance(web.config.client_credential, dict)
        browser = Person(web.url, tenant_reset.ca_file)
        user = tenant_reset.add_user()
        assert browser.sign_in(user, next="/users/id").headers["Location"] == "/users/id"
        assert user.oid in browser.get("/users/id").text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/todos?page=2", "/todos?page=2"),
        ("/", "/"),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("https://evil.example/", None),
        ("evil.example", None),
        ("/a\r\nSet-Cookie: x=1", None),
        ("", None),
        (None, None),
    ],
)
def test_local_path_accepts_only_paths_on_this_site(
    value: str | None, expected: str | None
) -> None:
    assert local_path(value) == expected


def test_redact_hides_codes_and_tokens_but_keeps_the_rest() -> None:
    assert redact("/auth/redirect?code=abc&state=xyz&session_state=s") == (
        "/auth/redirect?code=[...]&state=[...]&session_state=[...]"
    )
    assert redact("/todos?page=2") == "/todos?page=2"
    assert redact("/users/id") == "/users/id"
