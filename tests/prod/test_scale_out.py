"""Two web app instances under Gunicorn sharing one Redis: any instance serves any user; the
request log carries a request id the API logs too; no secret reaches a log; health checks."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.prod.conftest import ProdWeb
from tests.support.person import Person
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.redis


def todo_call(browser: Person, base: str, method: str, **kwargs: Any):
    token = browser.csrf_token(f"{base}/todos")
    return browser.request(method, f"{base}/api/todolist", headers={"X-CSRFToken": token},
                           **kwargs)


def test_a_user_moves_freely_between_two_instances(
    prod_web_settings_with_api: dict[str, str], redis_server: RedisServer, tenant: Any,
    tmp_path: Path,
) -> None:
    settings = {**prod_web_settings_with_api, "REDIS_URL": redis_server.url}
    with ProdWeb(settings, tmp_path) as a, ProdWeb(settings, tmp_path) as b:
        browser = Person(a.url, tenant.ca_file)
        user = tenant.add_user()
        # The sign-in starts on A; the tenant's answer is delivered to B.
        back = browser.tenant.sign_in(browser.start("/auth/signin"), user.email, user.password)
        assert back.url == f"{a.url}/auth/redirect"
        done = browser.get(back.location.replace(a.url, b.url))
        assert done.status_code == 302, done.text
        assert done.headers["Location"] == "/"
        for base in (a.url, b.url):
            assert user.oid in browser.get(f"{base}/users/id").text
        # The to-do list, alternately on both.
        created = []
        for n, base in enumerate((a.url, b.url, a.url, b.url)):
            resp = todo_call(browser, base, "POST", json={"description": f"item {n}"})
            assert resp.status_code == 201, resp.text
            created.append(resp.json()["id"])
        for base in (a.url, b.url):
            listed = todo_call(browser, base, "GET")
            assert listed.status_code == 200
            assert [i["id"] for i in listed.json()] == created
        # Sign out on B: A treats the user as signed out.
        token = browser.csrf_token(f"{b.url}/")
        out = browser.post(f"{b.url}/auth/signout", {"csrf_token": token})
        assert out.status_code == 302
        assert browser.session_id is None
        assert redis.Redis.from_url(redis_server.url).keys("todo_*") == []
        assert browser.get(f"{a.url}/users/id").status_code == 302
        assert browser.get(f"{a.url}/api/todolist").status_code == 401


def test_request_ids_reach_the_api_log_and_no_secret_reaches_any_log(
    prod_web_settings_with_api: dict[str, str], redis_server: RedisServer, tenant: Any,
    api_server: Any, tmp_path: Path,
) -> None:
    settings = {**prod_web_settings_with_api, "REDIS_URL": redis_server.url}
    with ProdWeb(settings, tmp_path) as web:
        browser = Person(web.url, tenant.ca_file)
        user = tenant.add_user()
        back = browser.tenant.sign_in(
            browser.start("/auth/signin", scope=settings["TODOLIST_READ"]),
            user.email, user.password,
        )
        assert browser.deliver(back).status_code == 302
        request_id = f"prodtest-{uuid.uuid4().hex}"
        resp = browser.get("/api/todolist", headers={"X-Request-ID": request_id})
        assert resp.status_code == 200
        assert resp.headers["X-Request-ID"] == request_id
        created = todo_call(browser, web.url, "POST", json={"description": "log check"})
        assert created.status_code == 201
        cache = json.loads(stored_token_caches(redis_server.url)[0])
        browser.sign_out()
        web_log = web.log()
    api_log = api_server.log()
    line = re.search(rf"^.*GET /api/todolist 200 [\d.]+ms request_id={request_id}$", web_log,
                     re.MULTILINE)
    assert line, web_log
    assert re.search(rf"GET /api/todolist 200 .*request_id={request_id}", api_log)
    assert re.search(r"GET /auth/redirect\?code=%5B\.\.\.%5D|code=\[\.\.\.\]", web_log)
    secrets_seen = {
        "code": back.params["code"],
        "password": user.password,
        "client secret": settings["CLIENT_SECRET"],
        "session secret": settings["SESSION_SECRET"],
    }
    for kind in ("AccessToken", "RefreshToken", "IdToken"):
        for n, entry in enumerate(cache[kind].values()):
            secrets_seen[f"{kind} {n}"] = entry["secret"]
    for name, value in secrets_seen.items():
        assert value not in web_log, f"{name} in the web app's log"
        assert value not in api_log, f"{name} in the API's log"


def stored_token_caches(redis_url: str) -> list[str]:
    """Every token cache in the Redis token store (MSAL's serialized form)."""
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.keys("todo_tokens:*") if not k.endswith(b":lock")]
    return [json.loads(client.get(k))["cache"] for k in keys]
