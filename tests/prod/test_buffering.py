"""`common.buffering.BufferedWSGI`, the front that receives each request whole: the WSGI environ
it builds from an ASGI request (PEP 3333), the body it hands over, and the response it sends.

These drive the ASGI callable directly with a small WSGI app that reports what it was given; the
served behaviour (deadlines, limits, slow clients) is in test_serving.py, over real sockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common.buffering import MAX_DRAIN_BYTES, BufferedWSGI

Message = dict[str, Any]


def echo_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Reports its environ's strings and the body it read, as JSON."""
    seen = {k: v for k, v in environ.items() if isinstance(v, str)}
    seen["body"] = environ["wsgi.input"].read().decode("latin-1")
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Two", "a")])
    return [json.dumps(seen).encode()]


def scope(**overrides: Any) -> dict[str, Any]:
    base = {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "https",
        "server": ("127.0.0.1", "44351"), "client": ("192.0.2.9", "50000"), "root_path": "",
        "path": "/", "raw_path": b"/", "query_string": b"", "headers": [(b"host", b"localhost")],
    }
    return base | overrides


def run(request_scope: dict[str, Any], messages: list[Message] | None = None,
        max_body: int = 1000) -> tuple[list[Message], int]:
    """What the front sends for `request_scope` whose body arrives as `messages`, and how many
    times it asked for a message."""
    front = BufferedWSGI(echo_app, threads=1, body_timeout=5, max_body=max_body)
    incoming = list(messages or [])
    sent: list[Message] = []
    asked = 0

    async def receive() -> Message:
        nonlocal asked
        asked += 1
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    # A thread of its own: browser tests earlier in the session leave an event loop running in
    # this one (Playwright's sync API).
    with ThreadPoolExecutor(1) as runner:
        runner.submit(asyncio.run, front(request_scope, receive, send)).result()
    front.pool.shutdown()
    return sent, asked


def environ_of(request_scope: dict[str, Any], messages: list[Message] | None = None) -> Any:
    sent, _ = run(request_scope, messages)
    return json.loads(sent[1]["body"])


def test_the_path_is_percent_decoded_bytes_read_as_latin_1_and_the_query_is_left_as_sent() -> None:
    environ = environ_of(scope(path="/a b/\ufffdx", raw_path=b"/a%20b/%E9x",
                               query_string=b"q=1%202&r=%C3%A9"))
    assert environ["PATH_INFO"] == "/a b/\xe9x"
    assert environ["QUERY_STRING"] == "q=1%202&r=%C3%A9"
    # A server that gives no raw_path: the decoded path's UTF-8 bytes, not decoded again.
    assert environ_of(scope(path="/100%/é", raw_path=None))["PATH_INFO"] == "/100%/\xc3\xa9"


def test_the_request_line_server_and_client_are_in_the_environ() -> None:
    environ = environ_of(scope(method="DELETE", root_path="/todo"))
    assert {k: environ[k] for k in ("REQUEST_METHOD", "SCRIPT_NAME", "SERVER_NAME", "SERVER_PORT",
                                    "SERVER_PROTOCOL", "REMOTE_ADDR", "wsgi.url_scheme")} == {
        "REQUEST_METHOD": "DELETE", "SCRIPT_NAME": "/todo", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "44351", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "192.0.2.9",
        "wsgi.url_scheme": "https",
    }


def test_headers_become_http_keys_repeated_ones_joined_cookies_with_semicolons() -> None:
    environ = environ_of(scope(headers=[
        (b"host", b"localhost"), (b"x-forwarded-for", b"192.0.2.1"),
        (b"x-forwarded-for", b"198.51.100.2"), (b"cookie", b"a=1"), (b"cookie", b"b=2"),
        (b"x-odd-name", b"caf\xe9"), (b"content-type", b"text/plain"),
    ]))
    assert environ["HTTP_X_FORWARDED_FOR"] == "192.0.2.1,198.51.100.2"
    assert environ["HTTP_COOKIE"] == "a=1; b=2"
    assert environ["HTTP_X_ODD_NAME"] == "caf\xe9"
    assert environ["CONTENT_TYPE"] == "text/plain"
    assert "HTTP_CONTENT_TYPE" not in environ


def test_a_body_sent_in_parts_is_handed_over_whole() -> None:
    headers = [(b"host", b"localhost"), (b"content-length", b"11")]
    environ = environ_of(scope(method="POST", headers=headers), [
        {"type": "http.request", "body": b"hello ", "more_body": True},
        {"type": "http.request", "body": b"world", "more_body": False},
    ])
    assert environ["body"] == "hello world"
    assert environ["CONTENT_LENGTH"] == "11"


def test_a_request_without_length_or_chunks_has_no_body_and_nothing_is_awaited() -> None:
    sent, asked = run(scope())
    assert asked == 0
    assert json.loads(sent[1]["body"])["body"] == ""


def test_the_response_is_sent_whole_with_its_status_and_headers() -> None:
    sent, _ = run(scope())
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 201
    assert (b"x-two", b"a") in sent[0]["headers"]
    assert sent[1]["type"] == "http.response.body"
    assert "more_body" not in sent[1]


def test_an_announced_body_far_over_the_limit_is_refused_without_reading_it() -> None:
    headers = [(b"host", b"localhost"), (b"content-length", str(MAX_DRAIN_BYTES + 1).encode())]
    sent, asked = run(scope(method="POST", headers=headers), max_body=1000)
    assert asked == 0
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"]) == {
        "type": "about:blank", "title": "Request Entity Too Large", "status": 413,
        "detail": "The request body is larger than 1000 bytes.", "instance": "/",
    }


def test_an_announced_body_a_little_over_the_limit_is_read_to_its_end_then_refused() -> None:
    headers = [(b"host", b"localhost"), (b"content-length", b"1600")]
    sent, asked = run(scope(method="POST", headers=headers), [
        {"type": "http.request", "body": b"x" * 800, "more_body": True},
        {"type": "http.request", "body": b"x" * 800, "more_body": False},
    ], max_body=1000)
    assert asked == 2  # the client's whole body taken, so it can read the answer
    assert sent[0]["status"] == 413


def test_a_client_that_leaves_mid_body_gets_nothing_and_the_app_is_not_called() -> None:
    headers = [(b"host", b"localhost"), (b"transfer-encoding", b"chunked")]
    sent, asked = run(scope(method="POST", headers=headers), [
        {"type": "http.request", "body": b"part", "more_body": True},
        {"type": "http.disconnect"},
    ])
    assert (sent, asked) == ([], 2)
