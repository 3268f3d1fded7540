"""The database fixtures start real servers that answer."""

import psycopg
import pytest
import redis

from tests.fixtures.databases import new_database


@pytest.mark.postgres
def test_postgres_server_answers_on_loopback(postgres_url: str) -> None:
    url = new_database(postgres_url).replace("postgresql+psycopg://", "postgresql://")
    assert "@127.0.0.1:" in url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == url.rsplit("/", 1)[1]


@pytest.mark.redis
def test_redis_server_answers_on_loopback(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    assert client.config_get("save")["save"] == ""
