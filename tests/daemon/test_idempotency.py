"""The daemon's creates carry a new `Idempotency-Key` (a uuid4) each, kept for its own retry.

The daemon's modules run in the test process against the local tenant and a real API; a
`requests` response hook records each request as it went out, and the API's answer to the
recorded key shows that it kept the key for the daemon (the caller is its client id).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import requests

from common.http import HttpClient
from daemon.auth import TokenProvider
from daemon.client import ToDoClient
from daemon.config import Config
from tests.daemon.run import fail, succeed
from tests.fixtures.api import ApiServer

Settings = Callable[..., dict[str, str]]


def recording(http: HttpClient) -> list[requests.PreparedRequest]:
    """Every request `http` sends from now on, as sent."""
    sent: list[requests.PreparedRequest] = []
    http.hooks["response"].append(lambda resp, *args, **kwargs: sent.append(resp.request))
    return sent


def to_api(sent: list[requests.PreparedRequest], api: ApiServer) -> list[requests.PreparedRequest]:
    return [r for r in sent if (r.url or "").startswith(api.todolist_url)]


def test_each_post_to_do_sends_a_new_uuid4_key_and_the_api_keeps_it(
    settings_for: Settings, daemon_api: ApiServer
) -> None:
    config = Config.from_mapping(settings_for("secret"))
    with HttpClient(ca_file=config.ca_file) as http:
        tokens = TokenProvider(config, http)
        client = ToDoClient(http, config.api_endpoint, tokens)
        sent = recording(http)
        first = client.run("postToDo", description="Water plants")
        second = client.run("postToDo", description="Water plants")
        client.run("updateToDo", first["id"], "Water the plants")
        client.run("getToDos")
        client.run("deleteToDo", second["id"])
        token, _ = tokens.acquire()
    requests_ = to_api(sent, daemon_api)
    assert [r.method for r in requests_] == ["POST", "POST", "PUT", "GET", "DELETE"]
    keys = [r.headers["Idempotency-Key"] for r in requests_[:2]]
    assert keys[0] != keys[1]
    for key in keys:
        assert str(uuid.UUID(key)) == key
        assert uuid.UUID(key).version == 4
    assert all("Idempotency-Key" not in r.headers for r in requests_[2:])
    assert first["id"] != second["id"]

    repeated = daemon_api.request(
        "POST", "/api/todolist", token, json={"description": "Water plants"},
        headers={"Idempotency-Key": keys[0]},
    )
    assert repeated.status_code == 201
    assert repeated.json() == first  # the first answer, not a third item


def test_the_retry_with_a_new_token_sends_the_same_key(
    settings_for: Settings, daemon_api: ApiServer, tmp_path: Path
) -> None:
    """A cached token the API refuses: the daemon retries once with a new token; the retried
    create is the same request, so it carries the same key."""
    cache = tmp_path / "tokens.json"
    settings = {**settings_for("secret"), "TOKEN_CACHE_FILE": str(cache)}
    config = Config.from_mapping(settings)
    with HttpClient(ca_file=config.ca_file) as http:
        ToDoClient(http, config.api_endpoint, TokenProvider(config, http)).run("getToDos")
    state = json.loads(cache.read_text())
    (entry,) = state["AccessToken"].values()
    entry["secret"] = "not-a-token"
    cache.write_text(json.dumps(state))

    with HttpClient(ca_file=config.ca_file) as http:
        client = ToDoClient(http, config.api_endpoint, TokenProvider(config, http))
        sent = recording(http)
        created = client.run("postToDo", description="Retried once")
    posts = to_api(sent, daemon_api)
    assert [r.method for r in posts] == ["POST", "POST"]
    assert posts[0].headers["Authorization"] == "Bearer not-a-token"
    assert posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert created["description"] == "Retried once"


def test_a_full_list_is_named_in_one_line(
    api_server_factory: Callable[..., ApiServer], settings_for: Settings, empty_env_file: Path
) -> None:
    api = api_server_factory(MAX_ITEMS_PER_OWNER="1")
    settings = {**settings_for("secret"), "API_ENDPOINT": api.todolist_url}
    owner = str(uuid.uuid4())
    succeed(["--op", "postToDo", "--description", "one", "--owner", owner], settings,
            empty_env_file)
    assert fail(["--op", "postToDo", "--description", "two", "--owner", owner], settings,
                empty_env_file) == (
        f"daemon: the API rejected the request: The owner {owner} has 1 item, the most this "
        "list keeps. Delete some to add more."
    )
