"""Sessions in Redis (`REDIS_URL`): signing in stores the session there, signing out deletes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fixtures.web import LiveWeb
from tests.support.person import Person
from tests.support.sessions import signed_in_oid

pytestmark = pytest.mark.redis


def test_sessions_live_in_redis_and_are_deleted_at_sign_out(
    redis_url: str, web_settings: dict[str, str], tenant: Any, tmp_path: Path
) -> None:
    settings = {**web_settings, "REDIS_URL": redis_url}
    with LiveWeb(settings, tmp_path / "instance") as web:
        assert web.config.session_type == "redis"
        browser = Person(web.url, tenant.ca_file)
        user = tenant.add_user()
        assert browser.sign_in(user, next="/users/id").headers["Location"] == "/users/id"
        sid = browser.session_id
        store = redis.Redis.from_url(redis_url)
        key = f"todo_session:{sid}"
        assert store.exists(key) == 1
        assert 0 < store.ttl(key) <= 12 * 3600
        assert signed_in_oid(web.app, sid) == user.oid
        assert not web.config.session_dir.exists()  # nothing on disk
        assert user.oid in browser.get("/users/id").text
        browser.sign_out()
        assert store.exists(key) == 0
        assert browser.get("/users/id").status_code == 302
