"""Who may do what: two users and two apps against every route, on both backends.

alice and bob are users with ToDoList.ReadWrite (bob's items must stay invisible to alice and
the other way round); `alice_read` is alice with ToDoList.Read only; the apps hold the role
ToDoList.Read.All or ToDoList.ReadWrite.All.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from tests.api.tokens import READ, READ_ALL, READWRITE, READWRITE_ALL, REMOVE, Forger, Tokens
from tests.fixtures.api import ApiServer


@dataclass
class World:
    api: ApiServer
    tokens: dict[str, str]
    oids: dict[str, str]
    items: dict[str, dict]  # alice's, bob's and an app-created one

    def call(self, who: str, method: str, item: str | None = None, **kwargs):
        path = "/api/todolist" if item is None else f"/api/todolist/{self.items[item]['id']}"
        return self.api.request(method, path, self.tokens[who], **kwargs)


@pytest.fixture
def world(backend_api: ApiServer, tokens: Tokens) -> World:
    callers = {
        "alice": tokens.user("alice", READ, READWRITE),
        "alice_read": tokens.user("alice", READ),
        "bob": tokens.user("bob", READWRITE),
        "app_read": tokens.app(READ_ALL),
        "app_rw": tokens.app(READWRITE_ALL),
    }
    world = World(
        backend_api,
        {k: c.token for k, c in callers.items()},
        {k: c.oid for k, c in callers.items()},
        {},
    )
    for who in ("alice", "bob"):
        resp = world.call(who, "POST", json={"description": f"{who}'s {uuid.uuid4()}"})
        assert resp.status_code == 201
        world.items[who] = resp.json()
    resp = world.call("app_rw", "POST", json={"description": "app's", "owner": str(uuid.uuid4())})
    world.items["app"] = resp.json()
    return world


def ids(resp) -> set[int]:
    assert resp.status_code == 200, resp.text
    return {item["id"] for item in resp.json()}


def test_the_tokens_are_who_the_matrix_says(world: World) -> None:
    assert world.oids["alice"] == world.oids["alice_read"]
    assert len({world.oids[w] for w in ("alice", "bob", "app_read", "app_rw")}) == 4
    assert world.items["alice"]["owner"] == world.oids["alice"]
    assert world.items["bob"]["owner"] == world.oids["bob"]


def test_listing(world: World) -> None:
    alice, bob, app = (world.items[k]["id"] for k in ("alice", "bob", "app"))
    for user in ("alice", "alice_read"):
        seen = ids(world.call(user, "GET"))
        assert alice in seen
        assert not seen & {bob, app}
        assert all(i["owner"] == world.oids["alice"] for i in world.call(user, "GET").json())
    seen_by_bob = ids(world.call("bob", "GET"))
    assert bob in seen_by_bob
    assert not seen_by_bob & {alice, app}
    for app_caller in ("app_read", "app_rw"):
        assert {alice, bob, app} <= ids(world.call(app_caller, "GET"))


@pytest.mark.parametrize(
    ("who", "status"),
    [("alice", 200), ("alice_read", 200), ("bob", 404), ("app_read", 200), ("app_rw", 200)],
)
def test_reading_alices_item(world: World, who: str, status: int) -> None:
    resp = world.call(who, "GET", "alice")
    assert resp.status_code == status
    if status == 200:
        assert resp.json() == world.items["alice"]


@pytest.mark.parametrize(
    ("who", "status"),
    [("alice", 200), ("alice_read", 403), ("bob", 404), ("app_read", 403), ("app_rw", 200)],
)
def test_changing_alices_item(world: World, who: str, status: int) -> None:
    resp = world.call(who, "PUT", "alice", json={"description": f"changed by {who}"})
    assert resp.status_code == status
    after = world.call("alice", "GET", "alice").json()
    if status == 200:
        assert resp.json() == {**world.items["alice"], "description": f"changed by {who}"}
        assert after["description"] == f"changed by {who}"
    else:
        assert after == world.items["alice"]


@pytest.mark.parametrize(
    ("who", "status"),
    [("alice", 204), ("alice_read", 403), ("bob", 404), ("app_read", 403), ("app_rw", 204)],
)
def test_deleting_alices_item(world: World, who: str, status: int) -> None:
    resp = world.call(who, "DELETE", "alice")
    assert resp.status_code == status
    still_there = world.call("alice", "GET", "alice").status_code
    assert still_there == (404 if status == 204 else 200)


@pytest.mark.parametrize(
    ("who", "status"),
    [("alice", 201), ("alice_read", 403), ("bob", 201), ("app_read", 403), ("app_rw", 201)],
)
def test_creating(world: World, who: str, status: int) -> None:
    marker = f"created by {who} {uuid.uuid4()}"
    resp = world.call(who, "POST", json={"description": marker})
    assert resp.status_code == status
    everything = world.call("app_rw", "GET").json()
    assert any(i["description"] == marker for i in everything) == (status == 201)


def test_a_403_says_insufficient_scope(world: World) -> None:
    resp = world.call("alice_read", "POST", json={"description": "nope"})
    assert resp.status_code == 403
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    assert 'scope="ToDoList.ReadWrite"' in resp.headers["WWW-Authenticate"]


def test_bob_cannot_reach_alices_item_through_any_route(world: World) -> None:
    item_id = world.items["alice"]["id"]
    assert item_id not in ids(world.call("bob", "GET"))
    for method, body in (("GET", None), ("PUT", {"description": "x"}), ("DELETE", None)):
        resp = world.call("bob", method, "alice", json=body)
        assert resp.status_code == 404
        assert "another" not in resp.text  # a 404 like any other: no hint it exists
    assert world.call("alice", "GET", "alice").json() == world.items["alice"]


def test_an_app_token_without_idtyp_is_still_an_app(world: World, tokens: Tokens, tenant) -> None:
    tenant.admin.set_idtyp(False)
    try:
        app = tokens.fresh_app(READ_ALL)
    finally:
        tenant.admin.reset()
    claims = Forger.claims(app.token)
    assert "idtyp" not in claims
    assert "scp" not in claims
    resp = world.api.request("GET", "/api/todolist", app.token)
    assert {world.items["alice"]["id"], world.items["bob"]["id"]} <= ids(resp)


def test_a_user_token_with_roles_and_no_scp_gets_no_app_powers(
    world: World, tokens: Tokens, forger: Forger
) -> None:
    """Without idtyp, only a token without scp whose oid is its sub is an app: a user's token
    (its sub is pairwise, not its oid) stays a user's even when it carries app roles only."""
    alice = tokens.user("alice", READ, READWRITE)
    claims = forger.claims(alice.token, scp=REMOVE, roles=[READ_ALL, READWRITE_ALL])
    assert "idtyp" not in claims
    assert claims["sub"] != claims["oid"]
    token = forger.sign(claims)
    for method, body in (("GET", None), ("POST", {"description": "as an app?"})):
        resp = world.api.request(method, "/api/todolist", token, json=body)
        assert resp.status_code == 403, resp.text
        assert resp.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
    resp = world.api.request("GET", f"/api/todolist/{world.items['bob']['id']}", token)
    assert resp.status_code == 403
    everything = world.call("app_read", "GET").json()
    assert all(item["description"] != "as an app?" for item in everything)


def test_roles_decide_for_apps_and_scopes_for_users(
    world: World, tokens: Tokens, forger: Forger
) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    app = tokens.app(READWRITE_ALL)
    alice_id, bob_id = world.items["alice"]["id"], world.items["bob"]["id"]
    # A user token (scp present, no idtyp) that also carries an app role stays a user.
    mixed = forger.sign(forger.claims(alice.token, roles=[READWRITE_ALL]))
    assert ids(world.api.request("GET", "/api/todolist", mixed)) >= {alice_id}
    assert bob_id not in ids(world.api.request("GET", "/api/todolist", mixed))
    # idtyp=app decides even when scp is present; permissions then come from roles.
    app_claims = forger.claims(app.token, scp="ToDoList.Read", roles=[READ_ALL], idtyp="app")
    as_app = forger.sign(app_claims)
    assert {alice_id, bob_id} <= ids(world.api.request("GET", "/api/todolist", as_app))
    denied = world.api.request("POST", "/api/todolist", as_app, json={"description": "x"})
    assert denied.status_code == 403
    # Without idtyp, roles and no scp: an app.
    no_idtyp = forger.sign(forger.claims(app.token, idtyp=REMOVE))
    assert {alice_id, bob_id} <= ids(world.api.request("GET", "/api/todolist", no_idtyp))
    # A user token with a scope this API does not know: valid, but no permission.
    other_scope = forger.sign(forger.claims(alice.token, scp="User.Read"))
    resp = world.api.request("GET", "/api/todolist", other_scope)
    assert resp.status_code == 403
    assert resp.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')
