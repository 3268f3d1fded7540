"""The ToDoList API client on its own: every way the API can fail becomes a clear exception.

The servers here are stand-ins for a broken API (see upstreams.py); the client is the real one.
"""

from __future__ import annotations

import pytest

from app.api_client import (
    ApiForbidden,
    ApiNotFound,
    ApiRejected,
    ApiUnauthorized,
    ApiUnavailable,
    TodoApiClient,
)
from tests.support.ports import free_port
from tests.web.upstreams import HangingServer, ScriptedServer


def make_client(url: str) -> TodoApiClient:
    return TodoApiClient(url, connect_timeout=2, read_timeout=0.5)


def test_nothing_listening_is_503() -> None:
    api = make_client(f"http://127.0.0.1:{free_port()}/api/todolist")
    with pytest.raises(ApiUnavailable) as info:
        api.request("GET", "tok")
    assert info.value.status == 503
    assert "cannot be reached" in info.value.detail


def test_server_that_never_answers_hits_the_read_timeout_504() -> None:
    with HangingServer() as hanging:
        api = make_client(hanging.url)
        with pytest.raises(ApiUnavailable) as info:
            api.request("POST", "tok", json={"description": "x"})
        assert info.value.status == 504
        assert len(hanging.accepted) == 1, "a write that timed out is never sent again"


@pytest.mark.parametrize(
    ("status", "body", "ctype", "expected"),
    [
        (500, "<h1>Internal Server Error</h1>", "text/html", 502),
        (503, "", "text/plain", 503),
        (200, "<html>login page of some proxy</html>", "text/html", 502),
        (200, "{not json", "application/json", 502),
        (404, "<html>not found</html>", "text/html", 502),
        (302, "", "text/html", 502),
    ],
)
def test_errors_and_garbage_are_unavailable(
    status: int, body: str, ctype: str, expected: int
) -> None:
    with ScriptedServer(status, body, ctype) as upstream:
        with pytest.raises(ApiUnavailable) as info:
            make_client(upstream.url).request("GET", "tok")
        assert len(upstream.requests) == 1
    assert info.value.status == expected


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (401, ApiUnauthorized),
        (403, ApiForbidden),
        (404, ApiNotFound),
        (400, ApiRejected),
        (415, ApiRejected),
    ],
)
def test_api_answers_map_to_exceptions(status: int, exc_type: type) -> None:
    problem = {"type": "about:blank", "title": "t", "status": status, "detail": f"said {status}"}
    with (
        ScriptedServer(status, problem, "application/problem+json") as upstream,
        pytest.raises(exc_type) as info,
    ):
        make_client(upstream.url).request("PUT", "tok", 7, json={"description": "d"})
    assert info.value.status == status
    assert info.value.body == problem
    assert info.value.detail == f"said {status}"


def test_success_sends_token_request_id_and_json() -> None:
    item = {"id": 3, "owner": "o", "description": "milk"}
    with ScriptedServer(201, item, "application/json; charset=utf-8") as upstream:
        result = make_client(upstream.url).request(
            "POST", "tok-123", json={"description": "milk"}, request_id="rid-1"
        )
    assert result.status == 201
    assert result.body == item
    method, path, headers, data = upstream.requests[0]
    assert (method, path) == ("POST", "/api/todolist")
    assert headers["Authorization"] == "Bearer tok-123"
    assert headers["X-Request-ID"] == "rid-1"
    assert data == b'{"description": "milk"}'


def test_item_ids_cannot_escape_the_collection_path() -> None:
    with ScriptedServer(204, "", "text/plain") as upstream:
        result = make_client(upstream.url).request("DELETE", "tok", "../x?y=1")
    assert result.status == 204
    assert result.body is None
    assert upstream.requests[0][1] == "/api/todolist/..%2Fx%3Fy%3D1"
