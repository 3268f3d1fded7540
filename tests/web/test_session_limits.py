"""What an anonymous visitor can cost, and how long a signed-in session lasts (issue #12, 1-5).

Real servers throughout: the web app served on loopback, the local tenant, Redis and the file
store on disk. A flood of cookie-less sign-in starts must leave signed-in users signed in and
the stores bounded; sign-ins are rate limited per client address; a session ends at its
absolute lifetime or when idle; a store that fails is never silent; expired token caches are
swept, and a sign-out that races a refresh leaves no token cache behind.
"""

from __future__ import annotations

import dataclasses
import html
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
import urllib3

from app import create_app
from app.token_store import FileTokenStore, StoredTokens
from tests.fixtures.web import LiveWeb
from tests.support.person import Person
from tests.support.redis_server import RedisServer
from tests.support.sessions import session_exists, token_key
from tests.web.upstreams import RelayServer

FLOOD = 10_000
PENDING_LIMIT = 300


def flood(url: str, count: int, headers: dict[str, str] | None = None) -> Counter[int]:
    """`count` cookie-less GETs of `url` from 4 threads; how many answers of each status."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def worker(n: int) -> None:
        # No cookies kept: every request is a stranger. No retries: each answer counts.
        pool = urllib3.PoolManager(maxsize=1, retries=False)
        seen: Counter[int] = Counter()
        for _ in range(n):
            seen[pool.request("GET", url, headers=headers, redirect=False).status] += 1
        with lock:
            statuses.update(seen)

    threads = [threading.Thread(target=worker, args=(count // 4,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def dir_size(directory: Path) -> tuple[int, int]:
    files = [p for p in directory.iterdir() if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# --- 1. no long-lived state for anonymous visitors ------------------------------------------------


def test_a_flood_of_anonymous_sign_ins_leaves_users_signed_in_and_files_bounded(
    web_app: Callable[..., LiveWeb], tenant: Any
) -> None:
    web = web_app(SIGNIN_PENDING_LIMIT=str(PENDING_LIMIT))
    person = Person(web.url, tenant.ca_file)
    assert person.sign_in(tenant.add_user()).status_code == 302
    sessions_dir = web.config.session_dir
    sessions_before = dir_size(sessions_dir)[0]
    statuses = flood(f"{web.url}/auth/signin", FLOOD)
    # The first PENDING_LIMIT start a sign-in; the rest are told to wait, none evicts anyone.
    assert statuses == {302: PENDING_LIMIT, 503: FLOOD - PENDING_LIMIT}
    assert person.get("/users/id").status_code == 200
    assert dir_size(sessions_dir)[0] == sessions_before  # not one session file more
    flows, flow_bytes = dir_size(web.config.instance_dir / "flows")
    assert flows == PENDING_LIMIT
    assert flow_bytes < PENDING_LIMIT * 4096  # 300 flows of under 4 KB: about 1.2 MB at most


def test_a_flood_of_anonymous_sign_ins_leaves_redis_bounded(
    web_app: Callable[..., LiveWeb], tenant: Any, tmp_path: Path
) -> None:
    with RedisServer(tmp_path / "redis") as server:
        web = web_app(REDIS_URL=server.url, SIGNIN_PENDING_LIMIT=str(PENDING_LIMIT))
        person = Person(web.url, tenant.ca_file)
        assert person.sign_in(tenant.add_user()).status_code == 302
        client = redis.Redis.from_url(server.url)
        statuses = flood(f"{web.url}/auth/signin", FLOOD)
        assert statuses == {302: PENDING_LIMIT, 503: FLOOD - PENDING_LIMIT}
        assert person.get("/users/id").status_code == 200
        assert len(client.keys("todo_session:*")) == 1  # the signed-in user's, nothing more
        flows = client.keys("todo_flow:*")
        assert len(flows) == PENDING_LIMIT
        assert all(0 < client.ttl(key) <= 600 for key in flows[:20])  # gone in 10 minutes
        assert client.dbsize() < PENDING_LIMIT + 20  # flows, one session, its tokens, counters


def test_a_sign_in_started_while_the_store_is_full_says_so(
    web_app: Callable[..., LiveWeb], tenant: Any
) -> None:
    web = web_app(SIGNIN_PENDING_LIMIT="1")
    assert Person(web.url, tenant.ca_file).get("/auth/signin").status_code == 302
    page = Person(web.url, tenant.ca_file).get("/auth/signin")
    assert page.status_code == 503
    assert "Too many sign-ins in progress" in page.text


# --- 2. rate limits -------------------------------------------------------------------------------


def test_starting_sign_ins_is_rate_limited_per_address_with_retry_after(
    web_app: Callable[..., LiveWeb], tenant: Any
) -> None:
    web = web_app(SIGNIN_RATE_LIMIT="3 per minute")
    visitor = Person(web.url, tenant.ca_file)
    assert [visitor.get("/auth/signin").status_code for _ in range(2)] == [302, 302]
    assert visitor.get("/auth/signup").status_code == 302  # sign-up counts in the same limit
    refused = visitor.get("/auth/signin")
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 0 < retry_after <= 60  # the rest of this minute's window
    assert "Too many sign-in attempts" in refused.text
    assert f"try again in {retry_after} seconds" in refused.text
    assert visitor.get("/").status_code == 200  # only starting a sign-in is limited


def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(
    web_app: Callable[..., LiveWeb], tenant: Any
) -> None:
    web = web_app(SIGNIN_RATE_LIMIT="2 per minute", TRUSTED_PROXY_HOPS="1")

    def start(address: str) -> int:
        return Person(web.url, tenant.ca_file).get(
            "/auth/signin", headers={"X-Forwarded-For": address}).status_code

    assert [start("203.0.113.7") for _ in range(3)] == [302, 302, 429]
    assert start("198.51.100.9") == 302  # another client behind the same proxy


def test_with_redis_every_instance_shares_the_limit(
    web_app: Callable[..., LiveWeb], tenant: Any, redis_url: str
) -> None:
    first = web_app(REDIS_URL=redis_url, SIGNIN_RATE_LIMIT="3 per minute")
    second = web_app(REDIS_URL=redis_url, SIGNIN_RATE_LIMIT="3 per minute")
    answers = [Person(web.url, tenant.ca_file).get("/auth/signin").status_code
               for web in (first, second, first, second)]
    assert answers == [302, 302, 302, 429]


# --- 3. session lifetime --------------------------------------------------------------------------


def later(web: LiveWeb, seconds: float) -> None:
    """Set the live app's clock `seconds` ahead of the real one."""
    web.identity.clock = lambda: time.time() + seconds


def test_a_session_idle_too_long_is_signed_out(
    web_app: Callable[..., LiveWeb], tenant: Any
) -> None:
    web = web_app(SESSION_IDLE_MINUTES="120")
    person = Person(web.url, tenant.ca_file)
    person.sign_in(tenant.add_user())
    sid = person.session_id
    later(web, 119 * 60)
    assert person.get("/users/id").status_code == 200
    later(web, (119 + 121) * 60)  # 121 minutes after that request
    resp = person.get("/users/id")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/auth/signin")
    assert not session_exists(web.app, sid)


def test_activity_does_not_extend_the_absolute_lifetime(
    web_app: Callable[..., LiveWeb], tenant: Any
) -> None:
    web = web_app(SESSION_ABSOLUTE_HOURS="12", SESSION_IDLE_MINUTES="120")
    person = Person(web.url, tenant.ca_file)
    person.sign_in(tenant.add_user())
    for hours in range(1, 12):  # a request every hour: never idle
        later(web, hours * 3600)
        assert person.get("/users/id").status_code == 200, hours
    later(web, 12 * 3600 + 60)
    assert person.get("/users/id").status_code == 302


def test_over_https_the_session_cookie_is_host_prefixed_and_secure(
    web_settings: dict[str, str], tmp_path: Path, tenant: Any
) -> None:
    web = LiveWeb(web_settings, tmp_path / "web")
    config = dataclasses.replace(web.config, redirect_uri="https://todo.example.com/auth/redirect")
    app = create_app(config)
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-todo_session"
    client = app.test_client()
    with client.session_transaction() as session:
        session["marker"] = "x"
    cookie = client.get_cookie("__Host-todo_session", domain="localhost")
    assert cookie is not None
    assert cookie.secure
    assert cookie.path == "/"
    assert cookie.expires is None


# --- 4. store failures are never silent -----------------------------------------------------------


def break_dir(directory: Path) -> Callable[[], None]:
    """Make `directory` unusable for writes (even for root: a file stands in its place)."""
    saved = directory.with_name(directory.name + ".saved")
    directory.rename(saved)
    directory.write_text("not a directory")

    def repair() -> None:
        directory.unlink()
        saved.rename(directory)

    return repair


def test_a_sign_in_whose_session_cannot_be_written_is_a_503_naming_the_store(
    web_app: Callable[..., LiveWeb], tenant: Any, caplog: pytest.LogCaptureFixture
) -> None:
    web = web_app()
    person = Person(web.url, tenant.ca_file)
    user = tenant.add_user()
    redirect = person.tenant.sign_in(person.start(), user.email, user.password)
    repair = break_dir(web.config.session_dir)
    try:
        resp = person.deliver(redirect)
    finally:
        repair()
    assert resp.status_code == 503
    assert "The session store is unavailable" in resp.text
    assert person.get("/users/id").status_code == 302  # not signed in: nothing seemed to work
    lines = [r.getMessage() for r in caplog.records if "session store unavailable" in
             r.getMessage()]
    assert any(f"files under {web.config.instance_dir}" in line for line in lines), lines


def test_a_token_store_that_cannot_be_written_fails_the_sign_in_too(
    web_app: Callable[..., LiveWeb], tenant: Any, caplog: pytest.LogCaptureFixture
) -> None:
    web = web_app()
    person = Person(web.url, tenant.ca_file)
    user = tenant.add_user()
    redirect = person.tenant.sign_in(person.start(), user.email, user.password)
    repair = break_dir(web.config.instance_dir / "tokens")
    try:
        resp = person.deliver(redirect)
    finally:
        repair()
    assert resp.status_code == 503
    assert "The session store is unavailable" in resp.text
    assert "Traceback" not in resp.text
    assert person.get("/users/id").status_code == 302
    lines = [r.getMessage() for r in caplog.records if "session store unavailable" in
             r.getMessage()]
    assert any(f"token files under {web.config.instance_dir / 'tokens'}" in line
               for line in lines), lines


# --- 5. the token store ---------------------------------------------------------------------------


def test_expired_token_caches_are_swept_by_a_write_at_most_every_few_minutes(
    tmp_path: Path,
) -> None:
    store = FileTokenStore(tmp_path / "tokens", lifetime=3600)
    stale, fresh = "s" * 24, "f" * 24
    store.save(stale, StoredTokens(1, "{}"))
    store.save(fresh, StoredTokens(1, "{}"))
    an_hour_and_more = time.time() - 3601
    os.utime(tmp_path / "tokens" / f"{stale}.json", (an_hour_and_more, an_hour_and_more))
    assert store.sweep() == 1
    assert not (tmp_path / "tokens" / f"{stale}.json").exists()
    assert (tmp_path / "tokens" / f"{fresh}.json").exists()
    # A write right after a sweep does not sweep again (writes are not each a directory scan).
    os.utime(tmp_path / "tokens" / f"{fresh}.json", (an_hour_and_more, an_hour_and_more))
    store.save("n" * 24, StoredTokens(1, "{}"))
    assert (tmp_path / "tokens" / f"{fresh}.json").exists()


def test_a_sign_out_racing_a_refresh_leaves_no_token_cache(
    web_app: Callable[..., LiveWeb], tenant: Any
) -> None:
    web = web_app()
    person = Person(web.url, tenant.ca_file)
    person.sign_in(tenant.add_user())
    key = token_key(web.app, person.session_id)
    tokens = web.identity.tokens
    lock_file = web.config.instance_dir / "tokens" / f"{key}.lock"
    # Play the refreshing request: hold the cache's lock, as a refresh does while it runs.
    with tokens.locked(key):
        signing_out = threading.Thread(target=person.sign_out, daemon=True)
        signing_out.start()
        wait_for_a_waiter(lock_file)  # sign-out waits for the refresh to finish ...
        tokens.save(key, StoredTokens(2, '{"written": "by the refresh"}'))
    signing_out.join(timeout=30)
    assert not signing_out.is_alive()
    assert tokens.load(key).cache is None  # ... and then deletes what the refresh wrote


def wait_for_a_waiter(lock_file: Path, timeout: float = 30.0) -> None:
    """Until the kernel shows a process blocked on `lock_file`'s flock (/proc/locks `->`)."""
    inode = f":{lock_file.stat().st_ino} "
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/locks") as locks:
            if any("->" in line and inode in line for line in locks):
                return
        time.sleep(0.01)
    raise AssertionError(f"nobody waited for {lock_file}")


def test_a_saved_item_whose_session_then_fails_says_so_and_a_resend_adds_nothing(
    web_settings: dict[str, str], api_server: Any, tmp_path: Path, tenant: Any
) -> None:
    repairs: list[Callable[[], None]] = []
    web = LiveWeb(web_settings, tmp_path / "web")  # its API URL is set below, to the relay
    breaks_the_sessions = lambda: repairs.append(break_dir(web.config.session_dir))  # noqa: E731
    with RelayServer(api_server.base, tenant.ca_file, breaks_the_sessions) as relay:
        web.config = dataclasses.replace(web.config, todolist_api_url=relay.url)
        web.app = create_app(web.config)
        with web:
            person = Person(web.url, tenant.ca_file)
            person.sign_in(tenant.add_user())
            key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"',
                            person.get("/todos").text)
            assert key, "the add form carries an idempotency key"
            typed = {"description": "Walk the dog", "idempotency_key": key.group(1)}
            # The API adds the item; then the session store fails before the answer is written.
            saved = person.post_form("/todos", typed, csrf_token=person.csrf_token("/todos"))
            repairs.pop()()
            assert saved.status_code == 503
            text = html.unescape(saved.text)
            assert "“Walk the dog” was saved" in text
            assert "Do not send it again" in text
            # Sent again anyway (back button, resubmit): the API knows the key, and so the
            # relay's second break is repaired before anything reads the sessions.
            again = person.post_form("/todos", typed, csrf_token=person.csrf_token("/todos"))
            repairs.pop()()
            listed = re.findall(r'<span class="todo-description">([^<]*)</span>',
                                person.get("/todos").text)
    assert again.status_code == 503  # the second break: its write failed too, nothing added
    assert listed == ["Walk the dog"]
