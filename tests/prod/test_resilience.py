"""Redis stopped mid-run: 503 pages (problem+json under /api/) and /readyz failing; Redis
restarted on the same port: the same instance serves again, without a restart. Forwarded
headers count only when TRUSTED_PROXY_HOPS says so."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.prod.conftest import ProdWeb
from tests.support.person import Person
from tests.support.redis_server import RedisServer

DEADLINE = 30.0


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.redis
def test_redis_down_gives_503_and_readyz_fails_then_service_resumes(
    prod_web_settings_with_api: dict[str, str], redis_server: RedisServer, tenant: Any,
    tmp_path: Path,
) -> None:
    # Every /readyz checks again: the test follows Redis going and coming back.
    settings = {
        **prod_web_settings_with_api, "REDIS_URL": redis_server.url, "READYZ_CACHE_SECONDS": "0",
    }
    with ProdWeb(settings, tmp_path) as web:
        browser = Person(web.url, tenant.ca_file)
        ready = browser.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {
            "status": "ok", "checks": {"session_store": "ok", "tenant": "ok", "api": "ok"},
        }
        user = tenant.add_user()
        browser.sign_in_to("/", user)
        assert user.oid in browser.get("/users/id").text

        redis_server.stop()
        page = browser.get("/users/id")
        assert page.status_code == 503
        assert "The session store is unavailable" in page.text
        assert page.headers["Content-Type"].startswith("text/html")
        api = browser.get("/api/todolist")
        assert api.status_code == 503
        assert api.headers["Content-Type"] == "application/problem+json"
        assert api.json()["title"] == "The session store is unavailable"
        fresh = requests.get(f"{web.url}/auth/signin", allow_redirects=False, timeout=30)
        assert fresh.status_code == 503  # a new visitor's session cannot be saved either
        assert "todo_session" not in fresh.headers.get("Set-Cookie", "")
        assert browser.get("/healthz").status_code == 200
        not_ready = browser.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["session_store"].startswith("unreachable")

        redis_server.start()  # same port, empty: sessions were not persisted
        assert eventually(lambda: browser.get("/readyz").status_code == 200)
        assert browser.get("/users/id").status_code == 302  # the session is gone: sign in
        # The tenant still knows the browser: its session answers, no form.
        assert browser.follow_sign_in(form=False).status_code == 302
        assert user.oid in browser.get("/users/id").text
        assert browser.get("/api/todolist").status_code == 200
        assert "Traceback" not in web.log()


def signin_answer(web: ProdWeb, headers: dict[str, str]) -> requests.Response:
    resp = requests.get(
        f"{web.url}/auth/signin", headers=headers, allow_redirects=False, timeout=30
    )
    assert resp.status_code == 302, resp.text
    return resp


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "todo.example.com"}


def test_forwarded_headers_count_only_when_configured(
    prod_web_settings: dict[str, str], tmp_path: Path
) -> None:
    relative = {
        "REDIRECT_URI": "/auth/redirect", "POST_LOGOUT_REDIRECT_URI": "/",
        "TRUSTED_HOSTS": "localhost,todo.example.com", "WEB_CONCURRENCY": "1",
    }
    with ProdWeb(prod_web_settings, tmp_path, **relative, TRUSTED_PROXY_HOPS="1") as proxied:
        resp = signin_answer(proxied, FORWARDED)
        redirect_uri = parse_qs(urlsplit(resp.headers["Location"]).query)["redirect_uri"]
        assert redirect_uri == ["https://todo.example.com/auth/redirect"]
        # The sign-in's cookie (an anonymous visitor has no session) is Secure over https.
        cookie = resp.headers["Set-Cookie"]
        assert cookie.startswith("todo_signin=")
        assert "Secure" in cookie
        # Without the headers (plain http to the app itself): the request's own address.
        direct = signin_answer(proxied, {})
        assert parse_qs(urlsplit(direct.headers["Location"]).query)["redirect_uri"] == [
            f"http://localhost:{proxied.port}/auth/redirect"
        ]
        assert "Secure" not in direct.headers["Set-Cookie"]

    with ProdWeb(prod_web_settings, tmp_path, **relative) as untrusting:  # hops 0
        resp = signin_answer(untrusting, FORWARDED)
        redirect_uri = parse_qs(urlsplit(resp.headers["Location"]).query)["redirect_uri"]
        assert redirect_uri == [f"http://localhost:{untrusting.port}/auth/redirect"]
        assert "Secure" not in resp.headers["Set-Cookie"]
