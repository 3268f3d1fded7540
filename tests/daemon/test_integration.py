"""The daemon as a process against the local tenant and a running ToDoList API.

Nothing is mocked: `python -m daemon` gets its app token from the local tenant through MSAL
(secret, RS256 assertion with `x5t`, PS256 assertion with `x5c`) and calls a real API.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from common.process import ROOT
from tests.api.tokens import READWRITE, Tokens
from tests.daemon.keys import write_key_and_cert
from tests.daemon.run import fail, succeed
from tests.fixtures.api import ApiServer
from tests.fixtures.databases import new_database

Settings = Callable[..., dict[str, str]]
WRITE_REFUSED = (
    "daemon: the API refused {op}: the daemon's token lacks the app role ToDoList.ReadWrite.All "
    "(insufficient_scope); grant it to the daemon's registration and give admin consent"
)


@pytest.mark.parametrize("credential", ["secret", "thumbprint", "certificate"])
def test_every_operation(credential: str, settings_for: Settings, empty_env_file: Path) -> None:
    settings = settings_for(credential)
    assert ("CLIENT_SECRET" in settings) == (credential == "secret")
    assert ("CERT_FILE" in settings) == (credential == "certificate")

    def ok(*args: str) -> object:
        return succeed(list(args), settings, empty_env_file)

    owner = str(uuid.uuid4())
    created = ok("--op", "postToDo", "--description", f"Water plants ({credential})",
                 "--owner", owner)
    assert isinstance(created, dict)
    assert (created["owner"], created["description"]) == (owner, f"Water plants ({credential})")
    item_id = str(created["id"])
    assert ok("--op", "getToDo", "--id", item_id) == created
    assert created in ok("--op", "getToDos")  # type: ignore[operator]
    updated = ok("--op", "updateToDo", "--id", item_id, "--description", "Water the plants")
    assert updated == {**created, "description": "Water the plants"}
    assert ok("--op", "getToDo", "--id", item_id) == updated
    assert ok("--op", "deleteToDo", "--id", item_id) == {"id": created["id"], "deleted": True}
    assert fail(["--op", "getToDo", "--id", item_id], settings, empty_env_file) == (
        f"daemon: item {item_id} not found (404)"
    )
    assert fail(["--op", "deleteToDo", "--id", item_id], settings, empty_env_file) == (
        f"daemon: item {item_id} not found (404)"
    )


def test_sees_and_changes_the_items_of_two_users(
    settings_for: Settings, user_tokens: Tokens, daemon_api: ApiServer, empty_env_file: Path
) -> None:
    alice = user_tokens.user("daemon-alice", READWRITE)
    bob = user_tokens.user("daemon-bob", READWRITE)
    assert alice.oid != bob.oid
    mine = {}
    for person, text in ((alice, "Pick up grocery"), (bob, "Finish invoice report")):
        resp = daemon_api.request("POST", "/api/todolist", person.token, json={"description": text})
        assert resp.status_code == 201, resp.text
        mine[resp.json()["id"]] = (person.oid, text)
    settings = settings_for("secret")

    listed = succeed(["--op", "getToDos"], settings, empty_env_file)
    seen = {item["id"]: (item["owner"], item["description"]) for item in listed}
    assert {i: seen.get(i) for i in mine} == mine

    alice_id = next(i for i, (oid, _) in mine.items() if oid == alice.oid)
    succeed(["--op", "updateToDo", "--id", str(alice_id), "--description", "Pick up groceries"],
            settings, empty_env_file)
    resp = daemon_api.request("GET", f"/api/todolist/{alice_id}", alice.token)
    assert resp.json() == {"id": alice_id, "owner": alice.oid, "description": "Pick up groceries"}


def test_read_only_registration_cannot_write(
    tenant, settings_for: Settings, empty_env_file: Path
) -> None:
    writer = settings_for("secret")
    item = succeed(["--op", "postToDo", "--description", "Keep me"], writer, empty_env_file)
    reg = tenant.admin.add_client("daemon", roles=["ToDoList.Read.All"])
    reader = {**writer, "CLIENT_ID": reg["client_id"], "CLIENT_SECRET": reg["client_secret"]}
    item_id = str(item["id"])

    assert item in succeed(["--op", "getToDos"], reader, empty_env_file)
    assert succeed(["--op", "getToDo", "--id", item_id], reader, empty_env_file) == item
    for op, args in (
        ("postToDo", ["--description", "Not allowed"]),
        ("updateToDo", ["--id", item_id, "--description", "Changed"]),
        ("deleteToDo", ["--id", item_id]),
    ):
        assert fail(["--op", op, *args], reader, empty_env_file) == WRITE_REFUSED.format(op=op)
    assert succeed(["--op", "getToDo", "--id", item_id], writer, empty_env_file) == item


def test_registration_without_roles(tenant, settings_for: Settings, empty_env_file: Path) -> None:
    reg = tenant.admin.add_client("daemon", roles=[])
    settings = {
        **settings_for("secret"), "CLIENT_ID": reg["client_id"],
        "CLIENT_SECRET": reg["client_secret"],
    }
    message = fail(["--op", "getToDos"], settings, empty_env_file)
    assert message.startswith("daemon: the API refused the token (invalid_token: ")
    assert message.endswith(
        "it carries no app roles; grant the daemon's registration ToDoList.Read.All "
        "(or ToDoList.ReadWrite.All) and give admin consent"
    )


def test_wrong_secret(settings_for: Settings, empty_env_file: Path) -> None:
    settings = {**settings_for("secret"), "CLIENT_SECRET": "wrong-secret-value"}
    assert fail(["--op", "getToDos"], settings, empty_env_file) == (
        "daemon: the tenant refused the client secret (AADSTS7000215: invalid client secret); "
        "check CLIENT_SECRET"
    )


@pytest.mark.parametrize("credential", ["thumbprint", "certificate"])
def test_certificate_not_accepted(
    credential: str, settings_for: Settings, empty_env_file: Path, tmp_path: Path
) -> None:
    """A key pair the registration never saw: the tenant refuses the client assertion."""
    key_file, cert_file, thumbprint = write_key_and_cert(tmp_path, "stranger")
    settings = {
        **settings_for(credential),
        "CERT_PRIVATE_KEY_FILE": str(key_file),
        "CERT_THUMBPRINT": thumbprint,
    }
    if credential == "certificate":
        settings["CERT_FILE"] = str(cert_file)
    message = fail(["--op", "getToDos"], settings, empty_env_file)
    assert message.startswith("daemon: the tenant did not accept the certificate (AADSTS700027: ")
    assert message.endswith(
        "check that it is uploaded to the daemon's registration and matches "
        "CERT_PRIVATE_KEY_FILE"
    )
    assert "PRIVATE KEY" not in message


def test_stopped_api(
    api_server_factory: Callable[..., ApiServer], settings_for: Settings, empty_env_file: Path
) -> None:
    api = api_server_factory()
    settings = {**settings_for("secret"), "API_ENDPOINT": api.todolist_url}
    assert succeed(["--op", "getToDos"], settings, empty_env_file) == []
    api.stop()
    assert fail(["--op", "getToDos"], settings, empty_env_file) == (
        f"daemon: the API at {api.todolist_url} could not be reached (Connection refused)"
    )


@pytest.mark.postgres
def test_api_failure_names_the_status_and_request_id(
    api_server_factory: Callable[..., ApiServer], postgres_url: str, settings_for: Settings,
    empty_env_file: Path,
) -> None:
    """The API's database goes away: it answers 503 problem+json; the daemon says so."""
    url = new_database(postgres_url)
    api = api_server_factory(DATABASE_URL=url)
    settings = {**settings_for("secret"), "API_ENDPOINT": api.todolist_url}
    assert succeed(["--op", "getToDos"], settings, empty_env_file) == []
    admin_url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {url.rsplit('/', 1)[1]} WITH (FORCE)")
    message = fail(["--op", "postToDo", "--description", "lost?"], settings, empty_env_file)
    assert re.fullmatch(r"daemon: the API failed with 503: .+ \(request id [0-9a-f]{32}\)",
                        message), message
    request_id = message.rsplit(" ", 1)[1].rstrip(")")
    assert f"request_id={request_id}" in api.log()


def test_missing_setting(settings_for: Settings, empty_env_file: Path) -> None:
    settings = {k: v for k, v in settings_for("secret").items() if k != "SCOPES"}
    assert fail(["--op", "getToDos"], settings, empty_env_file) == (
        "daemon: settings missing or invalid: SCOPES is missing"
    )


def test_tenant_not_trusted_without_its_ca(tenant, settings_for: Settings,
                                           empty_env_file: Path) -> None:
    settings = {k: v for k, v in settings_for("secret").items() if k != "CA_FILE"}
    assert fail(["--op", "getToDos"], settings, empty_env_file) == (
        f"daemon: the tenant at {tenant.authority} failed TLS verification; check CA_FILE"
    )


def test_token_the_api_refuses(tenant_reset, settings_for: Settings, empty_env_file: Path) -> None:
    tenant_reset.admin.fault("access_token", "wrong_aud")
    message = fail(["--op", "getToDos"], settings_for("secret"), empty_env_file)
    assert message.startswith("daemon: the API refused the daemon's token (invalid_token: ")


def test_devtenant_env_output_is_enough(
    tenant, daemon_api: ApiServer, tmp_path: Path
) -> None:
    """`python -m devtenant env daemon > file` as the env file; only the API's address (a free
    port here, not 44351) comes from the environment."""
    printed = subprocess.run(
        [sys.executable, "-m", "devtenant", "env", "daemon", "--data-dir", str(tenant.data_dir)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    env_file = tmp_path / "daemon.env"
    env_file.write_text(printed)
    listed = succeed(["--op", "getToDos"], {"API_ENDPOINT": daemon_api.todolist_url}, env_file)
    assert isinstance(listed, list)


def test_cache_file_skips_the_token_request(
    tenant_reset, settings_for: Settings, empty_env_file: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "tokens.json"
    settings = settings_for("secret")

    def token_requests() -> int:
        return tenant_reset.admin.counts()["token"].get("client_credentials", 0)

    first = succeed(["--op", "getToDos", "--token-cache", str(cache)], settings, empty_env_file)
    assert token_requests() == 1
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert settings["CLIENT_SECRET"] not in cache.read_text()
    second = succeed(["--op", "getToDos"], {**settings, "TOKEN_CACHE_FILE": str(cache)},
                     empty_env_file)
    assert second == first
    assert token_requests() == 1
    succeed(["--op", "getToDos"], settings, empty_env_file)  # no cache file: a new token
    assert token_requests() == 2


def test_refused_cached_token_is_replaced(
    tenant_reset, settings_for: Settings, empty_env_file: Path, tmp_path: Path
) -> None:
    """The API refuses the token from the cache file: the daemon drops it, gets a new one,
    retries once, and writes the new token back."""
    cache = tmp_path / "tokens.json"
    settings = {**settings_for("secret"), "TOKEN_CACHE_FILE": str(cache)}
    succeed(["--op", "getToDos"], settings, empty_env_file)
    state = json.loads(cache.read_text())
    (entry,) = state["AccessToken"].values()
    entry["secret"] = "not-a-token"
    cache.write_text(json.dumps(state))
    succeed(["--op", "getToDos"], settings, empty_env_file)
    assert tenant_reset.admin.counts()["token"]["client_credentials"] == 2
    (entry,) = json.loads(cache.read_text())["AccessToken"].values()
    assert entry["secret"] != "not-a-token"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_damaged_cache_file_is_replaced(
    tenant_reset, settings_for: Settings, empty_env_file: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "tokens.json"
    cache.write_text("{not json")
    cache.chmod(0o600)
    settings = {**settings_for("secret"), "TOKEN_CACHE_FILE": str(cache)}
    succeed(["--op", "getToDos"], settings, empty_env_file)
    assert tenant_reset.admin.counts()["token"]["client_credentials"] == 1
    assert len(json.loads(cache.read_text())["AccessToken"]) == 1
