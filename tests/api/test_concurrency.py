"""Several client processes create, edit and delete at once through two API processes that
share one database: the final state is exactly what the operations imply, and ids are unique.
Runs on SQLite (WAL, BEGIN IMMEDIATE) and on PostgreSQL.
"""

from __future__ import annotations

import multiprocessing
import uuid

from common.http import HttpClient
from tests.api.tokens import READWRITE_ALL, Tokens

WORKERS = 4
ITEMS_PER_WORKER = 12


def _work(args: tuple[int, list[str], str, str, str, int]) -> dict:
    """One client process: its own items (create, then edit or delete some), plus edits of
    one item every worker shares. Returns what it did, for the parent to check."""
    worker, bases, ca_file, token, owner, shared_id = args
    http = HttpClient(ca_file=ca_file)
    headers = {"Authorization": f"Bearer {token}"}
    statuses: list[int] = []
    expected: dict[int, str | None] = {}
    shared_writes: list[str] = []
    for i in range(ITEMS_PER_WORKER):
        base = bases[(worker + i) % len(bases)]
        resp = http.post(
            f"{base}/api/todolist",
            headers=headers,
            json={"description": f"w{worker}-{i}", "owner": owner},
        )
        statuses.append(resp.status_code)
        if resp.status_code == 201:
            expected[resp.json()["id"]] = f"w{worker}-{i}"
        text = f"shared by w{worker} #{i}"
        put = http.put(
            f"{base}/api/todolist/{shared_id}", headers=headers, json={"description": text}
        )
        statuses.append(put.status_code)
        shared_writes.append(text)
    for n, item_id in enumerate(list(expected)):
        base = bases[n % len(bases)]
        if n % 3 == 0:
            resp = http.delete(f"{base}/api/todolist/{item_id}", headers=headers)
            statuses.append(resp.status_code)
            expected[item_id] = None
        elif n % 3 == 1:
            text = f"w{worker}-{n}-edited"
            resp = http.put(
                f"{base}/api/todolist/{item_id}", headers=headers, json={"description": text}
            )
            statuses.append(resp.status_code)
            expected[item_id] = text
    http.close()
    return {"statuses": statuses, "expected": expected, "shared_writes": shared_writes}


def test_concurrent_writers_lose_and_duplicate_nothing(
    shared_database: str, api_server_factory, tokens: Tokens
) -> None:
    apis = [api_server_factory(DATABASE_URL=shared_database) for _ in range(2)]
    app = tokens.app(READWRITE_ALL)
    shared = (
        apis[0].request("POST", "/api/todolist", app.token, json={"description": "shared"}).json()
    )
    owners = [str(uuid.uuid4()) for _ in range(WORKERS)]
    jobs = [
        (w, [a.base for a in apis], apis[0].ca_file, app.token, owners[w], shared["id"])
        for w in range(WORKERS)
    ]
    with multiprocessing.get_context("spawn").Pool(WORKERS) as pool:
        results = pool.map(_work, jobs)

    for result in results:
        assert set(result["statuses"]) <= {200, 201, 204}, result["statuses"]
    created = [item_id for r in results for item_id in r["expected"]]
    assert len(created) == WORKERS * ITEMS_PER_WORKER
    assert len(set(created)) == len(created)  # unique ids across processes

    expected = {item_id: text for r in results for item_id, text in r["expected"].items() if text}
    for api in apis:
        everything = api.request("GET", "/api/todolist", app.token).json()
        ids = [i["id"] for i in everything]
        assert len(ids) == len(set(ids))
        mine = {i["id"]: i["description"] for i in everything if i["owner"] in owners}
        assert mine == expected
        final_shared = api.request("GET", f"/api/todolist/{shared['id']}", app.token).json()
        assert final_shared["description"] in {t for r in results for t in r["shared_writes"]}
