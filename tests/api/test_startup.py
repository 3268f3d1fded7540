"""`python -m api` refuses to start, with a clear message, when it cannot work."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common.http import HttpClient
from common.oidc import DiscoveryError, fetch_discovery
from common.process import ROOT
from tests.support.ports import free_port

GOOD = {
    "TENANT_ID": str(uuid.uuid4()),
    "CLIENT_ID": str(uuid.uuid4()),
}


def run_api(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "api", "--env-file", str(tmp_path / "absent.env"), *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_settings_are_named_together(tmp_path: Path) -> None:
    done = run_api(tmp_path, {})
    assert done.returncode == 2
    for text in ("TENANT_ID is missing", "CLIENT_ID is missing", "AUTHORITY (or TENANT_SUBDOMAIN)"):
        assert text in done.stderr
    assert "Traceback" not in done.stderr


def test_invalid_settings_are_named(tmp_path: Path) -> None:
    env = {
        "TENANT_ID": "not-a-guid",
        "CLIENT_ID": str(uuid.uuid4()),
        "AUTHORITY": "http://localhost:1/tenant",
        "CA_FILE": str(tmp_path / "missing-ca.pem"),
        "DATABASE_URL": "mysql://x/y",
        "JWKS_MIN_REFRESH_SECONDS": "soon",
        "MAX_ITEMS_PER_OWNER": "0",
        "REQUIRE_MFA_FOR_DELETE": "maybe",
        "MFA_AUTH_CONTEXT": "mfa",
    }
    done = run_api(tmp_path, env)
    assert done.returncode == 2
    for text in (
        "TENANT_ID must be the tenant id (a GUID)",
        "AUTHORITY is not usable: the authority must be an https URL",
        "CA_FILE must be a readable PEM file",
        "DATABASE_URL must be a sqlite:/// or postgresql:// URL",
        "JWKS_MIN_REFRESH_SECONDS must be a number of seconds",
        "MAX_ITEMS_PER_OWNER must be a whole number of items (1 or more)",
        "REQUIRE_MFA_FOR_DELETE must be true or false",
        "MFA_AUTH_CONTEXT must be an authentication context id, c1 to c99",
    ):
        assert text in done.stderr
    assert "Traceback" not in done.stderr


def test_env_example_copied_unchanged_names_each_placeholder(tmp_path: Path) -> None:
    env_file = tmp_path / "api.env"
    env_file.write_text((ROOT / "api" / ".env.example").read_text())
    done = run_api(tmp_path, {}, "--env-file", str(env_file))  # the last --env-file wins
    assert done.returncode == 2
    for name in ("TENANT_ID", "CLIENT_ID", "AUTHORITY"):
        assert f"  - {name} still holds the placeholder from .env.example\n" in done.stderr
    assert done.stderr.count("\n  - ") == 3  # no "missing" besides: they are there, unusable
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("subdomain", ["contoso.ciamlogin.com", "https://contoso.ciamlogin.com/"])
def test_tenant_subdomain_must_be_the_bare_name(tmp_path: Path, subdomain: str) -> None:
    done = run_api(tmp_path, {**GOOD, "TENANT_SUBDOMAIN": subdomain})
    assert done.returncode == 2
    assert (
        f"TENANT_SUBDOMAIN must be the bare tenant name: use `contoso`, not `{subdomain}`"
        in done.stderr
    )
    assert "Traceback" not in done.stderr


def test_the_dotenv_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "api.env"
    env_file.write_text(
        f"TENANT_ID={GOOD['TENANT_ID']}\nCLIENT_ID=from-the-file\n"
        "AUTHORITY=https://contoso.ciamlogin.com/\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "api", "--env-file", str(env_file)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "CLIENT_ID": "from-the-environment"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "CLIENT_ID must be the API's client id" in done.stderr
    assert "TENANT_ID" not in done.stderr
    assert "AUTHORITY" not in done.stderr


def test_https_is_required(tmp_path: Path) -> None:
    env = {**GOOD, "AUTHORITY": "https://localhost:1/tenant"}
    done = run_api(tmp_path, env)
    assert done.returncode == 2
    assert "serves https only" in done.stderr


def test_an_unreachable_tenant_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    port = free_port()
    authority = f"https://localhost:{port}/{GOOD['TENANT_ID']}"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("unused: start-up stops before TLS is set up\n")
    key.write_text("unused\n")
    env = {**GOOD, "AUTHORITY": authority, "TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)}
    done = run_api(tmp_path, env, "--port", str(free_port()))
    assert done.returncode == 3
    assert f"the tenant at {authority}/v2.0/.well-known/openid-configuration" in done.stderr
    assert "could not be reached" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_discovery_document_that_is_not_an_object_is_a_discovery_error(tmp_path: Path) -> None:
    class ListDocument(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"[]")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ListDocument)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with HttpClient() as http, pytest.raises(DiscoveryError, match="not a JSON object"):
            fetch_discovery(http, f"http://127.0.0.1:{server.server_port}/tenant")
    finally:
        server.shutdown()
        server.server_close()
