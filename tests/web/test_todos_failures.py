"""Every way a to-do operation can fail, through the real web app: pages and JSON proxy.

The API stopped (the real one), a server that hangs and one answering 500 or HTML (stand-ins,
tests/web/upstreams.py), the tenant refusing the silent refresh (the consent round trip), the
API refusing a token (one refresh and retry), and a registration without write consent.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.tenant import running_tenant
from tests.fixtures.todos import WebServer
from tests.support.person import Person
from tests.web.upstreams import ScriptedServer

TEXT = "Renew passport <before> July & 'soon'"


def box_value(page: str, input_id: str = "todo-description") -> str:
    match = re.search(rf'id="{input_id}"\s+name="description"\s+value="([^"]*)"', page)
    assert match, f"no #{input_id} box on the page"
    return html.unescape(match.group(1))


def listed(page: str) -> list[str]:
    found = re.findall(r'<span class="todo-description">([^<]*)</span>', page)
    return [html.unescape(m) for m in found]


def alert(page: str) -> tuple[str, str]:
    """The page's alert: its words, and its markup (for the way to try again)."""
    match = re.search(r'<div class="alert alert-error" role="alert" id="todo-problem">(.*?)</div>',
                      page, re.S)
    assert match, "no alert on the page"
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())
    return words, match.group(1)


# --- a stand-in API that answers 500, HTML, 403 ... or hangs ----------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[ScriptedServer]:
    with ScriptedServer(200, [], "application/json") as server:
        yield server


@pytest.fixture(scope="module")
def stub_web(web_server_factory: Callable[..., WebServer], upstream: ScriptedServer) -> WebServer:
    # A short read timeout is a setting of this web app, so the hanging case ends quickly.
    return web_server_factory(upstream.url, TODOLIST_API_READ_TIMEOUT="1")


@pytest.fixture
def stub_user(stub_web: WebServer, upstream: ScriptedServer, sign_in) -> Iterator[Person]:
    user = sign_in(stub_web)
    yield user
    break_upstream(upstream, 200, "[]", "application/json", hang=False)


BROKEN = [
    pytest.param(500, "<h1>Internal Server Error</h1>", "text/html", False, 502, id="500-html"),
    pytest.param(200, "<html><body>Proxy login</body></html>", "text/html", False, 502,
                 id="200-html"),
    pytest.param(503, '{"title": "busy"}', "application/json", False, 503, id="503"),
    pytest.param(200, "", "text/html", True, 504, id="hangs"),
]


def break_upstream(upstream: ScriptedServer, status: int, body: Any, ctype: str, hang: bool):
    upstream.status, upstream.body, upstream.ctype, upstream.hang = status, body, ctype, hang
    upstream.requests.clear()


@pytest.mark.parametrize(("status", "body", "ctype", "hang", "expected"), BROKEN)
def test_broken_api_page_keeps_the_typed_text(
    stub_user: Person, upstream: ScriptedServer,
    status: int, body: str, ctype: str, hang: bool, expected: int,
) -> None:
    csrf = stub_user.csrf_token("/todos")
    break_upstream(upstream, status, body, ctype, hang)
    page = stub_user.get("/todos")
    assert page.status_code == expected
    words, markup = alert(page.text)
    assert words.startswith("The to-do service is unavailable. It ")
    assert words.count("to-do service") == 1  # said once, not twice
    assert words.endswith(" Try again")
    assert '<a class="button secondary" href="/todos">Try again</a>' in markup  # a reload
    assert "Traceback" not in page.text
    added = stub_user.post_form("/todos", {"description": TEXT}, csrf)
    assert added.status_code == expected
    words, markup = alert(added.text)
    assert words.startswith("The to-do service is unavailable. It ")
    assert words.count("to-do service") == 1
    # Trying again sends the kept text (the add form's own button, no JavaScript needed).
    assert '<button type="submit" form="todo-add-form" class="button secondary">Try again' in (
        markup
    )
    assert box_value(added.text) == TEXT
    sent = [r for r in upstream.requests if r[0] == "POST"]
    assert len(sent) == 1, "a failed write is not retried"
    assert sent[0][2]["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize(("status", "body", "ctype", "hang", "expected"), BROKEN)
def test_broken_api_proxy_answers_problem_json(
    stub_user: Person, upstream: ScriptedServer,
    status: int, body: str, ctype: str, hang: bool, expected: int,
) -> None:
    csrf = stub_user.csrf_token("/todos")
    break_upstream(upstream, status, body, ctype, hang)
    for method, path in (("GET", "/api/todolist"), ("POST", "/api/todolist")):
        resp = stub_user.request(
            method, path, headers={"X-CSRFToken": csrf}, json={"description": TEXT}
        )
        assert resp.status_code == expected
        assert resp.headers["Content-Type"].startswith("application/problem+json")
        problem = resp.json()
        assert problem["status"] == expected
        assert problem["title"] == "The to-do service is unavailable"
        assert "Proxy login" not in resp.text


def test_api_403_shows_the_permission_page(stub_user: Person, upstream: ScriptedServer) -> None:
    csrf = stub_user.csrf_token("/todos")
    refusal = {"type": "about:blank", "title": "Forbidden", "status": 403,
               "detail": "The token lacks the ToDoList.ReadWrite permission."}
    break_upstream(upstream, 403, refusal, "application/problem+json", False)
    page = stub_user.post_form("/todos", {"description": TEXT}, csrf)
    assert page.status_code == 403
    assert "Your account lacks permission" in page.text
    assert "permission to change the to-do list" in page.text
    listing = stub_user.get("/todos")
    assert listing.status_code == 403
    assert "permission to read the to-do list" in listing.text
    kept = re.search(r'id="todo-kept-text" value="([^"]*)"', page.text)
    assert kept
    assert html.unescape(kept.group(1)) == TEXT
    proxied = stub_user.request("GET", "/api/todolist")
    assert proxied.status_code == 403
    assert proxied.json() == refusal


def test_request_id_is_passed_along(stub_user: Person, upstream: ScriptedServer) -> None:
    stub_user.get("/todos", headers={"X-Request-ID": "corr-42"})
    assert upstream.requests[-1][2]["X-Request-ID"] == "corr-42"
    stub_user.get("/todos")
    generated = upstream.requests[-1][2]["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)


# --- the real API stopped and started again ---------------------------------------------------


def test_api_stopped_then_back(todo_web: WebServer, running_todo_api: Any, sign_in) -> None:
    user = sign_in(todo_web)
    csrf = user.csrf_token("/todos")
    running_todo_api.stop()
    try:
        page = user.get("/todos")
        assert page.status_code == 503
        assert "cannot be reached" in page.text
        failed = user.post_form("/todos", {"description": TEXT}, csrf)
        assert failed.status_code == 503
        assert box_value(failed.text) == TEXT
        proxied = user.request("GET", "/api/todolist")
        assert proxied.status_code == 503
        assert proxied.headers["Content-Type"].startswith("application/problem+json")
    finally:
        running_todo_api.start()
    again = user.post_form("/todos", {"description": box_value(failed.text)}, csrf)
    assert again.status_code == 302
    assert listed(user.get("/todos").text) == [TEXT]


# --- tokens: the tenant wants the user back; the API refuses a token --------------------------


def test_consent_round_trip_when_the_silent_refresh_is_refused(
    todo_web: WebServer, tenant_reset: Any, running_todo_api: Any, sign_in
) -> None:
    user = sign_in(todo_web, next_path="/")
    tenant_reset.admin.refuse_next_refresh("interaction_required")
    resp = user.get("/todos")
    assert resp.status_code == 302
    location = resp.headers["Location"]
    assert location.startswith("/auth/signin?")
    assert "next=%2Ftodos" in location
    assert "ToDoList.Read" in location
    back = user.follow_sign_in(location)
    assert back.status_code == 302
    assert back.headers["Location"] == "/todos"
    page = user.get("/todos")
    assert page.status_code == 200
    assert "Nothing to do yet" in page.text


def test_write_after_sign_in_again_comes_back_with_the_text(
    todo_web: WebServer, tenant_reset: Any, running_todo_api: Any, sign_in
) -> None:
    user = sign_in(todo_web)
    assert user.get("/todos").status_code == 200
    csrf = user.csrf_token("/todos")
    tenant_reset.admin.refuse_next_refresh("invalid_grant")
    resp = user.post_form("/todos", {"description": TEXT}, csrf)
    assert resp.status_code == 302
    assert "ToDoList.ReadWrite" in resp.headers["Location"]
    back = user.follow_sign_in(resp.headers["Location"])
    assert back.headers["Location"] == "/todos"
    page = user.get("/todos")
    assert box_value(page.text) == TEXT, "the text typed before signing in again is back"
    assert "your text is back in the box" in page.text
    saved = user.post_form("/todos", {"description": TEXT}, user.csrf_token("/todos"))
    assert saved.status_code == 302
    assert listed(user.get("/todos").text) == [TEXT]


def test_edit_after_sign_in_again_comes_back_to_the_edit_form(
    todo_web: WebServer, tenant_reset: Any, running_todo_api: Any, sign_in
) -> None:
    first = sign_in(todo_web)
    first.post_form("/todos", {"description": "Old words"})
    item_id = first.get("/api/todolist").json()[0]["id"]
    # The same person in a new session: no write token cached there yet.
    user = sign_in(todo_web, first.user)
    edit_path = f"/todos/{item_id}/edit"
    assert box_value(user.get(edit_path).text, "todo-edit-description") == "Old words"
    tenant_reset.admin.refuse_next_refresh("interaction_required")
    resp = user.post_form(edit_path, {"description": TEXT}, user.csrf_token("/"))
    assert resp.status_code == 302
    back = user.follow_sign_in(resp.headers["Location"])
    assert back.headers["Location"] == edit_path
    form = user.get(edit_path)
    assert box_value(form.text, "todo-edit-description") == TEXT
    saved = user.post_form(edit_path, {"description": TEXT}, user.csrf_token("/"))
    assert saved.status_code == 302
    assert listed(user.get("/todos").text) == [TEXT]


def test_second_failure_in_a_row_shows_a_page_not_a_loop(
    todo_web: WebServer, tenant_reset: Any, running_todo_api: Any, sign_in
) -> None:
    user = sign_in(todo_web)
    assert user.get("/todos").status_code == 200
    admin = tenant_reset.admin
    admin.refuse_next_refresh("interaction_required")
    first = user.post_form("/todos", {"description": TEXT}, user.csrf_token("/todos"))
    assert first.status_code == 302
    assert first.headers["Location"].startswith("/auth/signin")
    # The write token the sign-in brings is one the API refuses, and so is the refresh after.
    admin.fault("access_token", "wrong_aud")
    user.follow_sign_in(first.headers["Location"])
    back = user.get("/todos")
    assert box_value(back.text) == TEXT
    admin.refuse_next_refresh("interaction_required")
    second = user.post_form("/todos", {"description": TEXT}, user.csrf_token("/"))
    assert second.status_code == 403
    assert "Your account lacks permission" in second.text
    assert "even after you signed in again" in second.text
    assert TEXT in html.unescape(second.text)


def test_api_401_means_one_refresh_and_one_retry(
    todo_web: WebServer, tenant_reset: Any, running_todo_api: Any, sign_in
) -> None:
    user = sign_in(todo_web)
    admin = tenant_reset.admin
    admin.fault("access_token", "wrong_aud")
    admin.reset_counts()
    page = user.get("/todos")
    assert page.status_code == 200
    assert admin.counts()["token"]["refresh_token"] == 2  # the bad token, then the forced one


def test_read_only_consent_gets_the_permission_page(
    web_server_factory: Callable[..., WebServer], tenant: Any, running_todo_api: Any, sign_in
) -> None:
    read = tenant.env("web")["TODOLIST_READ"]
    client = tenant.admin.add_client("web", consented_scopes=[read])
    web = web_server_factory(
        running_todo_api.todolist_url,
        CLIENT_ID=client["client_id"],
        CLIENT_SECRET=client["client_secret"],
    )
    user = sign_in(web)
    assert user.get("/todos").status_code == 200, "reading is consented"
    page = user.post_form("/todos", {"description": TEXT}, user.csrf_token("/todos"))
    assert page.status_code == 403
    assert "Your account lacks permission" in page.text
    assert "change the to-do list" in page.text
    assert TEXT in html.unescape(page.text)
    proxied = user.request(
        "POST", "/api/todolist", headers={"X-CSRFToken": user.csrf_token("/todos")},
        json={"description": TEXT},
    )
    assert proxied.status_code == 403
    assert proxied.headers["Content-Type"].startswith("application/problem+json")
    assert listed(user.get("/todos").text) == []


# --- the tenant unreachable when a token has to be refreshed ----------------------------------


def test_tenant_unreachable_during_a_todo_operation(
    upstream: ScriptedServer, tmp_path: Path
) -> None:
    break_upstream(upstream, 200, "[]", "application/json", hang=False)
    with running_tenant(tmp_path / "tenant") as own_tenant:
        account = own_tenant.add_user()
        web = WebServer(
            {**own_tenant.env("web"), "TODOLIST_API_URL": upstream.url}, tmp_path, "web-tenant"
        ).start()
        try:
            user = Person(web.url, own_tenant.ca_file, account).sign_in_to("/")
            csrf = user.csrf_token("/")
            own_tenant.process.stop()  # the read and write tokens now need the tenant
            page = user.get("/todos")
            assert page.status_code == 503
            assert "The sign-in service is unavailable." in page.text
            added = user.post_form("/todos", {"description": TEXT}, csrf)
            assert added.status_code == 503
            assert box_value(added.text) == TEXT
            proxied = user.request("GET", "/api/todolist")
            assert proxied.status_code == 503
            assert proxied.headers["Content-Type"].startswith("application/problem+json")
        finally:
            web.stop()
    assert upstream.requests == [], "without a token nothing reaches the API"
