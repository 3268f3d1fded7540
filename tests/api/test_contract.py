"""The ToDoList contract (routes, statuses, headers, JSON shapes, bad input) on both backends.

Tokens are real: users sign in through the tenant's form with MSAL, apps use client
credentials. Every test runs against SQLite and against PostgreSQL (`backend_api`).
"""

from __future__ import annotations

import uuid

import pytest

from api.storage import MAX_DESCRIPTION_LENGTH, NIL_OWNER
from tests.api.tokens import READ, READWRITE, READWRITE_ALL, Tokens
from tests.fixtures.api import ApiServer

PROBLEM = "application/problem+json"


@pytest.fixture
def api(backend_api: ApiServer) -> ApiServer:
    return backend_api


def assert_problem(resp, status: int, detail_part: str = "") -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == PROBLEM
    body = resp.json()
    assert body["status"] == status
    assert body["title"]
    assert detail_part in body["detail"]
    return body


def create(api: ApiServer, token: str, description: str, **extra) -> dict:
    resp = api.request("POST", "/api/todolist", token, json={"description": description, **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_a_user_creates_reads_updates_and_deletes_an_item(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    resp = api.request("POST", "/api/todolist", alice.token, json={"description": "Buy milk"})
    assert resp.status_code == 201
    assert resp.headers["Content-Type"] == "application/json"
    item = resp.json()
    assert set(item) == {"id", "owner", "description"}
    assert isinstance(item["id"], int)
    assert item["owner"] == alice.oid
    assert item["description"] == "Buy milk"
    assert resp.headers["Location"] == f"/api/todolist/{item['id']}"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"

    got = api.request("GET", f"/api/todolist/{item['id']}", alice.token)
    assert got.status_code == 200
    assert got.json() == item
    listed = api.request("GET", "/api/todolist", alice.token)
    assert listed.status_code == 200
    assert item in listed.json()

    put = api.request(
        "PUT", f"/api/todolist/{item['id']}", alice.token, json={"description": "Buy oat milk"}
    )
    assert put.status_code == 200
    assert put.json() == {**item, "description": "Buy oat milk"}

    deleted = api.request("DELETE", f"/api/todolist/{item['id']}", alice.token)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(api.request("GET", f"/api/todolist/{item['id']}", alice.token), 404)
    assert_problem(api.request("DELETE", f"/api/todolist/{item['id']}", alice.token), 404)
    put_gone = api.request(
        "PUT", f"/api/todolist/{item['id']}", alice.token, json={"description": "x"}
    )
    assert_problem(put_gone, 404)
    assert item not in api.request("GET", "/api/todolist", alice.token).json()


def test_paths_are_case_insensitive_and_allow_a_trailing_slash(
    api: ApiServer, tokens: Tokens
) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    item = create(api, alice.token, "Case")
    assert api.request("GET", "/API/ToDoList", alice.token).status_code == 200
    assert api.request("GET", "/api/todolist/", alice.token).status_code == 200
    assert api.request("GET", f"/Api/TodoList/{item['id']}", alice.token).json() == item
    resp = api.request(
        "PUT", f"/API/TODOLIST/{item['id']}/", alice.token, json={"description": "Up"}
    )
    assert resp.json()["description"] == "Up"
    assert api.request("DELETE", f"/api/ToDoList/{item['id']}", alice.token).status_code == 204


def test_member_names_are_case_insensitive_and_unknown_ones_ignored(
    api: ApiServer, tokens: Tokens
) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    body = {"Description": "Capital D", "id": 999999, "color": "red"}
    resp = api.request("POST", "/api/todolist", alice.token, json=body)
    assert resp.status_code == 201
    assert resp.json()["description"] == "Capital D"
    assert resp.json()["id"] != 999999
    item_id = resp.json()["id"]
    put = api.request("PUT", f"/api/todolist/{item_id}", alice.token, json={"DESCRIPTION": "Up"})
    assert put.json() == {"id": item_id, "owner": alice.oid, "description": "Up"}


def test_a_users_owner_is_always_their_oid(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    item = create(api, alice.token, "mine", owner=str(uuid.uuid4()))
    assert item["owner"] == alice.oid
    put = api.request(
        "PUT",
        f"/api/todolist/{item['id']}",
        alice.token,
        json={"description": "still mine", "owner": str(uuid.uuid4())},
    )
    assert put.json()["owner"] == alice.oid
    bad = api.request("POST", "/api/todolist", alice.token, json={"description": "x", "owner": 1})
    assert_problem(bad, 400, "'owner' must be a GUID")


def test_an_app_may_set_the_owner_and_defaults_to_the_nil_guid(
    api: ApiServer, tokens: Tokens
) -> None:
    app = tokens.app(READWRITE_ALL)
    owner = str(uuid.uuid4()).upper()
    assert create(api, app.token, "for someone", owner=owner)["owner"] == owner.lower()
    assert create(api, app.token, "for nobody")["owner"] == NIL_OWNER
    assert create(api, app.token, "null owner", owner=None)["owner"] == NIL_OWNER
    for bad in ("not-a-guid", 42, "", "{" + str(uuid.uuid4()) + "}"):
        resp = api.request(
            "POST", "/api/todolist", app.token, json={"description": "x", "owner": bad}
        )
        assert_problem(resp, 400, "'owner' must be a GUID")


def test_descriptions_are_kept_exactly(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    for text in ("<script>alert(1)</script>", "  spaced  ", "Ünïcødé ✓ 🎉 日本語", "a\nb\tc"):
        item = create(api, alice.token, text)
        assert item["description"] == text
        assert api.request("GET", f"/api/todolist/{item['id']}", alice.token).json() == item


def test_the_maximum_description_length_is_enforced(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    longest = "é" * MAX_DESCRIPTION_LENGTH
    item = create(api, alice.token, longest)
    assert item["description"] == longest
    too_long = {"description": "x" * (MAX_DESCRIPTION_LENGTH + 1)}
    message = "Type a description of up to 500 characters; this one has 501."
    assert_problem(
        api.request("POST", "/api/todolist", alice.token, json=too_long), 400, message
    )
    put = api.request("PUT", f"/api/todolist/{item['id']}", alice.token, json=too_long)
    assert_problem(put, 400, message)
    assert api.request("GET", f"/api/todolist/{item['id']}", alice.token).json() == item


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"{}", "Type a description."),
        (b'{"description": null}', "Type a description."),
        (b'{"description": 7}', "The description must be text (a JSON string)."),
        (b'{"description": ["a"]}', "The description must be text (a JSON string)."),
        (b'{"description": ""}', "Type a description."),
        (b'{"description": "   \\t\\n"}', "Type a description, not only spaces."),
        (b'{"description": "a\\u0000b"}', "holds a NUL character, which cannot be kept"),
        (b'{"description": "\\ud800"}', "a character that is not valid Unicode"),
        (b'{"description": "a", "DESCRIPTION": "b"}', "more than once"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_bodies_get_400_problem_details(
    api: ApiServer, tokens: Tokens, body: bytes, detail: str
) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    headers = {"Content-Type": "application/json"}
    post = api.request("POST", "/api/todolist", alice.token, data=body, headers=headers)
    assert_problem(post, 400, detail)
    item = create(api, alice.token, "target")
    put = api.request("PUT", f"/api/todolist/{item['id']}", alice.token, data=body, headers=headers)
    assert_problem(put, 400, detail)
    assert api.request("GET", f"/api/todolist/{item['id']}", alice.token).json() == item


def test_deeply_nested_json_is_a_400_not_a_crash(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    body = b'{"a":' * 20000 + b"1" + b"}" * 20000
    resp = api.request(
        "POST",
        "/api/todolist",
        alice.token,
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code in (400, 413)
    assert resp.headers["Content-Type"] == PROBLEM


def test_bodies_that_are_not_json_or_too_large_are_refused(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    text = api.request(
        "POST",
        "/api/todolist",
        alice.token,
        data="description=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_problem(text, 415, "must be JSON")
    for _ in range(5):  # the answer arrives intact, not as a connection reset
        huge = api.request(
            "POST", "/api/todolist", alice.token, json={"description": "x" * (128 * 1024)}
        )
        assert_problem(huge, 413)


@pytest.mark.parametrize("raw_id", ["abc", "1.5", "0x10", "9" * 30, "%20", "1e3"])
def test_an_id_that_is_not_an_integer_is_a_400(api: ApiServer, tokens: Tokens, raw_id: str) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    for method, body in (("GET", None), ("PUT", {"description": "x"}), ("DELETE", None)):
        resp = api.request(method, f"/api/todolist/{raw_id}", alice.token, json=body)
        assert_problem(resp, 400, "must be an integer")


@pytest.mark.parametrize("item_id", ["0", "-1", str(2**63 - 1), "123456789012"])
def test_integer_ids_that_do_not_exist_are_404(
    api: ApiServer, tokens: Tokens, item_id: str
) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    assert_problem(api.request("GET", f"/api/todolist/{item_id}", alice.token), 404)
    assert_problem(api.request("DELETE", f"/api/todolist/{item_id}", alice.token), 404)


def test_unknown_routes_and_methods_are_problem_details(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    assert_problem(api.request("GET", "/api/nothing-here", alice.token), 404)
    assert_problem(api.request("GET", "/api/todolist/1/extra", alice.token), 404)
    patch = api.request("PATCH", "/api/todolist/1", alice.token, json={"description": "x"})
    assert_problem(patch, 405)
    assert set(patch.headers["Allow"].split(", ")) >= {"GET", "PUT", "DELETE"}
    assert_problem(api.request("DELETE", "/api/todolist", alice.token), 405)


def test_ids_are_unique_and_never_reused(api: ApiServer, tokens: Tokens) -> None:
    app = tokens.app(READWRITE_ALL)
    first = create(api, app.token, "one")
    second = create(api, app.token, "two")
    assert api.request("DELETE", f"/api/todolist/{second['id']}", app.token).status_code == 204
    third = create(api, app.token, "three")
    assert len({first["id"], second["id"], third["id"]}) == 3
    assert third["id"] > second["id"]


def test_health_and_openapi_need_no_token(api: ApiServer) -> None:
    health = api.request("GET", "/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    doc = api.request("GET", "/api/openapi.json")
    assert doc.status_code == 200
    spec = doc.json()
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]["/api/todolist"]) == {"get", "post"}
    assert set(spec["paths"]["/api/todolist/{id}"]) >= {"get", "put", "delete"}
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    schema = spec["components"]["schemas"]["NewToDo"]["properties"]["description"]
    assert schema["maxLength"] == MAX_DESCRIPTION_LENGTH
    create = spec["paths"]["/api/todolist"]["post"]
    assert {"201", "400", "409", "413", "415", "422"} <= set(create["responses"])
    (key,) = create["parameters"]
    assert (key["name"], key["in"], key["required"]) == ("Idempotency-Key", "header", False)
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)


def test_each_request_is_logged_once_with_its_request_id_and_never_the_token(
    api: ApiServer, tokens: Tokens
) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    request_id = f"test-{uuid.uuid4()}"
    resp = api.request("GET", "/API/todolist", alice.token, headers={"X-Request-ID": request_id})
    assert resp.headers["X-Request-ID"] == request_id
    unusable = "not usable: " + "x" * 200
    generated = api.request("GET", "/healthz", headers={"X-Request-ID": unusable})
    new_id = generated.headers["X-Request-ID"]
    assert len(new_id) == 32
    log = api.log()
    lines = [line for line in log.splitlines() if f"request_id={request_id}" in line]
    assert len(lines) == 1
    assert "GET /API/todolist 200" in lines[0]
    assert "ms " in lines[0]
    assert any("GET /healthz 200" in line and new_id in line for line in log.splitlines())
    assert alice.token not in log
    assert alice.token.split(".")[2] not in log
    assert unusable not in log
