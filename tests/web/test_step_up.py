"""Step-up with the real MSAL, the local tenant, the ToDoList API and the web app: a second
factor when the API answers a delete with a claims challenge (REQUIRE_MFA_FOR_DELETE), the
delete finished on return; the JSON proxy's step-up problem+json; the loop guard when the
tenant never satisfies the context; the profile's save under a Conditional-Access-protected
scope (Graph User.ReadWrite in the MFA policy) and under Graph's own claims challenge, the
typed values kept and the save done after the second factor.
"""

from __future__ import annotations

import html
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from config import GRAPH_READWRITE
from tests.fixtures.web import LiveWeb
from tests.support.browser import Page, Redirect
from tests.support.person import Person
from tests.web.test_profile import field, form

ACRS_C1 = {"access_token": {"acrs": {"essential": True, "value": "c1"}}}


@pytest.fixture(scope="module")
def mfa_api(api_server_factory: Any) -> Any:
    """An API whose deletes need authentication context c1."""
    return api_server_factory(REQUIRE_MFA_FOR_DELETE="true")


@pytest.fixture
def web(web_app: Any, mfa_api: Any) -> LiveWeb:
    return web_app(TODOLIST_API_URL=mfa_api.todolist_url)


def signed_in(web: LiveWeb, tenant: Any, to: str = "/todos") -> Person:
    return Person(web.url, tenant.ca_file, tenant.add_user()).sign_in_to(to)


def add_item(you: Person, text: str) -> int:
    assert you.post_form("/todos", {"description": text}).status_code == 302
    items = you.get("/api/todolist").json()
    return next(i["id"] for i in items if i["description"] == text)


def second_factor(you: Person, location: str) -> Redirect:
    """Follow the app's sign-in for a step-up: the tenant's SSO session knows the user, so the
    code page comes at once; the code from the mailbox; the tenant's redirect back."""
    page = you.tenant.open(you.start(location))
    assert isinstance(page, Page), "the tenant answered without asking for a second factor"
    back = you.tenant.enter_code(you.tenant.expect_page(page, "verify"), you.user.email)
    assert isinstance(back, Redirect), back
    return back


def test_a_delete_asks_for_a_second_factor_and_is_done_on_return(
    web: LiveWeb, tenant_reset: Any, caplog: pytest.LogCaptureFixture
):
    you = signed_in(web, tenant_reset)
    item = add_item(you, "Sell the car")
    with caplog.at_level(logging.INFO):
        away = you.post_form(f"/todos/{item}/delete", {"description": "Sell the car"})
    assert away.status_code == 302
    target = urlsplit(away.headers["Location"])
    query = parse_qs(target.query)
    assert target.path == "/auth/signin"
    assert query["next"] == ["/todos/resume"]
    assert json.loads(query["claims"][0]) == ACRS_C1
    challenge = [r.getMessage() for r in caplog.records if "claims challenge for" in r.getMessage()]
    assert len(challenge) == 1
    assert "DELETE" in challenge[0]
    assert "Bearer " not in caplog.text

    back = you.deliver(second_factor(you, away.headers["Location"]))
    assert back.headers["Location"] == "/todos/resume"
    assert tenant_reset.admin.mail(you.user.email)[0]["purpose"] == "mfa"
    done = you.get("/todos/resume")
    assert done.headers["Location"] == "/todos"
    page = html.unescape(you.get("/todos").text)
    assert "Deleted “Sell the car”." in page
    assert "Sell the car" not in [i["description"] for i in you.get("/api/todolist").json()]
    assert you.get("/todos/resume").headers["Location"] == "/todos"  # once only

    # The grant now satisfies c1: the next delete needs no new sign-in.
    other = add_item(you, "Sell the bike")
    assert you.post_form(f"/todos/{other}/delete").headers["Location"] == "/todos"
    assert you.get("/api/todolist").json() == []


def test_a_step_up_the_tenant_never_satisfies_ends_on_a_page_not_a_loop(
    web: LiveWeb, tenant_reset: Any
):
    tenant_reset.admin.withhold_contexts(["c1"])
    you = signed_in(web, tenant_reset)
    item = add_item(you, "Keep me")
    away = you.post_form(f"/todos/{item}/delete", {"description": "Keep me"})
    assert you.deliver(second_factor(you, away.headers["Location"])).status_code == 302
    page = you.get("/todos/resume")
    assert page.status_code == 403
    text = html.unescape(page.text)
    assert "A second factor is still needed" in text
    assert "Nothing was changed." in text
    assert "Sign in again" in text
    assert [i["id"] for i in you.get("/api/todolist").json()] == [item]
    assert you.get("/todos/resume").headers["Location"] == "/todos"  # the delete is dropped


def test_the_proxy_answers_a_step_up_with_problem_json_that_says_where_to_go(
    web: LiveWeb, tenant_reset: Any
):
    you = signed_in(web, tenant_reset)
    item = add_item(you, "Call Bob")
    csrf = you.csrf_token("/todos")
    refused = you.request("DELETE", f"/api/todolist/{item}", headers={"X-CSRFToken": csrf})
    assert refused.status_code == 401
    assert refused.headers["Content-Type"] == "application/problem+json"
    body = refused.json()
    assert body["type"] == "tag:todolist-web,2025:step-up-required"
    assert body["title"] == "A second factor is needed"
    assert "second factor" in body["detail"]
    where = urlsplit(body["signin_url"])
    assert where.path == "/auth/signin"
    assert json.loads(parse_qs(where.query)["claims"][0]) == ACRS_C1
    assert "access_token\"" not in refused.text.replace(json.dumps(ACRS_C1), "")

    assert you.deliver(second_factor(you, body["signin_url"])).headers["Location"] == "/todos"
    csrf = you.csrf_token("/todos")
    deleted = you.request("DELETE", f"/api/todolist/{item}", headers={"X-CSRFToken": csrf})
    assert deleted.status_code == 204
    assert you.get("/api/todolist").json() == []


def test_a_profile_save_under_a_conditional_access_scope_completes_after_the_second_factor(
    web: LiveWeb, tenant_reset: Any
):
    tenant_reset.admin.set_mfa_policy(scopes=[GRAPH_READWRITE])
    you = signed_in(web, tenant_reset, "/profile")
    sent = form(you, display_name="Ada Stepped-Up", city="Lyon")
    away = you.post_form("/profile", sent, csrf_token=you.csrf_token("/profile"))
    target = urlsplit(away.headers["Location"])
    assert parse_qs(target.query) == {"next": ["/profile/resume"], "scope": [GRAPH_READWRITE]}
    assert you.deliver(second_factor(you, away.headers["Location"])).headers["Location"] == (
        "/profile/resume")
    assert you.get("/profile/resume").headers["Location"] == "/profile"
    page = you.get("/profile").text
    assert "your changes are saved" in page
    assert field(page, "display_name") == "Ada Stepped-Up"
    assert field(page, "city") == "Lyon"


def test_a_profile_save_graph_challenges_completes_after_the_second_factor(
    web: LiveWeb, tenant_reset: Any, caplog: pytest.LogCaptureFixture
):
    tenant_reset.admin.set_graph_step_up("c1")
    you = signed_in(web, tenant_reset, "/profile")
    sent = form(you, display_name="Grace Challenged", surname="Hopper")
    with caplog.at_level(logging.INFO):
        away = you.post_form("/profile", sent, csrf_token=you.csrf_token("/profile"))
    query = parse_qs(urlsplit(away.headers["Location"]).query)
    assert query["next"] == ["/profile/resume"]
    assert json.loads(query["claims"][0]) == ACRS_C1
    assert any("Graph PATCH" in r.getMessage() and "claims challenge for" in r.getMessage()
               for r in caplog.records)
    assert you.deliver(second_factor(you, away.headers["Location"])).status_code == 302
    assert you.get("/profile/resume").headers["Location"] == "/profile"
    page = you.get("/profile").text
    assert field(page, "display_name") == "Grace Challenged"
    assert field(page, "surname") == "Hopper"
    assert "Hi Grace Challenged!" in you.get("/").text


def test_a_profile_step_up_the_tenant_never_satisfies_keeps_the_values_on_a_page(
    web: LiveWeb, tenant_reset: Any
):
    tenant_reset.admin.set_graph_step_up("c1")
    tenant_reset.admin.withhold_contexts(["c1"])
    you = signed_in(web, tenant_reset, "/profile")
    before = form(you)
    away = you.post_form("/profile", form(you, display_name="Never Saved"),
                         csrf_token=you.csrf_token("/profile"))
    assert you.deliver(second_factor(you, away.headers["Location"])).status_code == 302
    page = you.get("/profile/resume")
    assert page.status_code == 403
    assert "A second factor is still needed" in html.unescape(page.text)
    assert field(page.text, "display_name") == "Never Saved"
    assert field(you.get("/profile").text, "display_name") == before["display_name"]
