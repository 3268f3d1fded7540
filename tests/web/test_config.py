"""The web app's settings: names, defaults, the generated session secret, one start-up message."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from dotenv import dotenv_values

from common.settings import SettingsError
from config import Config, tenant_configured
from tests.daemon.keys import write_key_and_cert

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "5e1b3f6a-9d0c-4a57-8b21-0f6a1c2d3e4f"
API = "api://0d5f7c3a-6b2e-4c1d-9e8f-7a6b5c4d3e2f"
TODOLIST = {
    "TODOLIST_READ": f"{API}/ToDoList.Read",
    "TODOLIST_READWRITE": f"{API}/ToDoList.ReadWrite",
    "TODOLIST_API_URL": "https://localhost:44351/api/todolist",
}
MINIMAL = {
    "TENANT_SUBDOMAIN": "contoso", "CLIENT_ID": CLIENT_ID, "CLIENT_SECRET": "s3cret", **TODOLIST
}
NO_SECRET = {k: v for k, v in MINIMAL.items() if k != "CLIENT_SECRET"}


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
            **TODOLIST,
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
        "AUTHORITY is not usable",
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
        "AUTHORITY (or TENANT_SUBDOMAIN) is missing",
        "CLIENT_ID is missing",
        "CLIENT_SECRET is missing (or CERT_PRIVATE_KEY_FILE with CERT_THUMBPRINT or CERT_FILE)",
        "TODOLIST_READ is missing",
        "TODOLIST_READWRITE is missing",
        "TODOLIST_API_URL is missing",
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
    key, _, _ = write_key_and_cert(tmp_path)
    config = load(
        tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(key), CERT_THUMBPRINT="AB:" * 19 + "CD"
    )
    assert config.client_credential == {
        "private_key": key.read_text(),
        "thumbprint": "AB" * 19 + "CD",
    }


def test_certificate_file_is_sent_with_the_key(tmp_path: Path) -> None:
    key, cert, _ = write_key_and_cert(tmp_path)
    config = load(tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(key), CERT_FILE=str(cert))
    assert config.client_credential == {
        "private_key": key.read_text(),
        "public_certificate": cert.read_text(),
    }


def test_secret_and_certificate_together_are_refused(tmp_path: Path) -> None:
    key, _, _ = write_key_and_cert(tmp_path)
    with pytest.raises(SettingsError, match="are both set; use one of them"):
        load(tmp_path, **MINIMAL, CERT_PRIVATE_KEY_FILE=str(key), CERT_THUMBPRINT="ab" * 20)


def test_certificate_key_without_thumbprint_or_certificate_is_refused(tmp_path: Path) -> None:
    key, _, _ = write_key_and_cert(tmp_path)
    with pytest.raises(SettingsError, match="needs CERT_THUMBPRINT or CERT_FILE"):
        load(tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(key))


def problems(tmp_path: Path, **settings: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load(tmp_path, **settings)
    return caught.value.problems


def test_the_web_app_gets_the_daemons_certificate_checks(tmp_path: Path) -> None:
    """One reader for both: what the daemon refuses, the web app refuses with the same words."""
    key, cert, thumbprint = write_key_and_cert(tmp_path, "web")
    _, other_cert, _ = write_key_and_cert(tmp_path, "other")
    ec_key = tmp_path / "ec-key.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert problems(
        tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(ec_key), CERT_THUMBPRINT=thumbprint
    ) == ["CERT_PRIVATE_KEY_FILE must hold an unencrypted PEM RSA private key"]
    assert problems(
        tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(key), CERT_FILE=str(other_cert)
    ) == ["CERT_FILE is not the certificate of the key in CERT_PRIVATE_KEY_FILE"]
    assert problems(
        tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(key), CERT_FILE=str(cert),
        CERT_THUMBPRINT="0" * 39 + "1",
    ) == ["CERT_THUMBPRINT is not the SHA-1 thumbprint of CERT_FILE"]
    assert problems(
        tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(key), CERT_THUMBPRINT="ab" * 19
    ) == ["CERT_THUMBPRINT must be the certificate's SHA-1 thumbprint (40 hex digits)"]
    absent = tmp_path / "absent.pem"
    assert problems(
        tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(absent), CERT_THUMBPRINT=thumbprint
    ) == [f"CERT_PRIVATE_KEY_FILE {absent} cannot be read (No such file or directory)"]
    matching = load(
        tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(key), CERT_FILE=str(cert),
        CERT_THUMBPRINT=thumbprint.lower(),
    )
    assert matching.client_credential == {
        "private_key": key.read_text(),
        "public_certificate": cert.read_text(),
    }


@pytest.mark.parametrize(
    "value", ["contoso.ciamlogin.com", "https://contoso.ciamlogin.com/", "contoso.onmicrosoft.com"]
)
def test_tenant_subdomain_must_be_the_bare_name(tmp_path: Path, value: str) -> None:
    assert problems(tmp_path, **{**MINIMAL, "TENANT_SUBDOMAIN": value}) == [
        f"TENANT_SUBDOMAIN must be the bare tenant name: use `contoso`, not `{value}`"
    ]


def test_a_custom_domain_in_tenant_subdomain_is_sent_to_authority(tmp_path: Path) -> None:
    found = problems(tmp_path, **{**MINIMAL, "TENANT_SUBDOMAIN": "login.contoso.com"})
    assert found == [
        "TENANT_SUBDOMAIN must be the bare tenant name (`contoso` for contoso.ciamlogin.com); "
        "a custom URL domain goes in AUTHORITY, with the tenant in its path"
    ]


@pytest.mark.parametrize("name", ["TODOLIST_READ", "TODOLIST_READWRITE", "TODOLIST_API_URL"])
def test_each_todolist_setting_is_required(tmp_path: Path, name: str) -> None:
    settings = {k: v for k, v in MINIMAL.items() if k != name}
    assert problems(tmp_path, **settings) == [f"{name} is missing"]


@pytest.mark.parametrize(
    "url",
    [
        "https://todo-api.contoso.com/api/todolist",
        "http://localhost:5000/api/todolist",
        "http://127.0.0.1:5000/api/todolist",
        "http://127.8.9.10/api/todolist",
        "http://[::1]:5000/api/todolist",
    ],
)
def test_todolist_api_url_is_https_or_loopback_http(tmp_path: Path, url: str) -> None:
    assert load(tmp_path, **{**MINIMAL, "TODOLIST_API_URL": url}).todolist_api_url == url


@pytest.mark.parametrize(
    "url",
    [
        "http://todo-api.contoso.com/api/todolist",
        "http://10.0.0.5/api/todolist",
        "http://localhost.contoso.com/api/todolist",
        "ftp://localhost/api/todolist",
        "localhost:44351/api/todolist",
    ],
)
def test_todolist_api_url_over_plain_http_elsewhere_is_refused(tmp_path: Path, url: str) -> None:
    assert problems(tmp_path, **{**MINIMAL, "TODOLIST_API_URL": url}) == [
        "TODOLIST_API_URL must be an https URL (plain http only on localhost)"
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLIENT_ID", "Enter_the_Application_Id_Here"),
        ("CLIENT_ID", "00000000-0000-0000-0000-000000000000"),
        ("TENANT_SUBDOMAIN", "Enter_the_Tenant_Subdomain_Here"),
        ("CLIENT_SECRET", "<your client secret>"),
        ("TODOLIST_READ", "api://<api-client-id>/ToDoList.Read"),
        ("TODOLIST_API_URL", "https://<your-api-host>/api/todolist"),
    ],
)
def test_a_placeholder_is_refused_naming_the_setting(
    tmp_path: Path, name: str, value: str
) -> None:
    assert problems(tmp_path, **{**MINIMAL, name: value}) == [
        f"{name} still holds the placeholder from .env.example"
    ]


def test_env_example_copied_unchanged_names_each_placeholder(tmp_path: Path) -> None:
    example = {k: v for k, v in dotenv_values(ROOT / ".env.example").items() if v is not None}
    assert tenant_configured(example)  # so run.py does not fall back to local mode
    with pytest.raises(SettingsError) as caught:
        Config.load(example, instance_dir=tmp_path / "instance")
    assert caught.value.problems == [
        f"{name} still holds the placeholder from .env.example"
        for name in ("TENANT_SUBDOMAIN", "CLIENT_ID", "CLIENT_SECRET", "TODOLIST_READ",
                     "TODOLIST_READWRITE")
    ]
    assert not (tmp_path / "instance").exists()  # a refused start leaves nothing behind


def test_an_instance_dir_that_cannot_be_written_is_a_settings_problem(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(SettingsError) as caught:
        Config.load({**MINIMAL, "INSTANCE_DIR": str(not_a_dir / "instance")})
    assert caught.value.problems == [
        f"INSTANCE_DIR {not_a_dir / 'instance'} cannot be written (Not a directory)"
    ]


def test_an_empty_session_secret_file_is_replaced(tmp_path: Path) -> None:
    secret_file = tmp_path / "instance" / "session_secret"
    secret_file.parent.mkdir()
    secret_file.write_text("\n")
    secret_file.chmod(0o644)
    config = load(tmp_path, **MINIMAL)
    assert secret_file.read_text().strip() == config.session_secret
    assert len(config.session_secret) >= 32
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


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
        + "".join(f"{k}={v}\n" for k, v in TODOLIST.items())
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


def run_py(tmp_path: Path, env_file: Path) -> subprocess.CompletedProcess[str]:
    """`python run.py --env-file env_file` with none of the web app's settings inherited."""
    names = set(dotenv_values(ROOT / ".env.example"))
    env = {k: v for k, v in os.environ.items() if k not in names}
    env["INSTANCE_DIR"] = str(tmp_path / "instance")
    return subprocess.run(
        [sys.executable, "run.py", "--env-file", str(env_file)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def test_run_py_names_every_usual_mistake_without_a_traceback(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "TENANT_SUBDOMAIN=contoso.ciamlogin.com\n"
        "CLIENT_ID=Enter_the_Application_Id_Here\n"
        "CLIENT_SECRET=s3cret\n"
        f"TODOLIST_READ={API}/ToDoList.Read\n"
        "TODOLIST_API_URL=http://todo-api.contoso.com/api/todolist\n"
    )
    result = run_py(tmp_path, env_file)
    assert result.returncode == 2
    assert result.stderr.startswith("the web app cannot start; fix these settings:\n")
    for expected in (
        "  - TENANT_SUBDOMAIN must be the bare tenant name: use `contoso`, "
        "not `contoso.ciamlogin.com`\n",
        "  - CLIENT_ID still holds the placeholder from .env.example\n",
        "  - TODOLIST_READWRITE is missing\n",
        "  - TODOLIST_API_URL must be an https URL (plain http only on localhost)\n",
    ):
        assert expected in result.stderr
    assert result.stderr.count("\n  - ") == 4
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # it never got as far as starting anything


def test_run_py_with_env_example_copied_unchanged_names_the_placeholders(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text((ROOT / ".env.example").read_text())
    result = run_py(tmp_path, env_file)
    assert result.returncode == 2
    for name in ("TENANT_SUBDOMAIN", "CLIENT_ID", "CLIENT_SECRET", "TODOLIST_READ",
                 "TODOLIST_READWRITE"):
        assert f"  - {name} still holds the placeholder from .env.example\n" in result.stderr
    assert "No tenant configured" not in result.stdout  # not silently local mode
    assert "Traceback" not in result.stderr


def test_env_example_documents_every_setting() -> None:
    # config.py's own settings, and those it reads through the shared readers
    source = (ROOT / "config.py").read_text() + (ROOT / "common" / "settings.py").read_text()
    read = set(re.findall(r'\.get\(\s*"([A-Z][A-Z0-9_]+)"', source))
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert {"TENANT_SUBDOMAIN", "CLIENT_ID", "REDIRECT_URI", "SESSION_SECRET"} <= read
    assert read == documented


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    key, _, thumbprint = write_key_and_cert(tmp_path)
    config = load(tmp_path, **MINIMAL, SESSION_SECRET="x" * 40)
    assert "s3cret" not in repr(config)
    assert "x" * 40 not in repr(config)
    with_key = load(tmp_path, **NO_SECRET, CERT_PRIVATE_KEY_FILE=str(key),
                    CERT_THUMBPRINT=thumbprint)
    assert "PRIVATE KEY" not in repr(with_key)
