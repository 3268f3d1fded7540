"""The JSON proxy /api/todolist: routes, statuses, the CSRF rule, item ids, and no tokens in
answers."""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

import pytest
import requests

from app import SESSION_COOKIE
from tests.fixtures.todos import WebServer
from tests.fixtures.web import LiveWeb
from tests.support.person import Person
from tests.web.upstreams import ScriptedServer

pytestmark = pytest.mark.usefixtures("running_todo_api")

JWT_PREFIX = "eyJ"  # base64url of '{"' : how every JWT (access, ID, refresh here) begins


def json_call(user: Person, method: str, path: str, csrf: str | None = None, **kwargs):
    headers = {"X-CSRFToken": csrf} if csrf else {}
    resp = user.request(method, path, headers=headers, **kwargs)
    assert JWT_PREFIX not in resp.text
    assert all(JWT_PREFIX not in value for value in resp.headers.values())
    return resp


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/todolist"),
        ("POST", "/api/todolist"),
        ("GET", "/api/todolist/1"),
        ("PUT", "/api/todolist/1"),
        ("DELETE", "/api/todolist/1"),
    ],
)
def test_signed_out_is_401_problem_json_never_a_redirect(
    todo_web: WebServer, method: str, path: str
) -> None:
    resp = requests.request(
        method, f"{todo_web.url}{path}", json={"description": "x"}, allow_redirects=False,
        timeout=30,
    )
    assert resp.status_code == 401
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == 401
    assert body["signin_url"].startswith("/auth/signin")


def test_crud_through_the_proxy(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    csrf = user.csrf_token("/todos")
    listed = json_call(user, "GET", "/api/todolist")
    assert listed.status_code == 200
    assert listed.json() == []
    head = json_call(user, "HEAD", "/api/todolist")
    assert head.status_code == 200
    assert head.content == b""
    assert listed.headers["Cache-Control"] == "no-store"

    created = json_call(user, "POST", "/api/todolist", csrf, json={"description": "Water plants"})
    assert created.status_code == 201
    item = created.json()
    assert item["description"] == "Water plants"
    assert item["owner"] == user.user.oid
    assert created.headers["Location"] == f"/api/todolist/{item['id']}"

    fetched = json_call(user, "GET", created.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.json() == item

    updated = json_call(
        user, "PUT", f"/api/todolist/{item['id']}", csrf, json={"description": "Water cactus"}
    )
    assert updated.status_code == 200
    assert updated.json() == {**item, "description": "Water cactus"}

    deleted = json_call(user, "DELETE", f"/api/todolist/{item['id']}", csrf)
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = json_call(user, "GET", f"/api/todolist/{item['id']}")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("application/problem+json")
    assert json_call(user, "GET", "/api/todolist").json() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/todolist"), ("PUT", "/api/todolist/{id}"), ("DELETE", "/api/todolist/{id}")],
)
@pytest.mark.parametrize("csrf", [None, "not-the-token"])
def test_writes_need_the_csrf_header(
    todo_web: WebServer, sign_in, method: str, path: str, csrf: str | None
) -> None:
    user = sign_in(todo_web)
    good = user.csrf_token("/todos")
    item = json_call(user, "POST", "/api/todolist", good, json={"description": "keep"}).json()
    resp = json_call(
        user, method, path.format(id=item["id"]), csrf, json={"description": "changed"}
    )
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert "CSRF" in resp.json()["title"]
    assert json_call(user, "GET", "/api/todolist").json() == [item]


def test_the_apis_own_refusals_are_passed_on(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    csrf = user.csrf_token("/todos")
    cases = [
        ("POST", "/api/todolist", {"json": {"description": "   "}}, 400),
        ("POST", "/api/todolist", {"data": b"{not json"}, 400),
        ("POST", "/api/todolist", {"json": {"description": "x" * 501}}, 400),
        ("DELETE", "/api/todolist/999999", {}, 404),
    ]
    for method, path, kwargs, status in cases:
        resp = json_call(user, method, path, csrf, **kwargs)
        assert resp.status_code == status, (method, path, resp.text)
        body = resp.json()
        assert body["status"] == status
        assert body["detail"]


def test_another_users_item_cannot_be_reached_by_id(todo_web: WebServer, sign_in) -> None:
    owner, other = sign_in(todo_web), sign_in(todo_web)
    item = json_call(
        owner, "POST", "/api/todolist", owner.csrf_token("/todos"), json={"description": "Secret"}
    ).json()
    csrf = other.csrf_token("/todos")
    path = f"/api/todolist/{item['id']}"
    assert json_call(other, "GET", "/api/todolist").json() == []
    assert json_call(other, "GET", path).status_code == 404
    assert json_call(other, "PUT", path, csrf, json={"description": "mine"}).status_code == 404
    assert json_call(other, "DELETE", path, csrf).status_code == 404
    assert json_call(owner, "GET", path).json() == item


def test_oversized_body_is_refused(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    resp = user.request(
        "POST", "/api/todolist",
        headers={"X-CSRFToken": user.csrf_token("/todos"), "Content-Type": "application/json"},
        data=b'{"description": "' + b"x" * 70_000 + b'"}',
    )
    assert resp.status_code == 413
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert json_call(user, "GET", "/api/todolist").json() == []


NOT_ITEM_IDS = [".", "..", "abc", "0", "-1", "1.5", "%2e%2e", "1%2f..", "07x"]


def raw_request(
    web: LiveWeb, user: Person, csrf: str, method: str, path: str
) -> tuple[int, Any, str]:
    """`method path` sent as written (an HTTP library would resolve `.` and `..` first)."""
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=30)
    try:
        conn.request(method, path, headers={
            "Host": f"localhost:{web.port}", "Cookie": f"{SESSION_COOKIE}={user.session_id}",
            "X-CSRFToken": csrf,
        })
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read().decode()
    finally:
        conn.close()


def test_only_positive_whole_numbers_reach_the_api_as_item_ids(
    web_settings: dict[str, str], tenant: Any, tmp_path: Path
) -> None:
    item = {"id": 7, "description": "Water plants"}
    with (
        ScriptedServer(200, item, "application/json") as api,
        LiveWeb({**web_settings, "TODOLIST_API_URL": api.url}, tmp_path) as web,
    ):
        user = Person(web.url, tenant.ca_file, tenant.add_user()).sign_in_to("/")
        csrf = user.csrf_token("/")  # the home page asks nothing of the API
        for item_id in NOT_ITEM_IDS:
            for method in ("GET", "PUT", "DELETE"):
                status, ctype, body = raw_request(
                    web, user, csrf, method, f"/api/todolist/{item_id}"
                )
                assert (status, ctype) == (404, "application/problem+json"), (
                    method, item_id, body,
                )
        assert api.requests == []
        status, _, body = raw_request(web, user, csrf, "GET", "/api/todolist/7")
        assert status == 200, body
    assert [(method, path) for method, path, _, _ in api.requests] == [
        ("GET", "/api/todolist/7")
    ]
