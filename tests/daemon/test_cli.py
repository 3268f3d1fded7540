"""The command line: operations, usage errors (exit 2), and failures before any network (exit 1)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from common.process import ROOT
from daemon.cli import parse_args
from tests.daemon.run import run_daemon
from tests.support.ports import free_port

OPERATIONS = ["getToDos", "getToDo", "postToDo", "updateToDo", "deleteToDo"]
GUID = "3e8f1c2a-db63-43a2-a767-5d7db1234567"


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as caught:
        parse_args(argv)
    assert caught.value.code == 2
    return capsys.readouterr().err


def test_help_lists_every_operation() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "daemon", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0
    for op in OPERATIONS:
        assert f"\n  {op} " in result.stdout


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "the following arguments are required: --op"),
        (["--op", "listToDos"], "invalid choice: 'listToDos'"),
        (["--op", "getToDo"], "--op getToDo needs --id"),
        (["--op", "deleteToDo"], "--op deleteToDo needs --id"),
        (["--op", "postToDo"], "--op postToDo needs --description"),
        (["--op", "updateToDo", "--id", "3"], "--op updateToDo needs --description"),
        (["--op", "updateToDo", "--description", "x"], "--op updateToDo needs --id"),
        (["--op", "getToDos", "--id", "1"], "--id does not apply to --op getToDos"),
        (["--op", "getToDo", "--id", "1", "--description", "x"],
         "--description does not apply to --op getToDo"),
        (["--op", "updateToDo", "--id", "1", "--description", "x", "--owner", GUID],
         "--owner does not apply to --op updateToDo"),
        (["--op", "postToDo", "--description", "x", "--id", "4"],
         "--id does not apply to --op postToDo"),
        (["--op", "getToDo", "--id", "abc"], "must be a positive integer, not 'abc'"),
        (["--op", "getToDo", "--id", "0"], "must be a positive integer, not '0'"),
        (["--op", "postToDo", "--description", "x", "--owner", "bob"], "must be a GUID"),
        (["--op", "postToDo", "--description", "   "], "--description must not be empty"),
        (["--op", "getToDos", "--env-file", "/nonexistent/daemon.env"],
         "--env-file /nonexistent/daemon.env: no such file"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert expected in usage_error(argv, capsys)


def test_valid_arguments() -> None:
    args = parse_args(["--op", "postToDo", "--description", "Water plants", "--owner", GUID])
    assert (args.op, args.id, args.description, args.owner) == (
        "postToDo", None, "Water plants", GUID,
    )
    args = parse_args(["--op", "updateToDo", "--id", "7", "--description", "Feed the cat"])
    assert (args.op, args.id, args.description) == ("updateToDo", 7, "Feed the cat")


def test_usage_error_from_the_process_exits_2(empty_env_file: Path) -> None:
    result = run_daemon(["--op", "getToDo"], {}, empty_env_file)
    assert result.returncode == 2
    assert "--op getToDo needs --id" in result.stderr
    assert result.stdout == ""


def test_missing_settings_exit_1_with_one_line(empty_env_file: Path) -> None:
    result = run_daemon(
        ["--op", "getToDos"], {"CLIENT_ID": "11111111-2222-3333-4444-555555555555"},
        empty_env_file,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("daemon: settings missing or invalid: ")
    assert "AUTHORITY (or TENANT_SUBDOMAIN) is missing" in result.stderr
    assert "SCOPES is missing" in result.stderr
    assert "CLIENT_ID" not in result.stderr


def test_settings_come_from_the_env_file(tmp_path: Path) -> None:
    """A file with every setting gets past settings: the failure is the unreachable tenant."""
    port = free_port()
    env_file = tmp_path / "daemon.env"
    env_file.write_text(
        "CLIENT_ID=11111111-2222-3333-4444-555555555555\n"
        f"AUTHORITY=https://127.0.0.1:{port}/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee\n"
        "CLIENT_SECRET=not-used\n"
        "SCOPES=api://99999999-8888-7777-6666-555555555555\n"
    )
    result = run_daemon(["--op", "getToDos"], {}, env_file)
    assert result.returncode == 1
    assert result.stderr == (
        f"daemon: the tenant at https://127.0.0.1:{port}/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee "
        "could not be reached (Connection refused)\n"
    )
    assert "not-used" not in result.stderr


def test_cache_file_open_to_others_is_refused(tmp_path: Path, empty_env_file: Path) -> None:
    cache = tmp_path / "tokens.json"
    cache.write_text("{}")
    cache.chmod(0o644)
    settings = {
        "CLIENT_ID": "11111111-2222-3333-4444-555555555555",
        "AUTHORITY": f"https://127.0.0.1:{free_port()}/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "CLIENT_SECRET": "not-used",
        "SCOPES": "api://99999999-8888-7777-6666-555555555555",
    }
    result = run_daemon(["--op", "getToDos", "--token-cache", str(cache)], settings,
                        empty_env_file)
    assert result.returncode == 1
    assert result.stderr == (
        f"daemon: the token cache file {cache} is open to other users (mode 0644); "
        f"run chmod 600 {cache}\n"
    )
    assert stat.S_IMODE(cache.stat().st_mode) == 0o644
