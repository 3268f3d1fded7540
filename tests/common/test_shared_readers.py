"""The shared readers in common.settings: placeholders, the tenant, loopback URLs, private files.

The credential reader's checks are tested through both of its users (tests/web/test_config.py,
tests/daemon/test_config.py), which must word every problem alike.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.oidc import check_subdomain, resolve_authority
from common.settings import (
    SettingsReader,
    https_or_loopback,
    is_loopback_host,
    read_authority,
    write_private,
)


@pytest.mark.parametrize(
    "value",
    [
        "Enter_the_Application_Id_Here",
        "https://Enter_the_Tenant_Subdomain_Here.ciamlogin.com/",
        "api://<api-client-id>/ToDoList.Read",
        "<secret>",
        "00000000-0000-0000-0000-000000000000",
        "api://00000000-0000-0000-0000-000000000000",
    ],
)
def test_a_placeholder_is_refused_for_any_setting(value: str) -> None:
    reader = SettingsReader("x", {"ANY_NAME": f"  {value} "})
    assert reader.get("ANY_NAME", required=True, default="fallback") == "fallback"
    assert reader.problems == ["ANY_NAME still holds the placeholder from .env.example"]


@pytest.mark.parametrize(
    "value",
    ["00000000-0000-0000-0000-000000000001", "a<b", "x>y<z", "enter-the-dragon", "Enter_thx"],
)
def test_values_that_only_look_a_little_like_placeholders_are_kept(value: str) -> None:
    reader = SettingsReader("x", {"ANY_NAME": value})
    assert reader.get("ANY_NAME") == value
    assert reader.problems == []


def test_is_set_tells_a_refused_value_from_a_missing_one() -> None:
    reader = SettingsReader("x", {"REFUSED": "Enter_the_Value_Here", "BLANK": "  "})
    assert reader.get("REFUSED") is None
    assert reader.is_set("REFUSED")
    assert not reader.is_set("BLANK")
    assert not reader.is_set("ABSENT")


def authority_problems(**settings: str) -> tuple[str, list[str]]:
    reader = SettingsReader("x", settings)
    return read_authority(reader), reader.problems


def test_read_authority_forms() -> None:
    ciam = "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
    assert authority_problems(TENANT_SUBDOMAIN=" contoso ") == (ciam, [])
    assert authority_problems(AUTHORITY="https://contoso.ciamlogin.com/") == (ciam, [])
    assert authority_problems(
        AUTHORITY="https://login.contoso.com/tid/", TENANT_SUBDOMAIN="contoso"
    ) == ("https://login.contoso.com/tid", [])


def test_read_authority_problems() -> None:
    assert authority_problems() == ("", ["AUTHORITY (or TENANT_SUBDOMAIN) is missing"])
    assert authority_problems(AUTHORITY="http://contoso.ciamlogin.com/") == (
        "", ["AUTHORITY is not usable: the authority must be an https URL"]
    )
    # a placeholder is reported once, as a placeholder, not also as "missing"
    assert authority_problems(TENANT_SUBDOMAIN="Enter_the_Tenant_Subdomain_Here") == (
        "", ["TENANT_SUBDOMAIN still holds the placeholder from .env.example"]
    )
    # the host form is refused even next to an AUTHORITY that wins over it
    assert authority_problems(
        AUTHORITY="https://login.contoso.com/tid", TENANT_SUBDOMAIN="contoso.ciamlogin.com"
    ) == (
        "https://login.contoso.com/tid",
        [
            "TENANT_SUBDOMAIN must be the bare tenant name: use `contoso`, "
            "not `contoso.ciamlogin.com`"
        ],
    )


@pytest.mark.parametrize(
    "subdomain",
    ["contoso.ciamlogin.com", "https://contoso.ciamlogin.com/", "contoso.ciamlogin.com/contoso"],
)
def test_resolve_authority_never_builds_a_host_of_a_host(subdomain: str) -> None:
    """Before: contoso.ciamlogin.com became https://contoso.ciamlogin.com.ciamlogin.com/..."""
    with pytest.raises(ValueError, match="use `contoso`, not"):
        resolve_authority(None, subdomain)


@pytest.mark.parametrize("subdomain", ["contoso", "Contoso", "my-tenant2", "a"])
def test_check_subdomain_accepts_dns_labels(subdomain: str) -> None:
    assert check_subdomain(f" {subdomain}\n") == subdomain


@pytest.mark.parametrize("subdomain", ["-contoso", "conto so", "contoso_1", "x" * 64, "[::1"])
def test_check_subdomain_refuses_what_is_no_dns_label(subdomain: str) -> None:
    with pytest.raises(ValueError, match="TENANT_SUBDOMAIN must be the bare tenant name"):
        check_subdomain(subdomain)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("128.0.0.1", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("0.0.0.0", False),  # noqa: S104 (a value under test, nothing binds to it)
        ("::", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://api.contoso.com/api/todolist", True),
        ("https://10.0.0.1/", True),
        ("http://localhost:44351/api/todolist", True),
        ("http://127.0.0.1/", True),
        ("http://[::1]:8080/", True),
        ("http://api.contoso.com/api/todolist", False),
        ("http://[::1/", False),
        ("ftp://localhost/", False),
        ("https:///nohost", False),
        ("localhost:44351", False),
        ("", False),
    ],
)
def test_https_or_loopback(url: str, allowed: bool) -> None:
    assert https_or_loopback(url) is allowed


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 0: a file created without an explicit mode would come out world-readable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_write_private_creates_an_owner_only_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    write_private(path, "text\n")
    assert path.read_text() == "text\n"
    assert mode(path) == 0o600
    write_private(str(tmp_path / "key.pem"), b"\x00bytes")
    assert (tmp_path / "key.pem").read_bytes() == b"\x00bytes"
    assert mode(tmp_path / "key.pem") == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem", "secret"]  # no temp files


@pytest.mark.usefixtures("open_umask")
def test_write_private_replaces_a_wider_file_with_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("old")
    path.chmod(0o644)
    before = path.stat().st_ino
    reader = path.open()  # a reader holding the old file keeps reading the old content
    try:
        write_private(path, "new")
        assert reader.read() == "old"
    finally:
        reader.close()
    assert path.read_text() == "new"
    assert mode(path) == 0o600  # O_TRUNC on the old file would have kept 0644
    assert path.stat().st_ino != before
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_write_private_without_replace_keeps_the_first_file(tmp_path: Path) -> None:
    path = tmp_path / "session_secret"
    write_private(path, "first", replace=False)
    with pytest.raises(FileExistsError):
        write_private(path, "second", replace=False)
    assert path.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["session_secret"]


def test_write_private_into_a_missing_directory_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_private(tmp_path / "absent" / "secret", "x")
