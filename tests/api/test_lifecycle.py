"""What survives a restart, the demo seed, and a database that goes away."""

from __future__ import annotations

import psycopg
import pytest
import requests

from api.storage import DEMO_ITEMS
from tests.api.tokens import READ, READ_ALL, READWRITE, Tokens
from tests.fixtures.databases import new_database


def test_items_survive_a_restart_and_the_api_down_is_a_connection_error(
    api_server_factory, tokens: Tokens
) -> None:
    api = api_server_factory()
    alice = tokens.user("alice", READ, READWRITE)
    item = api.request("POST", "/api/todolist", alice.token, json={"description": "kept"}).json()
    api.stop()
    assert not api.running
    with pytest.raises(requests.ConnectionError):
        api.request("GET", "/healthz")
    api.start()
    assert api.request("GET", f"/api/todolist/{item['id']}", alice.token).json() == item


def test_the_demo_seed_is_opt_in(api_server_factory, tokens: Tokens) -> None:
    app = tokens.app(READ_ALL)
    seeded = api_server_factory(DEMO_SEED="true")
    items = seeded.request("GET", "/api/todolist", app.token).json()
    assert [i["description"] for i in items] == list(DEMO_ITEMS)
    assert [i["id"] for i in items] == [1, 2, 3]
    seeded.restart()
    assert len(seeded.request("GET", "/api/todolist", app.token).json()) == 3
    plain = api_server_factory()
    assert plain.request("GET", "/api/todolist", app.token).json() == []


@pytest.mark.postgres
def test_a_database_that_goes_away_is_a_503_not_a_500(
    api_server_factory, tokens: Tokens, postgres_url: str
) -> None:
    url = new_database(postgres_url)
    api = api_server_factory(DATABASE_URL=url)
    alice = tokens.user("alice", READ, READWRITE)
    assert api.request("GET", "/api/todolist", alice.token).status_code == 200
    name = url.rsplit("/", 1)[1]
    admin_url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    health = api.request("GET", "/healthz")
    assert health.status_code == 503
    assert health.headers["Content-Type"] == "application/problem+json"
    for method, body in (("GET", None), ("POST", {"description": "lost?"})):
        resp = api.request(method, "/api/todolist", alice.token, json=body)
        assert resp.status_code == 503, resp.text
        assert resp.headers["Content-Type"] == "application/problem+json"
        assert "Traceback" not in resp.text
