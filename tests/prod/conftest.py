"""Production serving under test: the web app and the API as `python -m common.serve` (Granian)
runs them, real processes on free loopback ports, with a Redis server the tests can stop and
restart.

- `ProdServer(target, env, log_file, ready)`: `python -m common.serve <target>`, stopped with
  SIGTERM (its graceful stop); `.log()` is its output (the app's request log included).
- `ProdWeb(settings, workdir, **env)`: the web app (`app:create_app`) on
  http://localhost:<free port>, 2 workers x 4 threads.
- `redis_server`: a `RedisServer` (tests/support/redis_server.py) of the test's own; `.stop()`
  and `.start()` keep the port, so running web apps see "Redis gone" and "Redis back".
- `prod_web_settings`: the web app's settings for the local tenant, no API, with one shared
  `SESSION_SECRET` (every instance must sign CSRF tokens alike); `prod_web_settings_with_api`
  the same calling the session's `api_server`.
- `burst(...)`: concurrent requests with one browser's session cookie.
"""

from __future__ import annotations

import secrets
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from app import SESSION_COOKIE
from common.process import ServerProcess, http_ready
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer


class ProdServer:
    """`python -m common.serve <target>` with `env` (and nothing of the test's environment that
    `env` does not name), stopped with SIGTERM."""

    def __init__(
        self, target: str, env: Mapping[str, str], log_file: Path, ready: Callable[[], bool]
    ) -> None:
        self.process = ServerProcess(
            [sys.executable, "-m", "common.serve", target],
            log_file=log_file,
            ready=ready,
            env=dict(env),
            timeout=60,
            stop_signal=signal.SIGTERM,
        )

    def start(self) -> ProdServer:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def log(self) -> str:
        return self.process.log()

    def __enter__(self) -> ProdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ProdWeb(ProdServer):
    """The web app served on http://localhost:<free port> (2 workers x 4 threads)."""

    def __init__(self, settings: Mapping[str, str], workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        self.instance_dir = workdir / f"web-{self.port}"
        full = {
            **settings,
            "PORT": str(self.port),
            "BIND": f"127.0.0.1:{self.port}",
            "REDIRECT_URI": f"{self.url}/auth/redirect",
            "POST_LOGOUT_REDIRECT_URI": f"{self.url}/",
            "INSTANCE_DIR": str(self.instance_dir),
            "WEB_CONCURRENCY": "2",
            "THREADS": "4",
            **env,
        }
        self.settings = full
        super().__init__(
            "app:create_app",
            full,
            workdir / f"web-{self.port}.log",
            http_ready(f"{self.url}/healthz"),
        )


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis server of the test's own, which it may stop and start again (same port)."""
    with RedisServer(tmp_path) as server:
        yield server


@pytest.fixture(scope="session")
def prod_web_settings(web_settings: dict[str, str]) -> dict[str, str]:
    """`web_settings` (no API) with a `SESSION_SECRET` for every instance of a test."""
    return {**web_settings, "SESSION_SECRET": secrets.token_urlsafe(40)}


@pytest.fixture(scope="session")
def prod_web_settings_with_api(web_settings_with_api: dict[str, str]) -> dict[str, str]:
    """`web_settings_with_api` (the session's running API) with a `SESSION_SECRET`."""
    return {**web_settings_with_api, "SESSION_SECRET": secrets.token_urlsafe(40)}


def burst(
    urls: list[str], cookie: str, headers: Mapping[str, str] | None = None
) -> list[requests.Response]:
    """GET every URL at once (one thread each), all with the session cookie `cookie`."""

    def one(url: str) -> requests.Response:
        with requests.Session() as http:
            http.trust_env = False
            return http.get(
                url,
                cookies={SESSION_COOKIE: cookie},
                headers=dict(headers or {}),
                allow_redirects=False,
                timeout=60,
            )

    with ThreadPoolExecutor(max_workers=len(urls)) as pool:
        return list(pool.map(one, urls))
