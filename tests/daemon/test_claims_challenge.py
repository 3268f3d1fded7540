"""The daemon against an API that asks for MFA to delete (`REQUIRE_MFA_FOR_DELETE`): the claims
challenge is reported in one line that names it and says why an app cannot answer it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.daemon.run import fail, succeed
from tests.fixtures.api import ApiServer

Settings = Callable[..., dict[str, str]]
CHALLENGED = (
    'daemon: the API answered deleteToDo with a claims challenge (insufficient_claims), asking '
    'for a token with the claims {"access_token":{"acrs":{"essential":true,"value":"c1"}}}: a '
    "user's sign-in with a second factor (MFA). The daemon signs in as an application and "
    "cannot do MFA or any user interaction, so it cannot do this; a signed-in user can (the "
    "web app), or the API's administrator can stop requiring it (REQUIRE_MFA_FOR_DELETE)"
)


def test_a_claims_challenge_is_one_clear_line_and_exit_1_and_no_second_try(
    api_server_factory: Callable[..., ApiServer], settings_for: Settings, empty_env_file: Path,
    tmp_path: Path,
) -> None:
    api = api_server_factory(REQUIRE_MFA_FOR_DELETE="1")
    settings = {**settings_for("secret"), "API_ENDPOINT": api.todolist_url,
                "TOKEN_CACHE_FILE": str(tmp_path / "token.json")}
    item = succeed(["--op", "postToDo", "--description", "Shred files"], settings, empty_env_file)
    delete = ["--op", "deleteToDo", "--id", str(item["id"])]

    # `fail` holds the run to exit status 1, nothing on stdout, one line on stderr.
    assert fail(delete, settings, empty_env_file) == CHALLENGED

    # The token came from the cache file, yet no fresh one was tried: none could satisfy it.
    assert api.log().count(f"claims challenge: DELETE /api/todolist/{item['id']} ") == 1
    shown = succeed(["--op", "getToDo", "--id", str(item["id"])], settings, empty_env_file)
    assert shown["description"] == "Shred files"
