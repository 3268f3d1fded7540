"""Every way a sign-in can go wrong ends on a page that says so: never a 500, never a trace.

ID-token faults come from the local tenant (`tenant.admin.fault("id_token", ...)`); after each,
the user is signed out and the session store holds nothing from that response.
"""

from __future__ import annotations

import html
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.fixtures.tenant import running_tenant
from tests.fixtures.web import LiveWeb
from tests.support.person import Person
from tests.support.ports import free_port
from tests.support.sessions import holds_sign_in

ID_TOKEN_FAULTS = [
    "wrong_iss",
    "wrong_aud",
    "wrong_nonce",
    "expired",
    "missing_iat",
    "missing_sub",
    "bad_signature",
    "alg_none",
]


def page_text(resp: Any) -> str:
    return html.unescape(resp.text)


def assert_friendly(resp: Any, status: int, title: str) -> None:
    assert resp.status_code == status, resp.text
    text = page_text(resp)
    assert title in text
    assert "Traceback" not in text
    assert 'class="button"' in text  # a way on


def session_files_mention(web: LiveWeb, needle: str) -> bool:
    return any(
        needle.encode() in path.read_bytes()
        for path in web.config.session_dir.iterdir()
        if path.is_file()
    )


@pytest.mark.parametrize("fault", ID_TOKEN_FAULTS)
def test_a_faulty_id_token_leaves_the_user_signed_out_with_nothing_kept(
    tenant_reset: Any, live_web: LiveWeb, person: Person, fault: str
) -> None:
    user = tenant_reset.add_user()
    auth_uri = person.start("/auth/signin", next="/users/id")
    tenant_reset.admin.fault("id_token", fault)
    resp = person.deliver(person.tenant.sign_in(auth_uri, user.email, user.password))
    assert_friendly(resp, 502, "Sign-in failed")
    assert 'href="/auth/signin?next=/users/id"' in resp.text
    assert tenant_reset.admin.counts()["token"]["authorization_code"] == 1  # it was redeemed
    assert not holds_sign_in(live_web.app, person.session_id)
    assert not session_files_mention(live_web, user.oid)
    assert person.get("/users/id").status_code == 302
    assert "Hi " not in person.get("/").text


def test_a_forged_state_is_refused_and_the_real_answer_still_works(
    person: Person, tenant: Any
) -> None:
    user = tenant.add_user()
    back = person.tenant.sign_in(person.start(), user.email, user.password)
    forged = {**back.params, "state": "forged-" + back.params["state"]}
    resp = person.get(f"{back.url}?{urlencode(forged)}")
    assert_friendly(resp, 400, "This sign-in response is not valid here")
    assert person.get("/users/id").status_code == 302
    assert person.deliver(back).status_code == 302
    assert person.get("/users/id").status_code == 200


def test_a_replayed_answer_is_refused(person: Person, tenant: Any) -> None:
    user = tenant.add_user()
    back = person.tenant.sign_in(person.start(), user.email, user.password)
    assert person.deliver(back).status_code == 302
    replay = person.deliver(back)
    assert_friendly(replay, 400, "Your sign-in attempt expired")
    # Another browser replaying the same answer gets the same page, and no session.
    other = Person(person.base_url, tenant.ca_file)
    assert_friendly(other.deliver(back), 400, "Your sign-in attempt expired")
    assert other.get("/users/id").status_code == 302


def test_an_answer_without_any_sign_in_in_progress_is_refused(person: Person) -> None:
    assert_friendly(person.get("/auth/redirect"), 400, "Your sign-in attempt expired")
    resp = person.post("/auth/redirect", {"code": "x", "state": "y"})
    assert_friendly(resp, 400, "Your sign-in attempt expired")


def test_the_provider_error_redirect_shows_a_way_to_try_again(
    person: Person,
) -> None:
    auth_uri = person.start("/auth/signin", next="/users/id")
    state = parse_qs(urlsplit(auth_uri).query)["state"][0]
    answer = {
        "error": "access_denied",
        "error_description": "AADSTS65004: User declined to consent to access the app.",
        "state": state,
    }
    resp = person.get(f"/auth/redirect?{urlencode(answer)}")
    assert_friendly(resp, 400, "Sign-in was cancelled")
    assert 'href="/auth/signin?next=/users/id"' in resp.text
    # The flow is used up: the same answer again is not accepted as current.
    again = person.get(f"/auth/redirect?{urlencode(answer)}")
    assert_friendly(again, 400, "Your sign-in attempt expired")


def test_another_provider_error_is_named_on_the_page(person: Person) -> None:
    state = parse_qs(urlsplit(person.start()).query)["state"][0]
    answer = {"error": "server_error", "error_description": "AADSTS50000: try later",
              "state": state}
    resp = person.get(f"/auth/redirect?{urlencode(answer)}")
    assert_friendly(resp, 400, "The sign-in service reported a problem")
    assert "server_error: AADSTS50000: try later" in page_text(resp)


def test_an_attempt_that_took_too_long_has_expired(
    live_web: LiveWeb, person: Person, tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = tenant.add_user()
    auth_uri = person.start("/auth/signin", next="/users/id")
    back = person.tenant.sign_in(auth_uri, user.email, user.password)
    # No waiting: with a lifetime of 0 s every attempt under way has taken too long.
    monkeypatch.setattr(live_web.identity, "flow_lifetime", 0.0)
    resp = person.deliver(back)
    assert resp.status_code == 400
    assert "Your sign-in attempt expired" in resp.text
    assert person.get("/users/id").status_code == 302


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers: a tenant that is too slow."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock.getsockname()[1]
    sock.close()


@pytest.mark.parametrize(("where", "status", "phrase"), [
    ("closed", 503, "could not be reached"),
    ("silent", 504, "did not answer in time"),
])
def test_an_unreachable_or_slow_tenant_gets_a_page_with_try_again(
    web_settings: dict[str, str], tmp_path: Path, silent_server: int, tenant: Any,
    where: str, status: int, phrase: str,
) -> None:
    port = free_port() if where == "closed" else silent_server
    settings = {
        **web_settings,
        "AUTHORITY": f"https://localhost:{port}/{tenant.tenant_id}",
        "TENANT_TIMEOUT": "0.5",
    }
    with LiveWeb(settings, tmp_path / "instance") as web:
        browser = Person(web.url, tenant.ca_file)
        assert browser.get("/").status_code == 200  # pages that need no tenant still work
        resp = browser.get("/auth/signin?next=/users/id")
        assert_friendly(resp, status, "The sign-in service is unavailable")
        assert phrase in page_text(resp)
        assert 'href="/auth/signin?next=/users/id">Try again' in resp.text


def test_unknown_pages_get_a_404_page(person: Person) -> None:
    resp = person.get("/no/such/page")
    assert_friendly(resp, 404, "Page not found")


def test_an_unexpected_error_gets_a_500_page_without_details(app: Any) -> None:
    def broken() -> str:
        raise RuntimeError("secret internals: token=abc")

    app.add_url_rule("/broken", view_func=broken)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    resp = app.test_client().get("/broken")
    assert resp.status_code == 500
    body = resp.get_data(as_text=True)
    assert "Something went wrong" in body
    assert "secret internals" not in body
    assert "Traceback" not in body


def test_security_headers_are_on_every_page(person: Person) -> None:
    for path in ("/", "/no/such/page", "/static/css/app.css"):
        headers = person.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "same-origin"
    assert person.get("/").headers["Cache-Control"] == "no-store"


def test_cookies_are_secure_when_the_app_is_served_over_https(
    web_settings: dict[str, str], tmp_path: Path
) -> None:
    from app import create_app
    from config import Config

    config = Config.load(
        {**web_settings, "REDIRECT_URI": "https://todo.example/auth/redirect"},
        instance_dir=tmp_path / "instance",
    )
    client = create_app(config).test_client()
    cookie = client.get("/auth/signin", base_url="https://todo.example").headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_a_tenant_gone_between_its_form_and_the_answer_gets_a_page(
    tmp_path: Path, web_settings: dict[str, str]
) -> None:
    with running_tenant(tmp_path / "tenant") as own:
        settings = {**web_settings, **own.env("web"), "TENANT_TIMEOUT": "2"}
        with LiveWeb(settings, tmp_path / "instance") as web:
            browser = Person(web.url, own.ca_file)
            user = own.add_user()
            back = browser.tenant.sign_in(browser.start(), user.email, user.password)
            own.process.stop()
            resp = browser.deliver(back)
            assert_friendly(resp, 503, "The sign-in service is unavailable")
            assert 'href="/auth/signin">Sign in again' in resp.text
            assert browser.get("/users/id").status_code == 302


def test_the_tenants_own_error_redirect_gets_the_problem_page(
    tenant_reset: Any, web_settings: dict[str, str], tmp_path: Path
) -> None:
    """An app without consent to the API asks for an API scope: the tenant answers the
    redirect URI with error=consent_required, as External ID does."""
    reg = tenant_reset.admin.add_client("web", consented_scopes=[])
    settings = {**web_settings, "CLIENT_ID": reg["client_id"],
                "CLIENT_SECRET": reg["client_secret"]}
    with LiveWeb(settings, tmp_path / "instance") as web:
        browser = Person(web.url, tenant_reset.ca_file)
        scope = web.config.todolist_read
        answer = browser.tenant.open(browser.start("/auth/signin", next="/users/id", scope=scope))
        assert answer.params["error"] == "consent_required"
        resp = browser.deliver(answer)
        assert_friendly(resp, 400, "The sign-in service reported a problem")
        assert "consent_required: AADSTS65001" in page_text(resp)
        assert 'href="/auth/signin?next=/users/id">Sign in again' in resp.text
        assert browser.get("/users/id").status_code == 302
