"""Production settings: TRUSTED_PROXY_HOPS, relative redirect URIs, and the server's own
(`common.serve`: address, workers, threads, deadlines; no access log, every line escaped)."""

from __future__ import annotations

import logging
import multiprocessing
from logging.config import BaseConfigurator
from pathlib import Path

import pytest

from common.serve import log_config, read_serve_settings
from common.settings import SettingsError
from config import Config

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


def test_serve_settings_default_to_loopback_a_process_per_core_and_the_measured_threads(
) -> None:
    settings = read_serve_settings({})
    assert (settings.host, settings.port) == ("127.0.0.1", 3000)
    assert settings.workers == multiprocessing.cpu_count()
    assert settings.threads == 4  # no app named: the API's default
    assert read_serve_settings({}, "app:create_app").threads == 2
    assert read_serve_settings({}, "api:create_app").threads == 4
    assert settings.cert_file is None
    assert settings.key_file is None
    assert settings.header_timeout == 5.0
    assert settings.graceful_timeout == 20
    assert (settings.body_timeout, settings.max_body) == (10.0, 64 * 1024)
    given = read_serve_settings({"BIND": "192.0.2.7:44351", "WEB_CONCURRENCY": "3", "THREADS": "2",
                                 "HEADER_READ_TIMEOUT": "1.5", "LOG_LEVEL": "WARNING",
                                 "BODY_READ_TIMEOUT": "30", "MAX_BODY_BYTES": "1000"})
    assert (given.host, given.port, given.workers, given.threads) == ("192.0.2.7", 44351, 3, 2)
    assert (given.header_timeout, given.log_level) == (1.5, "warning")
    assert (given.body_timeout, given.max_body) == (30.0, 1000)
    assert read_serve_settings({"PORT": "8080"}).port == 8080


def test_bad_serve_settings_are_named_together(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as refused:
        read_serve_settings({"BIND": "nowhere", "THREADS": "0", "HEADER_READ_TIMEOUT": "90",
                             "LOG_LEVEL": "loud", "TLS_CERT_FILE": str(tmp_path / "cert.pem"),
                             "BODY_READ_TIMEOUT": "301", "MAX_BODY_BYTES": "lots"})
    problems = "\n".join(refused.value.problems)
    for named in ("BIND must be HOST:PORT", "THREADS must be a whole number above 0",
                  "HEADER_READ_TIMEOUT must be at most 60", "LOG_LEVEL must be",
                  "TLS_CERT_FILE and TLS_KEY_FILE must be given together",
                  "TLS_CERT_FILE must be a readable PEM file",
                  "BODY_READ_TIMEOUT must be at most 300",
                  "MAX_BODY_BYTES must be a whole number above 0"):
        assert named in problems


def test_the_servers_log_escapes_control_characters_and_has_no_access_log() -> None:
    config = log_config("info")
    assert config["loggers"]["granian.access"]["level"] == "WARNING"
    assert config["handlers"]["stderr"]["filters"] == ["escape"]
    escape = BaseConfigurator(config).resolve(config["filters"]["escape"]["()"])()
    forged = logging.LogRecord(
        "_granian", logging.ERROR, __file__, 1, "Invalid request %s",
        ("GET /\r\nFORGED\x1b[2J",), None,
    )
    assert escape.filter(forged)
    assert forged.getMessage() == "Invalid request GET /\\x0d\\x0aFORGED\\x1b[2J"
