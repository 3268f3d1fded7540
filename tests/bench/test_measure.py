"""Session sizes as the benchmark reads them, from a real cachelib directory and a real Redis."""

from __future__ import annotations

from pathlib import Path

import msgspec
import redis
from cachelib.file import FileSystemCache

from app import SESSION_COOKIE, identity, token_store
from bench import measure
from bench.users import User, WebSession
from tests.support.person import Person


def session(sid: str) -> WebSession:
    user = User("u@example.com", "pw", "oid", 0)
    return WebSession(user, Person("http://localhost", user=user), sid, "csrf")


def test_the_key_prefix_is_the_web_apps() -> None:
    assert f"{SESSION_COOKIE}:" == measure.SESSION_KEY_PREFIX


def test_filesystem_session_bytes_are_the_session_file_plus_its_token_cache(
    tmp_path: Path,
) -> None:
    sessions_dir, tokens_dir = tmp_path / "sessions", tmp_path / "tokens"
    tokens_dir.mkdir()
    cache = FileSystemCache(str(sessions_dir), threshold=10, mode=0o600)
    for sid, key, size in (("small", "k-small", 1000), ("large", "k-large", 5000)):
        cache.set(measure.SESSION_KEY_PREFIX + sid, {measure.TOKENS_KEY: key, "user": {"n": sid}})
        (tokens_dir / f"{key}.json").write_text("t" * size)
    session_files = {
        sid: Path(cache._get_filename(measure.SESSION_KEY_PREFIX + sid)).stat().st_size
        for sid in ("small", "large")
    }
    summary = measure.session_bytes_filesystem(
        sessions_dir, [session("small"), session("large"), session("gone")]
    )
    assert summary["min"] == session_files["small"] + 1000
    assert summary["max"] == session_files["large"] + 5000
    assert summary["users"] == 3
    assert summary["missing"] == 1


def test_redis_session_bytes_are_the_stored_session_plus_its_token_cache(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    stored = {}
    for sid, key, size in (("bench-a", "ka", 300), ("bench-b", "kb", 700)):
        value = msgspec.msgpack.encode({measure.TOKENS_KEY: key})
        client.set(measure.SESSION_KEY_PREFIX + sid, value)
        client.set(measure.TOKENS_PREFIX + key, b"t" * size)
        stored[sid] = len(value) + size
    summary = measure.session_bytes_redis(
        client, [session("bench-a"), session("bench-b"), session("bench-none")]
    )
    assert (summary["min"], summary["max"]) == (stored["bench-a"], stored["bench-b"])
    assert summary["missing"] == 1


def test_the_token_store_names_are_the_web_apps() -> None:
    assert measure.TOKENS_KEY == identity.TOKENS_KEY
    assert measure.TOKENS_PREFIX == token_store.REDIS_PREFIX


def test_counter_deltas_add_up() -> None:
    total: dict[str, int] = {}
    before = {"discovery": 1, "keys": 2, "token": 10}
    measure.add_counts(total, measure.count_delta(before, {"discovery": 1, "keys": 2,
                                                           "token": 13}))
    measure.add_counts(total, measure.count_delta(before, {"discovery": 2, "keys": 2,
                                                           "token": 10}))
    assert total == {"discovery": 1, "keys": 0, "token": 3}
