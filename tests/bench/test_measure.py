"""Session sizes as the benchmark reads them, from a real cachelib directory and a real Redis."""

from __future__ import annotations

from pathlib import Path

import redis
from cachelib.file import FileSystemCache

from app import SESSION_COOKIE
from bench import measure
from bench.users import User, WebSession
from tests.support.browser import FormBrowser


def session(sid: str) -> WebSession:
    return WebSession(User("u@example.com", "pw", "oid", 0), FormBrowser(), sid, "csrf")


def test_the_key_prefix_is_the_web_apps() -> None:
    assert f"{SESSION_COOKIE}:" == measure.SESSION_KEY_PREFIX


def test_filesystem_session_bytes_are_the_files_cachelib_wrote(tmp_path: Path) -> None:
    cache = FileSystemCache(str(tmp_path), threshold=10, mode=0o600)
    cache.set(measure.SESSION_KEY_PREFIX + "small", b"x" * 100)
    cache.set(measure.SESSION_KEY_PREFIX + "large", b"y" * 5000)
    on_disk = {p.stat().st_size for p in tmp_path.iterdir()}
    summary = measure.session_bytes_filesystem(
        tmp_path, [session("small"), session("large"), session("gone")]
    )
    assert summary["min"] in on_disk
    assert summary["max"] in on_disk
    assert 100 < summary["min"] < 200  # the value plus cachelib's expiry and pickle framing
    assert 5000 < summary["max"] < 5100
    assert summary["users"] == 3
    assert summary["missing"] == 1


def test_redis_session_bytes_are_the_stored_values(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set(measure.SESSION_KEY_PREFIX + "bench-a", b"a" * 300)
    client.set(measure.SESSION_KEY_PREFIX + "bench-b", b"b" * 700)
    summary = measure.session_bytes_redis(
        client, [session("bench-a"), session("bench-b"), session("bench-none")]
    )
    assert (summary["min"], summary["max"], summary["mean"]) == (300, 700, 500.0)
    assert summary["missing"] == 1


def test_counter_deltas_add_up() -> None:
    total: dict[str, int] = {}
    before = {"discovery": 1, "keys": 2, "token": 10}
    measure.add_counts(total, measure.count_delta(before, {"discovery": 1, "keys": 2,
                                                           "token": 13}))
    measure.add_counts(total, measure.count_delta(before, {"discovery": 2, "keys": 2,
                                                           "token": 10}))
    assert total == {"discovery": 1, "keys": 0, "token": 3}
