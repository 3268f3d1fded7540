"""Production settings: TRUSTED_PROXY_HOPS, relative redirect URIs, and gunicorn.conf.py's choices
(forwarded headers ignored by Gunicorn itself, no access log, secrets redacted in its log)."""

from __future__ import annotations

import logging
import runpy
from logging.config import BaseConfigurator
from pathlib import Path

import pytest

from common.settings import SettingsError
from config import Config
from tests.prod.conftest import GUNICORN_CONF

MINIMAL = {
    "TENANT_SUBDOMAIN": "contoso",
    "CLIENT_ID": "5e1b3f6a-9d0c-4a57-8b21-0f6a1c2d3e4f",
    "CLIENT_SECRET": "s3cret",
    "TODOLIST_READ": "api://0d5f7c3a-6b2e-4c1d-9e8f-7a6b5c4d3e2f/ToDoList.Read",
    "TODOLIST_READWRITE": "api://0d5f7c3a-6b2e-4c1d-9e8f-7a6b5c4d3e2f/ToDoList.ReadWrite",
    "TODOLIST_API_URL": "https://todo-api.contoso.com/api/todolist",
}


def load(tmp_path: Path, **settings: str) -> Config:
    return Config.load({**MINIMAL, **settings}, instance_dir=tmp_path / "instance")


def test_proxies_are_not_trusted_unless_configured(tmp_path: Path) -> None:
    assert load(tmp_path).trusted_proxy_hops == 0
    assert load(tmp_path, TRUSTED_PROXY_HOPS="1").trusted_proxy_hops == 1
    for bad in ("-1", "many", "11"):
        with pytest.raises(SettingsError, match="TRUSTED_PROXY_HOPS must be"):
            load(tmp_path, TRUSTED_PROXY_HOPS=bad)


def test_redirect_uris_may_be_paths_but_not_other_hosts(tmp_path: Path) -> None:
    config = load(tmp_path, REDIRECT_URI="/auth/redirect", POST_LOGOUT_REDIRECT_URI="/",
                  TRUSTED_HOSTS="todo.example.com,Localhost:3000")
    assert config.redirect_uri == "/auth/redirect"
    assert config.trusted_hosts == ("todo.example.com", "localhost:3000")
    assert not config.secure_cookies  # decided per request
    assert load(tmp_path, REDIRECT_URI="https://todo.example.com/auth/redirect").secure_cookies
    for bad in ("//evil.example/auth/redirect", "auth/redirect", "ftp://x/"):
        with pytest.raises(SettingsError, match="REDIRECT_URI must be"):
            load(tmp_path, REDIRECT_URI=bad)


@pytest.mark.parametrize(
    ("paths", "named"),
    [
        ({"REDIRECT_URI": "/auth/redirect"}, "REDIRECT_URI is a path"),
        ({"POST_LOGOUT_REDIRECT_URI": "/"}, "POST_LOGOUT_REDIRECT_URI is a path"),
        ({"REDIRECT_URI": "/auth/redirect", "POST_LOGOUT_REDIRECT_URI": "/"},
         "REDIRECT_URI and POST_LOGOUT_REDIRECT_URI are paths"),
    ],
)
def test_a_path_redirect_uri_needs_trusted_hosts(
    tmp_path: Path, paths: dict[str, str], named: str
) -> None:
    """Without TRUSTED_HOSTS any Host header a client sends would build the address."""
    with pytest.raises(SettingsError, match=f"{named}.*set TRUSTED_HOSTS") as refused:
        load(tmp_path, **paths)
    assert len(refused.value.problems) == 1
    assert load(tmp_path, **paths, TRUSTED_HOSTS="todo.example.com").trusted_hosts == (
        "todo.example.com",
    )
    assert load(tmp_path).trusted_hosts == ()  # absolute URIs: no Host builds anything


def test_gunicorn_conf_ignores_forwarded_headers_and_redacts_its_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("BIND", "PORT", "WEB_CONCURRENCY", "THREADS", "TLS_CERT_FILE", "TLS_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THREADS", "6")
    conf = runpy.run_path(GUNICORN_CONF)
    assert conf["forwarded_allow_ips"] == ""
    assert conf["secure_scheme_headers"] == {}
    assert conf["accesslog"] is None
    assert conf["worker_class"] == "gthread"
    assert conf["threads"] == 6
    assert conf["reuse_port"] is True
    assert conf["bind"] == "127.0.0.1:3000"
    assert conf["certfile"] is None
    record = logging.LogRecord(
        "gunicorn.error", logging.ERROR, __file__, 1, "Error handling request %s",
        ("/auth/redirect?code=SECRETCODE&state=S1&x=1",), None,
    )
    conf["_RedactQuery"]().filter(record)
    message = record.getMessage()
    assert "SECRETCODE" not in message
    assert message == "Error handling request /auth/redirect?code=[...]&state=[...]&x=1"
    # Every line of its log has control characters escaped.
    logging_config = conf["logconfig_dict"]
    assert logging_config["handlers"]["stderr"]["filters"] == ["escape"]
    escape = BaseConfigurator(logging_config).resolve(logging_config["filters"]["escape"]["()"])()
    forged = logging.LogRecord(
        "gunicorn.error", logging.ERROR, __file__, 1, "Invalid request %s",
        ("GET /\r\nFORGED\x1b[2J",), None,
    )
    assert escape.filter(forged)
    assert forged.getMessage() == "Invalid request GET /\\x0d\\x0aFORGED\\x1b[2J"
