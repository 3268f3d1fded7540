"""The profile page against the local tenant's Microsoft Graph, with the real MSAL.

Reading and saving (PATCH /me with a User.ReadWrite token acquired on first save), the
greeting and the claims page showing the new name at once, the form's bounds, the sign-in
round trip when the tenant wants the user (the typed values kept, the save completed on
return), missing consent, and Graph unreachable: each failure a page with the values kept and
one log line naming the URL.
"""

from __future__ import annotations

import logging
import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from config import GRAPH_READWRITE
from tests.fixtures.web import LiveWeb
from tests.support.person import Person
from tests.support.ports import free_port


def signed_in(web: LiveWeb, tenant: Any) -> Person:
    return Person(web.url, tenant.ca_file, tenant.add_user()).sign_in_to("/profile")


def field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no field {name}"
    return unescape(found.group(1))


def form(person: Person, **values: str) -> dict[str, str]:
    page = person.get("/profile").text
    names = ("display_name", "given_name", "surname", "city", "ext_loyaltyTier")
    return {**{n: field(page, n) for n in names}, **values}


@pytest.fixture
def web(web_app: Any) -> LiveWeb:
    return web_app()


def test_the_profile_shows_graph_and_a_save_changes_it_everywhere(web: LiveWeb, tenant: Any):
    you = signed_in(web, tenant)
    page = you.get("/profile")
    assert page.status_code == 200
    assert field(page.text, "display_name") == you.user.name
    assert you.user.email in page.text
    assert 'href="/profile" aria-current="page"' in page.text
    new = form(you, display_name="Grace Hopper", given_name="Grace", surname="Hopper",
               city="Arlington", ext_loyaltyTier="gold")
    saved = you.post_form("/profile", new, csrf_token=you.csrf_token("/profile"))
    assert saved.status_code == 302
    assert saved.headers["Location"] == "/profile"
    again = you.get("/profile").text
    assert "Your profile is saved." in again
    assert {n: field(again, n) for n in new} == new
    assert "Hi Grace Hopper!" in you.get("/").text
    assert "Grace Hopper" in you.get("/users/id").text


def test_values_over_graph_limits_come_back_with_their_errors(web: LiveWeb, tenant: Any):
    you = signed_in(web, tenant)
    sent = form(you, display_name="  ", given_name="x" * 65)
    page = you.post_form("/profile", sent, csrf_token=you.csrf_token("/profile"))
    assert page.status_code == 400
    assert 'id="profile-errors"' in page.text
    assert "Type a display name." in page.text
    assert "Type up to 64 characters." in page.text
    assert field(page.text, "given_name") == "x" * 65


def test_a_save_without_a_csrf_token_is_refused(web: LiveWeb, tenant: Any):
    you = signed_in(web, tenant)
    assert you.post("/profile", form(you, display_name="Mallory")).status_code == 400


def test_a_save_the_tenant_wants_the_user_for_completes_after_the_round_trip(
    web: LiveWeb, tenant_reset: Any
):
    you = signed_in(web, tenant_reset)
    you.get("/profile")  # the User.Read token is in the cache; User.ReadWrite is not yet
    tenant_reset.admin.refuse_next_refresh("interaction_required")
    sent = form(you, display_name="Ada Round-Trip", city="Paris")
    away = you.post_form("/profile", sent, csrf_token=you.csrf_token("/profile"))
    assert away.status_code == 302
    target = urlsplit(away.headers["Location"])
    assert target.path == "/auth/signin"
    assert parse_qs(target.query) == {"next": ["/profile/resume"], "scope": [GRAPH_READWRITE]}
    back = you.follow_sign_in(away.headers["Location"])  # the tenant's SSO answers
    assert back.headers["Location"] == "/profile/resume"
    done = you.get("/profile/resume")
    assert done.headers["Location"] == "/profile"
    page = you.get("/profile").text
    assert "You signed in again; your changes are saved." in page
    assert field(page, "display_name") == "Ada Round-Trip"
    assert field(page, "city") == "Paris"
    assert you.get("/profile/resume").headers["Location"] == "/profile"  # once only


def test_without_consent_for_user_readwrite_the_values_stay_on_a_permission_page(
    web_app: Any, tenant: Any, caplog: pytest.LogCaptureFixture
):
    env = tenant.env("web")
    reg = tenant.admin.add_client(
        "web", consented_scopes=[env["TODOLIST_READ"], env["TODOLIST_READWRITE"]]
    )
    web = web_app(CLIENT_ID=reg["client_id"], CLIENT_SECRET=reg["client_secret"])
    you = signed_in(web, tenant)
    sent = form(you, display_name="Not Allowed")
    with caplog.at_level(logging.INFO):
        page = you.post_form("/profile", sent, csrf_token=you.csrf_token("/profile"))
    assert page.status_code == 403
    assert "has not been granted access to change your profile" in page.text
    assert field(page.text, "display_name") == "Not Allowed"
    assert "Sign in again" in page.text
    assert "AADSTS65001" in caplog.text


def test_graph_unreachable_is_a_page_and_one_log_line_with_the_url(
    web_app: Any, tenant: Any, caplog: pytest.LogCaptureFixture
):
    graph = f"https://localhost:{free_port()}/graph/v1.0"
    web = web_app(GRAPH_BASE_URL=graph)
    you = Person(web.url, tenant.ca_file, tenant.add_user()).sign_in_to("/")
    with caplog.at_level(logging.WARNING):
        page = you.get("/profile")
    assert page.status_code == 503
    assert "The profile service is unavailable" in page.text
    assert "Traceback" not in page.text
    lines = [r.getMessage() for r in caplog.records if "Graph GET" in r.getMessage()]
    assert len(lines) == 1
    assert f"{graph}/me: connection refused" in lines[0]
    assert "Bearer" not in caplog.text
