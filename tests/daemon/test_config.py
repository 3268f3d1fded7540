"""The daemon's settings: names, defaults, credential forms, and every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from dotenv import dotenv_values

from common.settings import SettingsError
from daemon.config import DEFAULT_API_ENDPOINT, Config
from tests.daemon.keys import write_key_and_cert

BASE = {
    "CLIENT_ID": "11111111-2222-3333-4444-555555555555",
    "AUTHORITY": "https://localhost:44360/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "CLIENT_SECRET": "s3cret-value",
    "SCOPES": "api://99999999-8888-7777-6666-555555555555",
}


def problems(source: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        Config.from_mapping(source)
    return caught.value.problems


def test_secret_settings_with_defaults() -> None:
    config = Config.from_mapping(BASE)
    assert config.client_id == BASE["CLIENT_ID"]
    assert config.authority == BASE["AUTHORITY"]
    assert config.credential_kind == "secret"
    assert config.credential == "s3cret-value"
    assert config.scope == "api://99999999-8888-7777-6666-555555555555/.default"
    assert config.api_endpoint == DEFAULT_API_ENDPOINT
    assert config.ca_file is None
    assert config.token_cache_file is None


def test_secret_is_not_in_repr() -> None:
    assert "s3cret-value" not in repr(Config.from_mapping(BASE))


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ("api://abc", "api://abc/.default"),
        ("api://abc/", "api://abc/.default"),
        ("api://abc/.default", "api://abc/.default"),
    ],
)
def test_default_suffix_appended_once(scopes: str, expected: str) -> None:
    assert Config.from_mapping({**BASE, "SCOPES": scopes}).scope == expected


def test_scopes_must_be_one_value() -> None:
    assert problems({**BASE, "SCOPES": "api://a api://b"}) == [
        "SCOPES must be the API's App ID URI (one value, e.g. api://<api-client-id>)"
    ]


def test_tenant_subdomain_gives_the_ciamlogin_authority() -> None:
    source = {k: v for k, v in BASE.items() if k != "AUTHORITY"}
    config = Config.from_mapping({**source, "TENANT_SUBDOMAIN": "contoso"})
    assert config.authority == "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"


def test_authority_without_tenant_is_refused() -> None:
    found = problems({**BASE, "AUTHORITY": "https://login.example.com/"})
    assert len(found) == 1
    assert found[0].startswith("AUTHORITY is not usable")


def test_every_missing_setting_is_named_at_once() -> None:
    assert problems({}) == [
        "CLIENT_ID is missing",
        "AUTHORITY (or TENANT_SUBDOMAIN) is missing",
        "CLIENT_SECRET is missing (or CERT_PRIVATE_KEY_FILE with CERT_THUMBPRINT or CERT_FILE)",
        "SCOPES is missing",
    ]


@pytest.mark.parametrize(
    "endpoint",
    ["http://todo.example.com/api/todolist", "ftp://localhost/api", "not a url"],
)
def test_api_endpoint_must_be_https_or_loopback_http(endpoint: str) -> None:
    assert problems({**BASE, "API_ENDPOINT": endpoint}) == [
        "API_ENDPOINT must be an https URL (plain http only on localhost)"
    ]


def test_api_endpoint_loopback_http_and_trailing_slash() -> None:
    config = Config.from_mapping({**BASE, "API_ENDPOINT": "http://127.0.0.1:5000/api/todolist/"})
    assert config.api_endpoint == "http://127.0.0.1:5000/api/todolist"


def test_ca_file_must_exist(tmp_path: Path) -> None:
    assert problems({**BASE, "CA_FILE": str(tmp_path / "absent.pem")}) == [
        "CA_FILE must be an existing file (PEM CA certificates)"
    ]


def test_thumbprint_form(tmp_path: Path) -> None:
    key_file, _, thumbprint = write_key_and_cert(tmp_path)
    source = {k: v for k, v in BASE.items() if k != "CLIENT_SECRET"}
    colons = ":".join(thumbprint[i : i + 2] for i in range(0, 40, 2)).lower()
    config = Config.from_mapping(
        {**source, "CERT_PRIVATE_KEY_FILE": str(key_file), "CERT_THUMBPRINT": colons}
    )
    assert config.credential_kind == "thumbprint"
    assert isinstance(config.credential, dict)
    assert config.credential["thumbprint"] == thumbprint
    assert config.credential["private_key"] == key_file.read_text()
    assert "PRIVATE KEY" not in repr(config)


def test_certificate_form(tmp_path: Path) -> None:
    key_file, cert_file, thumbprint = write_key_and_cert(tmp_path)
    source = {k: v for k, v in BASE.items() if k != "CLIENT_SECRET"}
    config = Config.from_mapping(
        {**source, "CERT_PRIVATE_KEY_FILE": str(key_file), "CERT_FILE": str(cert_file),
         "CERT_THUMBPRINT": thumbprint}
    )
    assert config.credential_kind == "certificate"
    assert config.credential == {
        "private_key": key_file.read_text(),
        "public_certificate": cert_file.read_text(),
    }


def test_certificate_of_another_key_is_refused(tmp_path: Path) -> None:
    key_file, _, _ = write_key_and_cert(tmp_path, "one")
    _, other_cert, _ = write_key_and_cert(tmp_path, "two")
    source = {k: v for k, v in BASE.items() if k != "CLIENT_SECRET"}
    assert problems(
        {**source, "CERT_PRIVATE_KEY_FILE": str(key_file), "CERT_FILE": str(other_cert)}
    ) == ["CERT_FILE is not the certificate of the key in CERT_PRIVATE_KEY_FILE"]


def test_thumbprint_that_does_not_match_the_certificate(tmp_path: Path) -> None:
    key_file, cert_file, _ = write_key_and_cert(tmp_path)
    source = {k: v for k, v in BASE.items() if k != "CLIENT_SECRET"}
    assert problems(
        {**source, "CERT_PRIVATE_KEY_FILE": str(key_file), "CERT_FILE": str(cert_file),
         "CERT_THUMBPRINT": "A" * 40}
    ) == ["CERT_THUMBPRINT is not the SHA-1 thumbprint of CERT_FILE"]


def test_key_without_thumbprint_or_certificate(tmp_path: Path) -> None:
    key_file, _, _ = write_key_and_cert(tmp_path)
    source = {k: v for k, v in BASE.items() if k != "CLIENT_SECRET"}
    assert problems({**source, "CERT_PRIVATE_KEY_FILE": str(key_file)}) == [
        "CERT_PRIVATE_KEY_FILE needs CERT_THUMBPRINT or CERT_FILE"
    ]


def test_malformed_thumbprint(tmp_path: Path) -> None:
    key_file, _, _ = write_key_and_cert(tmp_path)
    source = {k: v for k, v in BASE.items() if k != "CLIENT_SECRET"}
    assert problems(
        {**source, "CERT_PRIVATE_KEY_FILE": str(key_file), "CERT_THUMBPRINT": "xyz"}
    ) == ["CERT_THUMBPRINT must be the certificate's SHA-1 thumbprint (40 hex digits)"]


def test_unreadable_and_non_key_files(tmp_path: Path) -> None:
    source = {k: v for k, v in BASE.items() if k != "CLIENT_SECRET"}
    absent = tmp_path / "absent.pem"
    found = problems({**source, "CERT_PRIVATE_KEY_FILE": str(absent), "CERT_THUMBPRINT": "A" * 40})
    assert found == [f"CERT_PRIVATE_KEY_FILE {absent} cannot be read (No such file or directory)"]
    _, cert_file, _ = write_key_and_cert(tmp_path)
    found = problems(
        {**source, "CERT_PRIVATE_KEY_FILE": str(cert_file), "CERT_THUMBPRINT": "A" * 40}
    )
    assert found == ["CERT_PRIVATE_KEY_FILE must hold an unencrypted PEM RSA private key"]


def test_secret_and_certificate_together_are_ambiguous(tmp_path: Path) -> None:
    key_file, _, thumbprint = write_key_and_cert(tmp_path)
    assert problems(
        {**BASE, "CERT_PRIVATE_KEY_FILE": str(key_file), "CERT_THUMBPRINT": thumbprint}
    ) == ["CLIENT_SECRET and CERT_PRIVATE_KEY_FILE are both set; use one of them"]


def test_token_cache_file_from_setting_or_command_line(tmp_path: Path) -> None:
    from_setting = tmp_path / "setting.json"
    from_cli = tmp_path / "cli.json"
    source = {**BASE, "TOKEN_CACHE_FILE": str(from_setting)}
    assert Config.from_mapping(source).token_cache_file == from_setting
    assert Config.from_mapping(source, str(from_cli)).token_cache_file == from_cli
    assert problems({**BASE, "TOKEN_CACHE_FILE": str(tmp_path / "no" / "dir.json")}) == [
        f"the token cache file's directory {tmp_path / 'no'} does not exist"
    ]


def test_environment_wins_over_the_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "daemon.env"
    env_file.write_text(
        "".join(f"{k}={v}\n" for k, v in BASE.items()) + "API_ENDPOINT=https://file.example/api\n"
    )
    for name in ("CLIENT_ID", "AUTHORITY", "TENANT_SUBDOMAIN", "CLIENT_SECRET", "SCOPES",
                 "CERT_PRIVATE_KEY_FILE", "CERT_THUMBPRINT", "CERT_FILE", "CA_FILE",
                 "TOKEN_CACHE_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("API_ENDPOINT", "https://env.example/api")
    config = Config.from_env(env_file)
    assert config.client_id == BASE["CLIENT_ID"]
    assert config.api_endpoint == "https://env.example/api"


@pytest.mark.parametrize(
    "endpoint",
    ["http://localhost:5000/api/todolist", "http://127.0.0.2:5000/api/todolist",
     "http://[::1]:5000/api/todolist"],
)
def test_api_endpoint_plain_http_on_every_loopback_address(endpoint: str) -> None:
    assert Config.from_mapping({**BASE, "API_ENDPOINT": endpoint}).api_endpoint == endpoint


def test_tenant_subdomain_must_be_the_bare_name() -> None:
    source = {k: v for k, v in BASE.items() if k != "AUTHORITY"}
    assert problems({**source, "TENANT_SUBDOMAIN": "https://contoso.ciamlogin.com/"}) == [
        "TENANT_SUBDOMAIN must be the bare tenant name: use `contoso`, "
        "not `https://contoso.ciamlogin.com/`"
    ]


def test_env_example_copied_unchanged_names_each_placeholder() -> None:
    example = Path(__file__).resolve().parents[2] / "daemon" / ".env.example"
    values = {k: v for k, v in dotenv_values(example).items() if v is not None}
    assert problems(values) == [
        f"{name} still holds the placeholder from .env.example"
        for name in ("CLIENT_ID", "AUTHORITY", "CLIENT_SECRET", "SCOPES")
    ]


def test_a_placeholder_in_the_certificate_settings_is_named(tmp_path: Path) -> None:
    key_file, _, _ = write_key_and_cert(tmp_path)
    source = {k: v for k, v in BASE.items() if k != "CLIENT_SECRET"}
    assert problems(
        {**source, "CERT_PRIVATE_KEY_FILE": str(key_file), "CERT_THUMBPRINT": "<thumbprint>"}
    ) == ["CERT_THUMBPRINT still holds the placeholder from .env.example"]
