"""`flask --app app doctor` against the local tenant: a pass, and each misconfiguration named.

The command runs as a person runs it (a subprocess in the project directory, settings from the
environment); every failing check must name the provider's code and the fix, and the command
exits 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.keys import write_key_and_cert
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def doctor(settings: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "FLASK_SKIP_DOTENV": "1",
           "INSTANCE_DIR": str(tmp_path / "instance"), **settings}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "doctor"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """`{check name: its line}` of the output."""
    found = {}
    for line in result.stdout.splitlines():
        status, _, rest = line.partition("  ")
        if status.strip() in ("ok", "FAIL"):
            found[rest.strip().split(":")[0]] = line
    return found


@pytest.fixture
def settings(web_settings: dict[str, str], api_server: Any) -> dict[str, str]:
    return {**web_settings, "TODOLIST_API_URL": api_server.todolist_url}


def test_a_correct_configuration_passes_every_check(
    settings: dict[str, str], tmp_path: Path
) -> None:
    result = doctor(settings, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = lines(result)
    assert set(checks) == {"settings", "discovery", "signing keys", "sign-in page",
                           "client credential", "API scopes", "Graph permission", "Graph", "API"}
    assert all(line.startswith("ok") for line in checks.values()), result.stdout
    assert "every check passed" in result.stdout


def failing(result: subprocess.CompletedProcess[str], check: str, *parts: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    line = lines(result)[check]
    assert line.startswith("FAIL"), result.stdout
    for part in parts:
        assert part in line, line
    return line


def test_a_wrong_secret_is_named_with_its_code_and_fix(
    settings: dict[str, str], tmp_path: Path
) -> None:
    result = doctor({**settings, "CLIENT_SECRET": "wrong-" + uuid.uuid4().hex}, tmp_path)
    failing(result, "client credential", "AADSTS7000215", "fix: set CLIENT_SECRET")
    assert "wrong-" not in result.stdout


def test_an_expired_secret_is_named_with_its_code_and_fix(
    settings: dict[str, str], tenant_reset: Any, tmp_path: Path
) -> None:
    reg = tenant_reset.admin.add_client("web", consented_scopes=[])
    tenant_reset.admin.expire_secret(reg["client_id"])
    result = doctor({**settings, "CLIENT_ID": reg["client_id"],
                     "CLIENT_SECRET": reg["client_secret"]}, tmp_path)
    failing(result, "client credential", "AADSTS7000222", "create a new one")


def test_an_unknown_client_id_fails_the_sign_in_page_and_the_credential(
    settings: dict[str, str], tmp_path: Path
) -> None:
    result = doctor({**settings, "CLIENT_ID": str(uuid.uuid4())}, tmp_path)
    failing(result, "sign-in page", "AADSTS700016", "fix: set CLIENT_ID")
    failing(result, "client credential", "AADSTS700016")


def test_a_certificate_the_tenant_does_not_know_is_named(
    settings: dict[str, str], tmp_path: Path
) -> None:
    key_file, _, thumbprint = write_key_and_cert(tmp_path, "unknown")
    result = doctor({**settings, "CLIENT_SECRET": "", "CERT_PRIVATE_KEY_FILE": str(key_file),
                     "CERT_THUMBPRINT": thumbprint}, tmp_path)
    failing(result, "client credential", "AADSTS700027", "upload the certificate")


def test_an_api_resource_the_tenant_does_not_know_is_named(
    settings: dict[str, str], tmp_path: Path
) -> None:
    resource = f"api://{uuid.uuid4()}"
    result = doctor({**settings, "TODOLIST_READ": f"{resource}/ToDoList.Read"}, tmp_path)
    failing(result, "API scopes", resource, "AADSTS500011", "TODOLIST_READ")


def test_a_redirect_uri_not_registered_is_named(
    settings: dict[str, str], tmp_path: Path
) -> None:
    uri = "http://localhost:3000/not/registered"
    result = doctor({**settings, "REDIRECT_URI": uri}, tmp_path)
    failing(result, "sign-in page", uri, "AADSTS50011", "redirect URI")


def test_an_unreachable_tenant_fails_discovery_and_skips_what_needs_it(
    settings: dict[str, str], tenant: Any, tmp_path: Path
) -> None:
    authority = f"https://localhost:{free_port()}/{tenant.tenant_id}"
    result = doctor({**settings, "AUTHORITY": authority}, tmp_path)
    failing(result, "discovery", authority, "connection refused")
    failing(result, "signing keys", "skipped")


def test_an_unreachable_api_is_named(settings: dict[str, str], tmp_path: Path) -> None:
    url = f"https://localhost:{free_port()}/api/todolist"
    result = doctor({**settings, "TODOLIST_API_URL": url}, tmp_path)
    failing(result, "API", f"https://localhost:{url.split(':')[2].split('/')[0]}/healthz",
            "connection refused")


def test_invalid_settings_are_one_message_without_a_traceback(
    settings: dict[str, str], tmp_path: Path
) -> None:
    result = doctor({**settings, "CLIENT_ID": "not-a-guid"}, tmp_path)
    assert result.returncode == 1
    assert "FAIL  settings" in result.stderr
    assert "CLIENT_ID must be the application (client) ID" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_web_app_without_graph_consent_is_named_with_the_fix(
    settings: dict[str, str], tenant: Any, tmp_path: Path
) -> None:
    reg = tenant.admin.add_client(
        "web", consented_scopes=[settings["TODOLIST_READ"], settings["TODOLIST_READWRITE"]]
    )
    result = doctor({**settings, "CLIENT_ID": reg["client_id"],
                     "CLIENT_SECRET": reg["client_secret"]}, tmp_path)
    failing(result, "Graph permission", "AADSTS65001", "User.ReadWrite", "Grant admin consent")


def test_a_graph_base_url_that_is_not_graph_is_named(
    settings: dict[str, str], tenant: Any, tmp_path: Path
) -> None:
    url = f"{tenant.https_url}/{tenant.tenant_id}/v1.0"
    result = doctor({**settings, "GRAPH_BASE_URL": url}, tmp_path)
    failing(result, "Graph", f"{url}/me answered 404", "fix: check GRAPH_BASE_URL")
