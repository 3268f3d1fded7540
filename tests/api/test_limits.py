"""At most `MAX_ITEMS_PER_OWNER` items per owner (default 1,000): beyond, a 409 problem+json
that says so in words a person can act on. On both backends, and with concurrent creates
through two API processes at the limit.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import insert

from api.storage import ToDoRow, make_engine
from common.http import HttpClient
from tests.api.tokens import READ, READ_ALL, READWRITE, READWRITE_ALL, Tokens
from tests.fixtures.api import ApiServer
from tests.fixtures.databases import new_database

PROBLEM = "application/problem+json"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def small_api(request: pytest.FixtureRequest, api_server_factory) -> ApiServer:
    """An API that keeps at most 3 items per owner, on each backend."""
    if request.param == "sqlite":
        return api_server_factory(MAX_ITEMS_PER_OWNER="3")
    url = new_database(request.getfixturevalue("postgres_url"))
    return api_server_factory(DATABASE_URL=url, MAX_ITEMS_PER_OWNER="3")


def post(api: ApiServer, token: str, body: dict) -> requests.Response:
    return api.request("POST", "/api/todolist", token, json=body)


def assert_full(resp: requests.Response, detail: str) -> None:
    assert resp.status_code == 409, resp.text
    assert resp.headers["Content-Type"] == PROBLEM
    problem = resp.json()
    assert (problem["status"], problem["title"]) == (409, "Conflict")
    assert problem["detail"] == detail


def test_a_user_gets_a_409_beyond_the_limit_and_room_after_deleting(
    small_api: ApiServer, tokens: Tokens
) -> None:
    user = tokens.user(f"limit-{uuid.uuid4()}", READ, READWRITE)
    ids = [post(small_api, user.token, {"description": f"item {n}"}).json()["id"] for n in range(3)]
    full = post(small_api, user.token, {"description": "one too many"})
    assert_full(full, "You have 3 items, the most this list keeps. Delete some to add more.")
    listed = small_api.request("GET", "/api/todolist", user.token).json()
    assert [i["id"] for i in listed] == ids
    assert small_api.request("DELETE", f"/api/todolist/{ids[0]}", user.token).status_code == 204
    assert post(small_api, user.token, {"description": "room again"}).status_code == 201
    # Another user's list is not this one's.
    other = tokens.user(f"limit-{uuid.uuid4()}", READWRITE)
    assert post(small_api, other.token, {"description": "mine"}).status_code == 201


def test_an_app_gets_a_409_naming_the_owner_that_is_full(
    small_api: ApiServer, tokens: Tokens
) -> None:
    app = tokens.app(READWRITE_ALL)
    owner = str(uuid.uuid4())
    for n in range(3):
        assert post(small_api, app.token, {"description": f"{n}", "owner": owner}).ok
    assert_full(
        post(small_api, app.token, {"description": "more", "owner": owner}),
        f"The owner {owner} has 3 items, the most this list keeps. Delete some to add more.",
    )
    assert post(small_api, app.token, {"description": "else", "owner": str(uuid.uuid4())}).ok


def test_a_repeated_idempotency_key_gets_its_first_answer_even_when_full(
    small_api: ApiServer, tokens: Tokens
) -> None:
    user = tokens.user(f"limit-{uuid.uuid4()}", READWRITE)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = small_api.request(
        "POST", "/api/todolist", user.token, json={"description": "first"}, headers=key
    )
    assert first.status_code == 201
    for n in range(2):
        assert post(small_api, user.token, {"description": f"filler {n}"}).status_code == 201
    again = small_api.request(
        "POST", "/api/todolist", user.token, json={"description": "first"}, headers=key
    )
    assert (again.status_code, again.content) == (201, first.content)
    new_key = {"Idempotency-Key": str(uuid.uuid4())}
    full = small_api.request(
        "POST", "/api/todolist", user.token, json={"description": "new"}, headers=new_key
    )
    assert full.status_code == 409
    # The refused create did not use up its key: once there is room, the same key creates.
    item_id = first.json()["id"]
    assert small_api.request("DELETE", f"/api/todolist/{item_id}", user.token).status_code == 204
    made = small_api.request(
        "POST", "/api/todolist", user.token, json={"description": "new"}, headers=new_key
    )
    assert made.status_code == 201
    assert made.json()["description"] == "new"


def test_the_default_limit_is_1000(api_server_factory, tokens: Tokens) -> None:
    """The 1,000 items are written straight into the API's database (1,000 requests would
    only be slower), then the API refuses the 1,001st."""
    api = api_server_factory()
    user = tokens.user(f"limit-{uuid.uuid4()}", READWRITE)
    engine = make_engine(api.settings["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(
            insert(ToDoRow), [{"owner": user.oid, "description": f"{n}"} for n in range(999)]
        )
    engine.dispose()
    assert post(api, user.token, {"description": "the 1,000th"}).status_code == 201
    assert_full(
        post(api, user.token, {"description": "the 1,001st"}),
        "You have 1,000 items, the most this list keeps. Delete some to add more.",
    )


def test_a_lowered_limit_counts_what_is_there(
    shared_database: str, api_server_factory, tokens: Tokens
) -> None:
    """Items kept under a higher limit stay; the 409 says how many there are and the limit."""
    roomy = api_server_factory(DATABASE_URL=shared_database, MAX_ITEMS_PER_OWNER="3")
    tight = api_server_factory(DATABASE_URL=shared_database, MAX_ITEMS_PER_OWNER="2")
    user = tokens.user(f"limit-{uuid.uuid4()}", READ, READWRITE)
    for n in range(3):
        assert post(roomy, user.token, {"description": f"{n}"}).status_code == 201
    assert_full(
        post(tight, user.token, {"description": "more"}),
        "You have 3 items; this list keeps at most 2. Delete some to add more.",
    )
    assert len(tight.request("GET", "/api/todolist", user.token).json()) == 3


def test_concurrent_creates_at_the_limit_never_pass_it(
    shared_database: str, api_server_factory, tokens: Tokens
) -> None:
    """Twelve creates at once for one owner, through two API processes, with room for five:
    exactly five are created and seven refused."""
    apis = [
        api_server_factory(DATABASE_URL=shared_database, MAX_ITEMS_PER_OWNER="5")
        for _ in range(2)
    ]
    app = tokens.app(READWRITE_ALL)
    owner = str(uuid.uuid4())
    barrier = threading.Barrier(12)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def create(n: int) -> Callable[[], None]:
        def run() -> None:
            with HttpClient(ca_file=apis[0].ca_file) as http:
                barrier.wait()
                try:
                    resp = http.post(
                        f"{apis[n % 2].base}/api/todolist",
                        json={"description": f"race {n}", "owner": owner},
                        headers={"Authorization": f"Bearer {app.token}"},
                    )
                    statuses.append(resp.status_code)
                except BaseException as exc:
                    errors.append(exc)

        return run

    threads = [threading.Thread(target=create(n)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(statuses) == [201] * 5 + [409] * 7
    everything = apis[1].request("GET", "/api/todolist", tokens.app(READ_ALL).token).json()
    assert sum(item["owner"] == owner for item in everything) == 5
