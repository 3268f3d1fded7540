"""`/readyz`: readiness with either session store, one check per window however
many probes arrive, and what failed told only to the log and to loopback callers.

The ToDoList API is stood in for by `ScriptedServer` (tests/web/upstreams.py), which counts the
health calls it receives; Redis is the real server of the `redis_url` fixture, whose own
command statistics count the PINGs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from app import create_app
from app.health import api_health_url
from config import Config
from tests.web.upstreams import ScriptedServer

PROBES = 20
ALL_OK = {"status": "ok", "checks": {"session_store": "ok", "tenant": "ok", "api": "ok"}}


@pytest.fixture
def healthy_api() -> Iterator[ScriptedServer]:
    """A stand-in API whose `/healthz` (every path, in fact) answers 200."""
    with ScriptedServer(200, {"status": "ok"}, "application/json") as api:
        yield api


def web_client(settings: Mapping[str, str], tmp_path: Path, **more: str) -> FlaskClient:
    config = Config.load({**settings, **more}, instance_dir=tmp_path / "web-instance")
    return create_app(config).test_client()


def health_calls(api: ScriptedServer) -> int:
    return sum(1 for _, path, _, _ in api.requests if path == "/healthz")


def test_readyz_with_the_file_store(
    web_settings: dict[str, str], healthy_api: ScriptedServer, tmp_path: Path
) -> None:
    client = web_client(web_settings, tmp_path, TODOLIST_API_URL=healthy_api.url)
    resp = client.get("/readyz")
    assert (resp.status_code, resp.get_json()) == (200, ALL_OK)
    assert health_calls(healthy_api) == 1


@pytest.mark.redis
def test_readyz_with_redis_pings_it_once_per_window(
    web_settings: dict[str, str], healthy_api: ScriptedServer, redis_url: str, tmp_path: Path
) -> None:
    client = web_client(
        web_settings, tmp_path, TODOLIST_API_URL=healthy_api.url, REDIS_URL=redis_url,
        READYZ_CACHE_SECONDS="300",
    )
    server = redis.Redis.from_url(redis_url)

    def pings() -> int:
        return int(server.info("commandstats").get("cmdstat_ping", {}).get("calls", 0))

    server.config_resetstat()
    for probe in range(PROBES):
        resp = client.get("/readyz")
        assert (resp.status_code, resp.get_json()) == (200, ALL_OK)
        if probe == 0:
            # The session store's and the token store's PING (and redis-py's first health
            # check of its connection).
            first = pings()
            assert first >= 2
    assert pings() == first
    assert health_calls(healthy_api) == 1


@pytest.mark.parametrize(("window", "checks"), [("300", 1), ("0", PROBES)])
def test_probes_within_a_window_share_one_check(
    web_settings: dict[str, str], healthy_api: ScriptedServer, tmp_path: Path,
    window: str, checks: int,
) -> None:
    client = web_client(
        web_settings, tmp_path, TODOLIST_API_URL=healthy_api.url, READYZ_CACHE_SECONDS=window
    )
    for _ in range(PROBES):
        assert client.get("/readyz").status_code == 200
    assert health_calls(healthy_api) == checks


def test_what_failed_is_told_to_the_log_and_to_loopback_callers_only(
    web_settings: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # web_settings point TODOLIST_API_URL at a loopback port where nothing listens.
    client = web_client(web_settings, tmp_path, TRUSTED_PROXY_HOPS="1")
    with caplog.at_level(logging.INFO, logger="app"):
        local = client.get("/readyz")
        remote = client.get("/readyz", headers={"X-Forwarded-For": "203.0.113.7"})
    assert local.status_code == 503
    assert local.get_json()["status"] == "fail"
    down = f"{api_health_url(web_settings['TODOLIST_API_URL'])}: connection refused"
    assert local.get_json()["checks"]["api"] == down
    assert local.get_json()["checks"]["tenant"] == "ok"
    assert remote.status_code == 503
    assert remote.get_json() == {"status": "fail"}
    named = [r.getMessage() for r in caplog.records if r.getMessage().startswith("not ready:")]
    assert named == [f"not ready: api: {down}"]
