"""The ToDoList API served by `python -m common.serve api:create_app` on PostgreSQL with two
workers: concurrent writes served by both workers, nothing lost, no id given twice."""

from __future__ import annotations

import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from common.http import HttpClient
from common.process import http_ready
from tests.api.tokens import READWRITE_ALL, Tokens
from tests.fixtures.databases import new_database
from tests.prod.conftest import ProdServer
from tests.support.ports import free_port

BATCH = 40
DEADLINE = 60.0


@pytest.mark.postgres
def test_two_workers_on_postgresql_lose_no_write(
    postgres_url: str, tenant: Any, tmp_path: Path
) -> None:
    port = free_port()
    base = f"https://localhost:{port}"
    env = {
        **tenant.env("api"),
        "DATABASE_URL": new_database(postgres_url),
        "DEMO_SEED": "false",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "THREADS": "4",
    }
    token = Tokens(tenant).app(READWRITE_ALL).token
    owner = str(uuid.uuid4())
    headers = {"Authorization": f"Bearer {token}"}
    server = ProdServer(
        "api:create_app", env, tmp_path / "api.log",
        http_ready(f"{base}/healthz", tenant.ca_file),
    )
    expected: dict[int, str] = {}
    with server:

        def write(n: int) -> tuple[int, int, str]:
            # A connection per request, so that the workers share the load between them.
            with HttpClient(ca_file=tenant.ca_file) as http:
                text = f"item {n}"
                resp = http.post(
                    f"{base}/api/todolist", headers=headers,
                    json={"description": text, "owner": owner},
                )
                assert resp.status_code == 201, resp.text
                item_id = resp.json()["id"]
                edited = f"item {n} edited"
                put = http.put(
                    f"{base}/api/todolist/{item_id}", headers=headers,
                    json={"description": edited},
                )
                assert put.status_code in (200, 204), put.text
                return n, item_id, edited

        def writers() -> set[str]:
            found = re.findall(r"^\S+ \S+ (\d+) INFO api\.requests: POST /api/todolist 201",
                               server.log(), re.MULTILINE)
            return set(found)

        deadline = time.monotonic() + DEADLINE
        batch = 0
        while len(writers()) < 2 and time.monotonic() < deadline:
            with ThreadPoolExecutor(max_workers=16) as pool:
                done = list(pool.map(write, range(batch * BATCH, (batch + 1) * BATCH)))
            for _n, item_id, text in done:
                assert item_id not in expected  # no id given twice
                expected[item_id] = text
            batch += 1
        assert len(writers()) == 2, server.log()[-3000:]
        with HttpClient(ca_file=tenant.ca_file) as http:
            listed = http.get(f"{base}/api/todolist", headers=headers).json()
        mine = {item["id"]: item["description"] for item in listed if item["owner"] == owner}
        assert mine == expected
        assert len(expected) == batch * BATCH
