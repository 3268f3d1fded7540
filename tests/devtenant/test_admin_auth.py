"""The admin endpoints need the data directory's admin token, JSON bodies and no foreign page.

Each refusal is checked on the running tenant, and so is that the refused request changed
nothing: the discovery counter a test has just raised survives a refused `counts/reset`.
"""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from common.process import ServerProcess, http_ready
from devtenant.admin import TenantAdmin
from tests.support.ports import free_port

RESET = "_admin/counts/reset"


def admin_token(tenant: Any) -> str:
    return (Path(tenant.data_dir) / "admin-token").read_text().strip()


def authorized(tenant: Any, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_token(tenant)}", **headers}


@pytest.fixture
def counted(tenant_reset, http):
    """The session tenant with exactly one discovery request counted."""
    doc = http.get(tenant_reset.discovery_url)
    assert doc.status_code == 200
    assert tenant_reset.admin.counts()["discovery"] == 1
    return tenant_reset


def assert_not_reset(tenant: Any) -> None:
    assert tenant.admin.counts()["discovery"] == 1


def refusal(resp: Any, status: int) -> str:
    """The refusal's message, after checking its status and JSON shape."""
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert set(body) == {"error", "error_description"}
    return body["error_description"]


def test_a_request_without_the_admin_token_is_refused(counted, http):
    tenant = counted
    resp = http.post(f"{tenant.https_url}/{RESET}", json={})
    message = refusal(resp, 401)
    assert "Authorization: Bearer" in message
    assert str(Path(tenant.data_dir) / "admin-token") in message
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
    assert_not_reset(tenant)
    # Reading needs the token too: the counters and users are no one else's business.
    refusal(http.get(f"{tenant.https_url}/_admin/counts"), 401)


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-the-token", "Bearer ", "Basic {token}", "{token}"],
    ids=["wrong token", "empty token", "basic scheme", "no scheme"],
)
def test_a_request_with_a_wrong_token_is_refused(counted, http, authorization):
    tenant = counted
    header = authorization.format(token=admin_token(tenant))
    resp = http.post(f"{tenant.https_url}/{RESET}", json={}, headers={"Authorization": header})
    refusal(resp, 401)
    assert_not_reset(tenant)


def test_the_right_token_is_accepted(counted, http):
    tenant = counted
    resp = http.post(f"{tenant.https_url}/{RESET}", json={}, headers=authorized(tenant))
    assert resp.status_code == 200, resp.text
    assert resp.json()["discovery"] == 0
    assert tenant.admin.counts()["discovery"] == 0


@pytest.mark.parametrize(
    ("kwargs", "sent"),
    [
        ({"data": {"token": "id_token"}}, "application/x-www-form-urlencoded"),
        ({"files": {"f": ("f.json", b"{}")}}, "multipart/form-data"),
        (
            {"data": b"{}", "headers": {"Content-Type": "text/plain"}},
            "text/plain",
        ),
        ({}, "no Content-Type"),
    ],
    ids=["form", "multipart", "text-plain", "no body"],
)
def test_a_body_that_is_not_json_is_refused(counted, http, kwargs, sent):
    tenant = counted
    kwargs = dict(kwargs)
    headers = {**authorized(tenant), **kwargs.pop("headers", {})}
    resp = http.post(f"{tenant.https_url}/{RESET}", headers=headers, **kwargs)
    message = refusal(resp, 415)
    assert "only application/json" in message
    assert sent in message
    assert_not_reset(tenant)


def test_a_json_body_must_be_an_object(tenant_reset, http):
    resp = http.post(
        f"{tenant_reset.https_url}/_admin/faults",
        data="not json",
        headers=authorized(tenant_reset, **{"Content-Type": "application/json"}),
    )
    assert refusal(resp, 400) == "the body must be a JSON object"


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000",
        "https://attacker.example",
        "null",
        "pages",  # the tenant's own sign-in pages: another origin all the same
        "https-other-port",
    ],
)
def test_a_browser_page_on_another_origin_cannot_drive_the_tenant(counted, http, origin):
    tenant = counted
    origin = {
        "pages": tenant.pages_url,
        "https-other-port": f"https://localhost:{free_port()}",
    }.get(origin, origin)
    # Even a page that somehow had the token and sent JSON is refused.
    resp = http.post(
        f"{tenant.https_url}/{RESET}", json={}, headers=authorized(tenant, Origin=origin)
    )
    message = refusal(resp, 403)
    assert repr(origin) in message
    assert tenant.https_url in message
    assert "Access-Control-Allow-Origin" not in resp.headers
    assert_not_reset(tenant)


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_request_a_browser_marks_as_from_another_site_is_refused(counted, http, site):
    tenant = counted
    headers = authorized(tenant, **{"Sec-Fetch-Site": site})
    resp = http.post(f"{tenant.https_url}/{RESET}", json={}, headers=headers)
    assert f"Sec-Fetch-Site: {site}" in refusal(resp, 403)
    assert_not_reset(tenant)


@pytest.mark.parametrize(
    ("name", "value"),
    [("Origin", "own"), ("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "none")],
    ids=["own origin", "same-origin", "typed by the user"],
)
def test_the_tenants_own_origin_is_accepted(counted, http, name, value):
    tenant = counted
    headers = authorized(tenant, **{name: tenant.https_url if value == "own" else value})
    resp = http.post(f"{tenant.https_url}/{RESET}", json={}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert tenant.admin.counts()["discovery"] == 0


def test_the_first_start_creates_a_private_random_token_that_works(tmp_path, tenant):
    data_dir = tmp_path / "fresh"
    port = free_port()
    args = [sys.executable, "-m", "devtenant", "--data-dir", str(data_dir), "--port", str(port)]
    args += ["--pages-port", str(free_port())]
    with ServerProcess(args, tmp_path / "tenant.log", _ready_once_created(data_dir, port)):
        token_file = data_dir / "admin-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        assert len(token) >= 43  # 32 random bytes, base64url
        assert token != admin_token(tenant)
        base = f"https://localhost:{port}"
        admin = TenantAdmin(base, data_dir)
        try:
            assert admin.counts()["token"]["client_credentials"] == 0
            # The session tenant's token is just a wrong one here.
            stranger = admin.http.get(
                f"{base}/_admin/counts", headers={"Authorization": f"Bearer {admin_token(tenant)}"}
            )
            assert "not this tenant's admin token" in refusal(stranger, 401)
        finally:
            admin.close()


def _ready_once_created(data_dir: Path, port: int) -> Callable[[], bool]:
    """Readiness of a tenant whose data directory its own first start creates: its discovery
    document answers (probed once the tenant id and the CA to trust exist)."""
    probe: list[Callable[[], bool]] = []

    def ready() -> bool:
        if not probe:
            try:
                tenant_id = json.loads((data_dir / "tenant.json").read_text())["tenant_id"]
            except (OSError, ValueError, KeyError):
                return False
            if not (data_dir / "ca.pem").is_file():
                return False
            url = f"https://localhost:{port}/{tenant_id}/v2.0/.well-known/openid-configuration"
            probe.append(http_ready(url, str(data_dir / "ca.pem")))
        return probe[0]()

    return ready
