"""`POST /api/todolist` with an `Idempotency-Key`: a repetition gets the first answer, not a
second item; the same key with another body is a 422; keys are per caller; a malformed key is
a 400. Against the real API on both backends, and concurrent repetitions through two API
processes sharing one database.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
import requests

from common.http import HttpClient
from tests.api.tokens import READ, READ_ALL, READWRITE, READWRITE_ALL, Forger, Tokens
from tests.fixtures.api import ApiServer

PROBLEM = "application/problem+json"


@pytest.fixture
def api(backend_api: ApiServer) -> ApiServer:
    return backend_api


def post(api: ApiServer, token: str, key: str | None, body: object) -> requests.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return api.request("POST", "/api/todolist", token, json=body, headers=headers)


def answer(resp: requests.Response) -> tuple[int, bytes, str | None, str]:
    """What a repetition must reproduce: status, body, Location, Content-Type."""
    return resp.status_code, resp.content, resp.headers.get("Location"), resp.headers[
        "Content-Type"
    ]


def descriptions(api: ApiServer, token: str) -> list[str]:
    resp = api.request("GET", "/api/todolist", token)
    assert resp.status_code == 200
    return [item["description"] for item in resp.json()]


def test_a_repeated_key_gets_the_first_answer_and_no_second_item(
    api: ApiServer, tokens: Tokens
) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    key = str(uuid.uuid4())
    text = f"Buy milk {key}"
    first = post(api, alice.token, key, {"description": text})
    assert first.status_code == 201, first.text
    item = first.json()
    assert first.headers["Location"] == f"/api/todolist/{item['id']}"
    for body in (
        {"description": text},
        {"Description": text},  # member names are case-insensitive: the same request
    ):
        again = post(api, alice.token, key, body)
        assert answer(again) == answer(first)
    # Another serialisation of the same JSON (spacing, escapes) is the same request too.
    raw = ('{ "description" : "' + text.replace("B", "\\u0042") + '" }').encode()
    again = api.request(
        "POST", "/api/todolist", alice.token, data=raw,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert answer(again) == answer(first)
    assert descriptions(api, alice.token).count(text) == 1
    # Even once the item is gone, the key answers what it answered first.
    assert api.request("DELETE", f"/api/todolist/{item['id']}", alice.token).status_code == 204
    assert answer(post(api, alice.token, key, {"description": text})) == answer(first)
    assert text not in descriptions(api, alice.token)


def test_without_a_key_each_post_creates_an_item(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    text = f"twice {uuid.uuid4()}"
    ids = {post(api, alice.token, None, {"description": text}).json()["id"] for _ in range(2)}
    assert len(ids) == 2


def test_the_same_key_with_another_body_is_a_422(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    key = str(uuid.uuid4())
    first = post(api, alice.token, key, {"description": f"first {key}"})
    assert first.status_code == 201
    for body in (
        {"description": f"second {key}"},
        {"description": f"first {key}", "owner": str(uuid.uuid4())},  # ignored, but sent
    ):
        resp = post(api, alice.token, key, body)
        assert resp.status_code == 422, resp.text
        assert resp.headers["Content-Type"] == PROBLEM
        problem = resp.json()
        assert problem["status"] == 422
        assert problem["detail"] == (
            "This Idempotency-Key was used for another request in the last 24 hours; use a "
            "new key for a new request."
        )
    assert f"second {key}" not in descriptions(api, alice.token)
    assert answer(post(api, alice.token, key, {"description": f"first {key}"})) == answer(first)


def test_callers_use_the_same_key_independently(api: ApiServer, tokens: Tokens) -> None:
    """Users are known by their oid, apps by their client id: one key, four callers, four
    items; each caller's repetition still gets its own first answer."""
    callers = {
        "alice": tokens.user("alice", READ, READWRITE),
        "bob": tokens.user("bob", READWRITE),
        "app": tokens.app(READWRITE_ALL),
        "other app": tokens.fresh_app(READWRITE_ALL),
    }
    key = f"shared-{uuid.uuid4()}"
    body = {"description": f"the same body {key}"}
    firsts = {name: post(api, c.token, key, body) for name, c in callers.items()}
    assert {r.status_code for r in firsts.values()} == {201}
    assert len({r.json()["id"] for r in firsts.values()}) == 4
    for name, caller in callers.items():
        assert answer(post(api, caller.token, key, body)) == answer(firsts[name])
    everything = api.request("GET", "/api/todolist", tokens.app(READ_ALL).token).json()
    assert sum(item["description"] == body["description"] for item in everything) == 4


def test_every_token_of_one_app_registration_is_the_same_caller(
    api: ApiServer, tokens: Tokens, forger: Forger
) -> None:
    app = tokens.app(READWRITE_ALL)
    another_token = forger.sign(forger.claims(app.token))  # the same client id, a new token
    assert another_token != app.token
    key = str(uuid.uuid4())
    body = {"description": f"by the daemon {key}", "owner": str(uuid.uuid4())}
    first = post(api, app.token, key, body)
    assert first.status_code == 201
    assert answer(post(api, another_token, key, body)) == answer(first)


@pytest.mark.parametrize(
    "key",
    ["", "with space", "tab\there", "é", "x" * 256, "ключ"],
)
def test_a_malformed_key_is_a_400_and_nothing_is_created(
    api: ApiServer, tokens: Tokens, key: str
) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    text = f"malformed key {uuid.uuid4()}"
    headers = {"Idempotency-Key": key.encode("utf-8")}
    resp = api.request(
        "POST", "/api/todolist", alice.token, json={"description": text}, headers=headers
    )
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"] == PROBLEM
    assert resp.json()["detail"] == (
        "The Idempotency-Key header must be 1 to 255 visible ASCII characters without spaces "
        "(a UUID, say)."
    )
    assert text not in descriptions(api, alice.token)


@pytest.mark.parametrize("key", ["!", "~" * 255, "a:b/c=d+e_f.g", "0123456789abcdef" * 15])
def test_keys_of_1_to_255_visible_characters_are_accepted(
    api: ApiServer, tokens: Tokens, key: str
) -> None:
    bob = tokens.user("bob", READWRITE)
    body = {"description": f"edge key {uuid.uuid4()}"}
    first = post(api, bob.token, key, body)
    assert first.status_code == 201, first.text
    assert answer(post(api, bob.token, key, body)) == answer(first)


def test_a_refused_request_does_not_use_up_its_key(api: ApiServer, tokens: Tokens) -> None:
    alice = tokens.user("alice", READ, READWRITE)
    alice_read = tokens.user("alice", READ)
    key = str(uuid.uuid4())
    assert post(api, alice.token, key, {"description": "x" * 501}).status_code == 400
    assert post(api, alice_read.token, key, {"description": "ok"}).status_code == 403
    fixed = post(api, alice.token, key, {"description": f"fixed {key}"})
    assert fixed.status_code == 201
    assert answer(post(api, alice.token, key, {"description": f"fixed {key}"})) == answer(fixed)


def _concurrently(requests_: list[Callable[[], requests.Response]]) -> list[requests.Response]:
    """Run the calls in threads released together by a barrier; their responses, in order."""
    barrier = threading.Barrier(len(requests_))
    results: list[requests.Response | BaseException | None] = [None] * len(requests_)

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = requests_[n]()
        except BaseException as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(requests_))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [r for r in results if not isinstance(r, requests.Response)]
    assert not failures, failures
    return [r for r in results if isinstance(r, requests.Response)]


def _poster(base: str, ca_file: str | None, token: str, key: str, body: dict):
    def call() -> requests.Response:
        with HttpClient(ca_file=ca_file) as http:
            return http.post(
                f"{base}/api/todolist", json=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            )

    return call


def test_concurrent_requests_with_one_key_through_two_processes(
    shared_database: str, api_server_factory, tokens: Tokens
) -> None:
    """Eight requests at once, through two API processes on one database. With one body (a
    user's): one item, eight identical answers. With two bodies (an app's, for two owners, so
    that on PostgreSQL they do not queue for one owner's lock but meet at the key's primary
    key): whichever comes first wins; its requests get its answer, the others a 422."""
    apis = [api_server_factory(DATABASE_URL=shared_database) for _ in range(2)]
    reader = tokens.app(READ_ALL).token

    alice = tokens.user("alice", READ, READWRITE)
    key = str(uuid.uuid4())
    body = {"description": f"once {key}"}
    calls = [_poster(apis[n % 2].base, apis[0].ca_file, alice.token, key, body) for n in range(8)]
    responses = _concurrently(calls)
    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({answer(r) for r in responses}) == 1
    assert descriptions(apis[0], reader).count(body["description"]) == 1

    app = tokens.app(READWRITE_ALL)
    key = str(uuid.uuid4())
    bodies = [{"description": f"body {n} {key}", "owner": str(uuid.uuid4())} for n in range(2)]
    calls = [
        _poster(apis[n % 2].base, apis[0].ca_file, app.token, key, bodies[n % 2])
        for n in range(8)
    ]
    responses = _concurrently(calls)
    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 422]
    assert len(created) == len(refused) == 4, [r.text for r in responses]
    assert len({answer(r) for r in created}) == 1
    assert all(r.json()["detail"].startswith("This Idempotency-Key was used") for r in refused)
    everything = descriptions(apis[0], reader)
    assert [b["description"] in everything for b in bodies].count(True) == 1
    assert everything.count(created[0].json()["description"]) == 1
