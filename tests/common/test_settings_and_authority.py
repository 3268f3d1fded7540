"""The shared rules every component relies on: authorities, discovery checks, settings, HTTP."""

import socket

import pytest
import requests

from common.http import DEFAULT_TIMEOUT, HttpClient
from common.oidc import discovery_url, issuer_belongs_to, resolve_authority
from common.settings import SettingsError, SettingsReader, is_guid, load_env, parse_bool


@pytest.mark.parametrize(
    ("authority", "subdomain", "expected"),
    [
        (None, "contoso", "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"),
        ("https://contoso.ciamlogin.com/", None, "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"),
        (
            "https://contoso.ciamlogin.com/11111111-2222-3333-4444-555555555555",
            None,
            "https://contoso.ciamlogin.com/11111111-2222-3333-4444-555555555555",
        ),
        ("https://login.contoso.com/tenant-guid/", None, "https://login.contoso.com/tenant-guid"),
        ("https://localhost:44360/abc", "ignored", "https://localhost:44360/abc"),
    ],
)
def test_resolve_authority(authority, subdomain, expected):
    assert resolve_authority(authority, subdomain) == expected


def test_discovery_url_of_the_subdomain_form_is_the_one_external_id_serves():
    assert discovery_url(resolve_authority(None, "contoso")) == (
        "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    )


@pytest.mark.parametrize(
    "authority",
    ["http://contoso.ciamlogin.com/", "https://login.contoso.com/", "contoso", ""],
)
def test_resolve_authority_refuses_what_msal_would_refuse(authority):
    with pytest.raises(ValueError, match=r"authority|AUTHORITY"):
        resolve_authority(authority or None, None)


def test_issuer_of_a_ciam_tenant_belongs_to_its_subdomain_and_custom_domain():
    issuer = "https://0b7c0c3e-0000-4000-8000-000000000001.ciamlogin.com/0b7c0c3e-0000-4000-8000-000000000001/v2.0"
    assert issuer_belongs_to(issuer, "https://contoso.ciamlogin.com/contoso.onmicrosoft.com")
    assert issuer_belongs_to(issuer, "https://login.contoso.com/tenant")
    assert issuer_belongs_to("https://localhost:44360/t/v2.0", "https://localhost:44360/t")
    assert not issuer_belongs_to("https://evil.example/t/v2.0", "https://localhost:44360/t")
    assert not issuer_belongs_to("http://localhost:44360/t/v2.0", "https://localhost:44360/t")


def test_settings_reader_reports_every_problem_in_one_message():
    reader = SettingsReader("web app", {"CLIENT_ID": "not-a-guid", "PORT": "eighty"})
    reader.get("CLIENT_ID", required=True, check=is_guid, expect="a GUID")
    reader.get("CLIENT_SECRET", required=True)
    reader.get("PORT", parse=int, expect="a port number")
    with pytest.raises(SettingsError) as info:
        reader.finish()
    message = str(info.value)
    assert "CLIENT_ID must be a GUID" in message
    assert "CLIENT_SECRET is missing" in message
    assert "PORT must be a port number" in message
    assert "eighty" not in message  # values are not echoed: they may be secrets


def test_settings_reader_parses_and_defaults():
    reader = SettingsReader("x", {"PORT": " 3001 ", "DEBUG": "yes"})
    assert reader.get("PORT", parse=int) == 3001
    assert reader.get("DEBUG", parse=parse_bool) is True
    assert reader.get("MISSING", default=7) == 7
    reader.finish()


def test_environment_wins_over_the_dotenv_file(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("CLIENT_ID=from-file\nPORT=1234\n")
    monkeypatch.setenv("CLIENT_ID", "from-env")
    values = load_env(env_file)
    assert values["CLIENT_ID"] == "from-env"
    assert values["PORT"] == "1234"


def test_http_client_trusts_its_ca_file_not_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/somewhere/else.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/somewhere/else.pem")
    ca = tmp_path / "ca.pem"
    http = HttpClient(ca_file=str(ca))
    settings = http.merge_environment_settings("https://localhost/", {}, None, http.verify, None)
    assert settings["verify"] == str(ca)
    assert HttpClient().verify is True  # the system store, never False


def test_http_client_applies_its_default_timeout_when_msal_passes_none():
    """A server that accepts and never answers: the default read timeout ends the wait."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        http = HttpClient(timeout=(1.0, 0.3))
        with pytest.raises(requests.ReadTimeout):
            http.get(f"http://127.0.0.1:{port}/", timeout=None)
    assert DEFAULT_TIMEOUT[0] > 0
