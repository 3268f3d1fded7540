"""Log lines cannot be forged: control characters that a client or the provider sends (CR, LF,
ESC, the rest of C0 and DEL) are escaped in every line the web app and the API write.

The end-to-end test drives the web app as `python run.py` serves it and the API under its own
server, and reads the log files they write; the others look at each logger the components use.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask

from common.logsafe import EscapeControlCharacters, escape
from tests.fixtures.todos import WebServer
from tests.support.person import Person

EVIL = "\r\nFORGED 2026-01-01 00:00:00,000 INFO app: signed in as admin\x1b[2J\x07\x7f"
QUOTED = "%0D%0AFORGED%1B%5B2J"  # the same, as a path or query carries it


def assert_unforged(log: str) -> None:
    """No line of `log` was started by what a caller sent, and nothing raw is left of it."""
    for line in log.splitlines():
        assert not line.startswith("FORGED"), line
    for raw in ("\r", "\x1b", "\x07", "\x7f"):
        assert raw not in log


def test_escape_writes_every_control_character_as_an_escape() -> None:
    assert escape("a\r\nb\x1b[31m\x00\x7f\x85\u2028é\\") == (
        "a\\x0d\\x0ab\\x1b[31m\\x00\\x7f\\x85\\u2028é\\"
    )


def test_a_record_stays_one_line_whatever_its_arguments_hold() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(EscapeControlCharacters())
    logger = logging.Logger("test.logsafe")
    logger.addHandler(handler)
    logger.warning("provider said %s (%d)", EVIL, 7)
    logger.info("plain %s", "text")
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("unexpected on %s", "/todos\r\nFORGED")
    lines = out.getvalue().splitlines()
    assert lines[0] == f"WARNING provider said {escape(EVIL)} (7)"
    assert lines[1] == "INFO plain text"
    assert lines[2] == "ERROR unexpected on /todos\\x0d\\x0aFORGED"
    assert lines[-1] == "ValueError: boom"  # the traceback keeps its own lines


def test_every_logger_of_the_web_app_escapes(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    loggers = [app.logger, logging.getLogger("app.requests"), logging.getLogger("app.api_client")]
    with caplog.at_level(logging.INFO):
        for logger in loggers:
            logger.warning("the tenant said: %s", EVIL)
    assert [r.getMessage() for r in caplog.records] == [
        f"the tenant said: {escape(EVIL)}"
    ] * len(loggers)


def test_what_clients_and_the_provider_send_cannot_forge_a_line(
    web_server_factory: Callable[..., WebServer], api_server: Any, tenant: Any,
    sign_in: Callable[..., Person],
) -> None:
    # An API address where nothing listens: every to-do call fails and writes its line.
    web = web_server_factory("https://127.0.0.1:9/api/todolist")
    user = sign_in(web, next_path="/")
    evil_id = {"X-Request-ID": "id\x1b[2JFORGED"}
    assert user.get(f"/todos?note={QUOTED}", headers=evil_id).status_code == 503
    assert user.get(f"/api/todolist/1{QUOTED}", headers=evil_id).status_code == 404
    assert user.get(f"/no/such/page{QUOTED}").status_code == 404
    # The provider's error answer, delivered to a sign-in in progress.
    state = parse_qs(urlsplit(user.start("/auth/signup")).query)["state"][0]
    description = f"bad\x1b[2J\x07 news{EVIL}"  # the log keeps the first line of it
    answer = {"state": state, "error": "server_error", "error_description": description}
    assert user.get(f"/auth/redirect?{urlencode(answer)}").status_code == 400

    # (Gunicorn refuses a control character in a header itself, before the API sees it.)
    api = api_server.request("GET", f"/api/todolist/1{QUOTED}", timeout=30)

    web_log, api_log = web.log(), api_server.log()
    assert_unforged(web_log)
    assert_unforged(api_log)
    # The lines are there, with the escapes in place.
    assert "GET /no/such/page\\r\\nFORGED\\x1b[2J 404" in web_log
    assert "sign-in failed (provider): server_error: bad\\x1b[2J\\x07 news (GET" in web_log
    assert "error_description=bad%1B[2J%07+news%0D%0AFORGED" in web_log  # the request line
    assert "(GET /todos)" in web_log  # the failure's line
    assert "GET /api/todolist/1\\r\\nFORGED\\x1b[2J 404" in web_log
    assert f"GET /api/todolist/1\\r\\nFORGED\\x1b[2J {api.status_code}" in api_log
