"""`redis-server` on a loopback port with persistence off, for the tests and the benchmark."""

from __future__ import annotations

from pathlib import Path
from typing import Self

import redis

from common.process import ServerProcess
from tests.support.ports import free_port
from tests.support.programs import program


class RedisServer:
    """redis-server on 127.0.0.1:<a free port>, its data in `workdir`, its log there too or in
    `log_dir`.

    Restartable on the same port: `stop()` then `start()` is, for its clients, Redis gone and
    then back (empty: nothing is persisted). Usable as a context manager.
    """

    def __init__(self, workdir: Path, log_dir: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        workdir.mkdir(parents=True, exist_ok=True)
        self.process = ServerProcess(
            [
                program("redis-server"),
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--dir", str(workdir),
                "--protected-mode", "yes",
            ],
            (log_dir or workdir) / f"redis-{self.port}.log",
            self.answers,
        )  # fmt: skip

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=2)

    def answers(self) -> bool:
        """The readiness probe: true once the server answers PING."""
        with self.client() as client:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

    def start(self) -> Self:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
