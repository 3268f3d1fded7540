"""One refresh at a time per user: 50 concurrent requests of one user whose access token is due
for refresh, on Gunicorn workers (threads and processes) of one or two instances, with the token
store in Redis or in files. Exactly one refresh-token redemption; every request succeeds; the
stored cache was written exactly once more (version 2) and holds a fresh token."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.prod.conftest import ProdWeb, burst
from tests.support.person import Person
from tests.support.redis_server import RedisServer

REQUESTS = 50
SHORT = 60  # seconds: MSAL refreshes tokens that expire within 5 minutes
LONG = 3600


@pytest.fixture
def lifetimes(tenant_reset: Any) -> Iterator[Any]:
    yield tenant_reset
    tenant_reset.admin.reset()


def stored_redis(url: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(url)
    keys = [k for k in client.keys("todo_tokens:*") if not k.endswith(b":lock")]
    return [json.loads(client.get(k)) for k in keys]


def stored_files(web: ProdWeb) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in (web.instance_dir / "tokens").glob("*.json")]


def refresh_burst(tenant: Any, webs: list[ProdWeb], scope: str) -> None:
    """Sign in with a short-lived token for `scope`, then 50 concurrent to-do list reads."""
    browser = Person(webs[0].url, tenant.ca_file)
    tenant.admin.set_lifetimes(access_token=SHORT)
    browser.sign_in_to("/", tenant.add_user(), scope=scope)
    tenant.admin.set_lifetimes(access_token=LONG)
    tenant.admin.reset_counts()
    cookie = browser.session_id
    assert cookie is not None
    urls = [f"{webs[n % len(webs)].url}/api/todolist" for n in range(REQUESTS)]
    responses = burst(urls, cookie)
    assert [r.status_code for r in responses] == [200] * REQUESTS, [
        (r.status_code, r.text[:200]) for r in responses if r.status_code != 200
    ]
    assert tenant.admin.counts()["token"]["refresh_token"] == 1
    # Later requests use the refreshed token from the store.
    assert burst(urls[:4], cookie)[0].status_code == 200
    assert tenant.admin.counts()["token"]["refresh_token"] == 1


def assert_written_once_with_a_fresh_token(stored: list[dict[str, Any]], scope: str) -> None:
    assert len(stored) == 1
    assert stored[0]["v"] == 2  # the sign-in's write, then exactly one refresh's write
    cache = json.loads(stored[0]["cache"])
    tokens = [at for at in cache["AccessToken"].values() if scope in at["target"].split()]
    assert len(tokens) == 1
    assert int(tokens[0]["expires_on"]) - time.time() > 300


@pytest.mark.redis
def test_one_refresh_on_one_instance_with_redis(
    prod_web_settings_with_api: dict[str, str], redis_server: RedisServer, lifetimes: Any,
    tmp_path: Path,
) -> None:
    settings = {**prod_web_settings_with_api, "REDIS_URL": redis_server.url}
    scope = settings["TODOLIST_READ"]
    with ProdWeb(settings, tmp_path) as web:
        refresh_burst(lifetimes, [web], scope)
    assert_written_once_with_a_fresh_token(stored_redis(redis_server.url), scope)


@pytest.mark.redis
def test_one_refresh_across_two_instances_with_redis(
    prod_web_settings_with_api: dict[str, str], redis_server: RedisServer, lifetimes: Any,
    tmp_path: Path,
) -> None:
    settings = {**prod_web_settings_with_api, "REDIS_URL": redis_server.url}
    scope = settings["TODOLIST_READ"]
    with ProdWeb(settings, tmp_path) as a, ProdWeb(settings, tmp_path) as b:
        refresh_burst(lifetimes, [a, b], scope)
    assert_written_once_with_a_fresh_token(stored_redis(redis_server.url), scope)


def test_one_refresh_with_the_file_system_store(
    prod_web_settings_with_api: dict[str, str], lifetimes: Any, tmp_path: Path
) -> None:
    scope = prod_web_settings_with_api["TODOLIST_READ"]
    with ProdWeb(prod_web_settings_with_api, tmp_path) as web:  # 2 workers x 4 threads
        refresh_burst(lifetimes, [web], scope)
        assert_written_once_with_a_fresh_token(stored_files(web), scope)


def test_a_fresh_token_is_used_without_lock_or_write(
    prod_web_settings_with_api: dict[str, str], lifetimes: Any, tmp_path: Path
) -> None:
    """The hot path: a fresh cached token is read, no lock file is ever created, nothing is
    written (the file store shows both)."""
    scope = prod_web_settings_with_api["TODOLIST_READ"]
    with ProdWeb(prod_web_settings_with_api, tmp_path, WEB_CONCURRENCY="1") as web:
        browser = Person(web.url, lifetimes.ca_file)
        browser.sign_in_to("/", lifetimes.add_user(), scope=scope)  # default (long) lifetimes
        lifetimes.admin.reset_counts()
        responses = burst([f"{web.url}/api/todolist"] * 8, browser.session_id or "")
        assert [r.status_code for r in responses] == [200] * 8
        assert lifetimes.admin.counts()["token"]["refresh_token"] == 0
        tokens_dir = web.instance_dir / "tokens"
        assert list(tokens_dir.glob("*.lock")) == []
        assert [s["v"] for s in stored_files(web)] == [1]  # as written at sign-in
