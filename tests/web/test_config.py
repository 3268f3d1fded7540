"""The web app's settings: names, defaults, the generated session secret, one start-up message."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from common.settings import SettingsError
from config import Config, tenant_configured

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "5e1b3f6a-9d0c-4a57-8b21-0f6a1c2d3e4f"
MINIMAL = {"TENANT_SUBDOMAIN": "contoso", "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": "s3cret"}


def load(tmp_path: Path, **settings: str) -> Config:
    return Config.load(settings, instance_dir=tmp_path / "instance")


def test_subdomain_gives_the_ciamlogin_authority_and_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, **MINIMAL)
    assert config.authority == "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
    assert config.client_credential == "s3cret"
    assert config.port == 3000
    assert config.redirect_uri == "http://localhost:3000/auth/redirect"
    assert config.post_logout_redirect_uri == "http://localhost:3000/"
    assert config.session_type == "filesystem"
    assert config.secure_cookies is False
    assert config.tenant_id is None


def test_authority_overrides_the_subdomain_and_names_the_tenant(tmp_path: Path) -> None:
    tid = "0b8a3c1e-2f4d-4e6a-9b7c-1d2e3f4a5b6c"
    config = load(tmp_path, **MINIMAL, AUTHORITY=f"https://login.contoso.com/{tid}/")
    assert config.authority == f"https://login.contoso.com/{tid}"
    assert config.tenant_id == tid


def test_port_moves_the_default_addresses(tmp_path: Path) -> None:
    config = load(tmp_path, **MINIMAL, PORT="8123")
    assert config.redirect_uri == "http://localhost:8123/auth/redirect"
    assert config.post_logout_redirect_uri == "http://localhost:8123/"


def test_every_problem_is_named_in_one_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load(
            tmp_path,
            CLIENT_ID="not-a-guid",
            AUTHORITY="http://insecure.example/tenant",
            PORT="70000",
            TENANT_TIMEOUT="-1",
            SESSION_TYPE="memcached",
            CA_FILE=str(tmp_path / "missing.pem"),
        )
    message = str(caught.value)
    for expected in (
        "CLIENT_ID must be",
        "AUTHORITY is invalid",
        "PORT must be",
        "TENANT_TIMEOUT must be",
        "SESSION_TYPE must be",
        "CA_FILE names a file that does not exist",
        "CLIENT_SECRET is missing",
    ):
        assert expected in message
    assert len(caught.value.problems) == 7


def test_nothing_configured_names_the_tenant_and_the_client(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path)
    assert caught.value.problems == [
        "TENANT_SUBDOMAIN or AUTHORITY is missing (name your External ID tenant)",
        "CLIENT_ID is missing",
        "CLIENT_SECRET is missing (or use CERT_PRIVATE_KEY_FILE with CERT_THUMBPRINT)",
    ]


def test_session_secret_is_generated_once_private_and_kept(tmp_path: Path) -> None:
    first = load(tmp_path, **MINIMAL)
    secret_file = tmp_path / "instance" / "session_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().strip() == first.session_secret
    assert len(first.session_secret) >= 32
    assert load(tmp_path, **MINIMAL).session_secret == first.session_secret
    other = Config.load(MINIMAL, instance_dir=tmp_path / "elsewhere")
    assert other.session_secret != first.session_secret


def test_a_short_session_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SESSION_SECRET must be at least 32"):
        load(tmp_path, **MINIMAL, SESSION_SECRET="short")


def test_certificate_with_thumbprint_replaces_the_secret(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    settings = {k: v for k, v in MINIMAL.items() if k != "CLIENT_SECRET"}
    config = load(
        tmp_path, **settings, CERT_PRIVATE_KEY_FILE=str(key), CERT_THUMBPRINT="AB:" * 19 + "CD"
    )
    assert config.client_credential == {
        "private_key": key.read_text(),
        "thumbprint": "ab" * 19 + "cd",
    }


def test_certificate_file_is_sent_with_the_key(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    key.write_text("KEY")
    cert.write_text("CERT")
    settings = {k: v for k, v in MINIMAL.items() if k != "CLIENT_SECRET"}
    config = load(tmp_path, **settings, CERT_PRIVATE_KEY_FILE=str(key), CERT_FILE=str(cert))
    assert config.client_credential == {"private_key": "KEY", "public_certificate": "CERT"}


def test_secret_and_certificate_together_are_refused(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("KEY")
    with pytest.raises(SettingsError, match="not both"):
        load(tmp_path, **MINIMAL, CERT_PRIVATE_KEY_FILE=str(key), CERT_THUMBPRINT="ab" * 20)


def test_certificate_key_without_thumbprint_or_certificate_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text("KEY")
    settings = {k: v for k, v in MINIMAL.items() if k != "CLIENT_SECRET"}
    with pytest.raises(SettingsError, match="needs CERT_THUMBPRINT or CERT_FILE"):
        load(tmp_path, **settings, CERT_PRIVATE_KEY_FILE=str(key))


def test_redis_url_selects_the_redis_store(tmp_path: Path) -> None:
    assert load(tmp_path, **MINIMAL, REDIS_URL="redis://127.0.0.1:1/0").session_type == "redis"
    with pytest.raises(SettingsError, match="REDIS_URL is missing"):
        load(tmp_path, **MINIMAL, SESSION_TYPE="redis")


def test_https_redirect_uri_makes_cookies_secure(tmp_path: Path) -> None:
    config = load(tmp_path, **MINIMAL, REDIRECT_URI="https://todo.example/auth/redirect")
    assert config.secure_cookies is True


def test_dotenv_file_is_read_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        f"TENANT_SUBDOMAIN=fromfile\nCLIENT_ID={CLIENT_ID}\nCLIENT_SECRET=x\nPORT=4000\n"
    )
    for name in ("TENANT_SUBDOMAIN", "AUTHORITY", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORT", "4001")
    config = Config.load(env_file=env_file, instance_dir=tmp_path / "instance")
    assert config.authority == "https://fromfile.ciamlogin.com/fromfile.onmicrosoft.com"
    assert config.port == 4001


def test_tenant_configured_looks_for_any_tenant_setting() -> None:
    assert not tenant_configured({"PORT": "3000", "CLIENT_ID": " "})
    assert tenant_configured({"AUTHORITY": "https://x.ciamlogin.com/"})
    assert tenant_configured({"TENANT_SUBDOMAIN": "contoso"})
    assert tenant_configured({"CLIENT_ID": CLIENT_ID})


def test_run_py_reports_bad_settings_in_one_message(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("TENANT_SUBDOMAIN=contoso\nCLIENT_ID=nope\nPORT=zero\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLIENT_", "TENANT_"))}
    env.pop("AUTHORITY", None)
    env["INSTANCE_DIR"] = str(tmp_path / "instance")
    result = subprocess.run(
        [sys.executable, "run.py", "--env-file", str(env_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2
    assert "the web app cannot start; fix these settings:" in result.stderr
    assert "CLIENT_ID must be the application (client) ID" in result.stderr
    assert "PORT must be a TCP port" in result.stderr
    assert "CLIENT_SECRET is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_env_example_documents_every_setting() -> None:
    source = (ROOT / "config.py").read_text()
    read = set(re.findall(r'\.get\(\s*"([A-Z][A-Z0-9_]+)"', source))
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert {"TENANT_SUBDOMAIN", "CLIENT_ID", "REDIRECT_URI", "SESSION_SECRET"} <= read
    assert read == documented
