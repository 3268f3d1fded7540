"""The command line, the data directory and what survives a restart."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest

from common.http import HttpClient
from common.process import ROOT, ServerProcess, http_ready
from devtenant.app import Config, create_app
from tests.devtenant.helpers import REDIRECT_URI, sign_in, validate
from tests.support.ports import free_port

PRIVATE_FILES = (
    "ca-key.pem",
    "server-key.pem",
    "signing-keys.json",
    "registrations.json",
    "admin-token",
)


def devtenant(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtenant", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def parse_env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_help_documents_every_option():
    out = devtenant("--help")
    assert out.returncode == 0
    for option in ("--data-dir", "--host", "--port", "--pages-port", "env", "add-user"):
        assert option in out.stdout
    env_help = devtenant("env", "--help").stdout
    assert "--credential" in env_help
    assert "--data-dir" in env_help


def test_env_command_prints_what_the_fixture_uses(tenant):
    for component in ("web", "api", "daemon"):
        out = devtenant("env", component, "--data-dir", str(tenant.data_dir))
        assert out.returncode == 0, out.stderr
        # The fixture adds a sign-in rate limit of its own to the web app's settings.
        fixture = {k: v for k, v in tenant.env(component).items() if k != "SIGNIN_RATE_LIMIT"}
        assert parse_env(out.stdout) == fixture
    web = tenant.env("web")
    assert web["AUTHORITY"] == tenant.authority
    assert web["REDIRECT_URI"] == "http://localhost:3000/auth/redirect"
    assert web["TODOLIST_READ"] == f"api://{tenant.env('api')['CLIENT_ID']}/ToDoList.Read"
    thumb = parse_env(
        devtenant(
            "env", "web", "--credential", "thumbprint", "--data-dir", str(tenant.data_dir)
        ).stdout
    )
    assert "CLIENT_SECRET" not in thumb
    assert len(thumb["CERT_THUMBPRINT"]) == 40


def test_env_for_an_unknown_component_fails_clearly(tenant):
    out = devtenant("env", "mobile", "--data-dir", str(tenant.data_dir))
    assert out.returncode == 2
    assert "invalid choice" in out.stderr


def test_add_user_command_creates_a_user_who_can_sign_in(tenant, tenant_reset, http):
    out = devtenant(
        "add-user",
        "--data-dir",
        str(tenant.data_dir),
        "--email",
        "cli@example.com",
        "--password",
        "cli-pass-1",
        "--name",
        "Cli User",
    )
    assert out.returncode == 0, out.stderr
    oid = parse_env(out.stdout)["OID"]
    again = devtenant(
        "add-user",
        "--data-dir",
        str(tenant.data_dir),
        "--email",
        "cli@example.com",
        "--password",
        "x",
        "--name",
        "x",
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr
    user = type("U", (), {"email": "cli@example.com", "password": "cli-pass-1"})()
    _app, _user, result, _browser = sign_in(tenant, http, [], user=user)
    assert result["id_token_claims"]["oid"] == oid


def test_private_files_are_owner_only(tenant):
    for name in PRIVATE_FILES:
        mode = stat.S_IMODE((tenant.data_dir / name).stat().st_mode)
        assert mode == 0o600, name
    regs = json.loads((tenant.data_dir / "registrations.json").read_text())
    for kind in ("web", "daemon"):
        key_file = tenant.data_dir / regs[kind]["private_key_file"]
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_restart_reuses_identity_keys_users_and_stored_ports(tmp_path):
    data_dir = tmp_path / "data"
    port, pages_port = free_port(), free_port()
    out = devtenant(
        "add-user",
        "--data-dir",
        str(data_dir),
        "--email",
        "keep@example.com",
        "--password",
        "keep-pass-1",
        "--name",
        "Kept",
    )
    assert out.returncode == 0, out.stderr
    before = parse_env(devtenant("env", "api", "--data-dir", str(data_dir)).stdout)

    def start(*extra: str) -> ServerProcess:
        ready = http_ready(
            f"https://localhost:{port}/{before['TENANT_ID']}/v2.0/.well-known/openid-configuration",
            before["CA_FILE"],
        )
        args = [sys.executable, "-m", "devtenant", "--data-dir", str(data_dir), *extra]
        return ServerProcess(args, tmp_path / "tenant.log", ready)

    class Running:  # what helpers.sign_in needs
        def __init__(self) -> None:
            self.env_web = parse_env(devtenant("env", "web", "--data-dir", str(data_dir)).stdout)
            self.authority = self.env_web["AUTHORITY"]
            self.issuer = f"{self.authority}/v2.0"
            self.jwks_uri = f"{self.authority}/discovery/v2.0/keys"
            self.ca_file = self.env_web["CA_FILE"]

        def env(self, component: str) -> dict[str, str]:
            return self.env_web

    user = type("U", (), {"email": "keep@example.com", "password": "keep-pass-1"})()
    http = HttpClient(ca_file=before["CA_FILE"])
    with start("--port", str(port), "--pages-port", str(pages_port)):
        first = Running()
        assert first.authority == f"https://localhost:{port}/{before['TENANT_ID']}"
        _app, _u, result, _b = sign_in(first, http, [], user=user)
    with start():  # no ports given: the stored ones are used
        second = Running()
        assert second.env_web == first.env_web
        _app, _u, again, _b = sign_in(second, http, [], user=user)
        assert again["id_token_claims"]["oid"] == result["id_token_claims"]["oid"]
        # The signing keys survived: a token from before the restart still validates.
        validate(result["id_token"], second, http, first.env_web["CLIENT_ID"])
    http.close()
    after = parse_env(devtenant("env", "api", "--data-dir", str(data_dir)).stdout)
    assert after == {**before, "AUTHORITY": f"https://localhost:{port}/{before['TENANT_ID']}"}


def test_admin_endpoints_answer_loopback_only(tmp_path):
    app = create_app(Config(data_dir=tmp_path / "data"))
    client = app.test_client()
    base = "https://localhost:44360"
    token = app.extensions["devtenant"].store.admin_token
    headers = {"Authorization": f"Bearer {token}"}
    remote = client.get(
        "/_admin/counts",
        base_url=base,
        headers=headers,
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert remote.status_code == 403
    assert "only requests from this machine" in remote.get_json()["error_description"]
    local = client.get(
        "/_admin/counts", base_url=base, headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    )
    assert local.status_code == 200
    assert local.get_json()["token"]["client_credentials"] == 0


@pytest.mark.parametrize(
    "path", ["oauth2/v2.0/token", "discovery/v2.0/keys", "v2.0/.well-known/openid-configuration"]
)
def test_server_to_server_endpoints_are_not_served_over_plain_http(tenant, http, path):
    resp = http.request(
        "POST" if "token" in path else "GET", f"{tenant.pages_url}/{tenant.tenant_id}/{path}"
    )
    assert resp.status_code == 404
    assert http.get(f"{tenant.pages_url}/_admin/counts").status_code == 404


def test_endpoints_answer_under_the_tenant_name_too(tenant, http):
    doc = http.get(f"{tenant.https_url}/{tenant.tenant_name}/v2.0/.well-known/openid-configuration")
    assert doc.status_code == 200
    assert doc.json()["issuer"] == tenant.issuer
    assert http.get(f"{tenant.https_url}/{tenant.tenant_name}/discovery/v2.0/keys").json()["keys"]
    assert http.get(f"{tenant.https_url}/not-a-tenant/discovery/v2.0/keys").status_code == 404


def test_redirect_uri_for_the_web_app_is_the_registered_one(tenant):
    assert REDIRECT_URI in tenant.registrations["web"]["redirect_uris"]


def test_concurrent_first_starts_create_one_tenant(tmp_path):
    """`env` run while the server creates a new data directory must not create a second tenant."""
    data_dir = tmp_path / "fresh"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "devtenant", "--data-dir", str(data_dir), "env", "web"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert len(set(outputs)) == 1, "every process must see the same registrations"
    assert len(list(data_dir.glob("web-*"))) <= 2  # one certificate and its key
