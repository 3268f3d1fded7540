"""The signing-key cache: no key-set fetch per request, one re-fetch on an unknown `kid`
(rate-limited), and a rotated key is picked up.

Rotation runs against a tenant of this module's own, so the session's tenant keeps its key
for every other test (other components' caches have their own cool-downs).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest

from common.http import HttpClient
from common.oidc import KeySet, KeySetUnavailable, TokenError
from tests.api.tokens import READ, READ_ALL, READWRITE, Forger, Tokens
from tests.fixtures.api import ApiServer
from tests.fixtures.tenant import RunningTenant, running_tenant


def key_fetches(tenant) -> int:
    return tenant.admin.counts()["keys"]


def test_requests_cause_no_key_set_fetch(api_server: ApiServer, tokens: Tokens, tenant) -> None:
    user = tokens.user("alice", READ, READWRITE)
    app = tokens.app(READ_ALL)
    tenant.admin.reset_counts()
    for _ in range(10):
        assert api_server.request("GET", "/api/todolist", user.token).status_code == 200
        assert api_server.request("GET", "/api/todolist", app.token).status_code == 200
    counts = tenant.admin.counts()
    assert counts["keys"] == 0
    assert counts["discovery"] == 0


def test_an_unknown_kid_causes_exactly_one_re_fetch(
    api_server: ApiServer, tokens: Tokens, forger: Forger, tenant
) -> None:
    claims = forger.claims(tokens.user("alice", READ, READWRITE).token)
    tenant.admin.reset_counts()
    for n in range(1, 4):
        token = forger.sign(claims, key=forger.own_key, kid=f"unknown-{n}")
        assert api_server.request("GET", "/api/todolist", token).status_code == 401
        assert key_fetches(tenant) == n  # this server has no cool-down (the fixture's default)


def test_re_fetches_are_rate_limited(
    api_server_factory, tokens: Tokens, forger: Forger, tenant
) -> None:
    api = api_server_factory(JWKS_MIN_REFRESH_SECONDS="3600")
    claims = forger.claims(tokens.user("alice", READ, READWRITE).token)
    tenant.admin.reset_counts()
    for n in range(20):
        token = forger.sign(claims, key=forger.own_key, kid=f"made-up-{n}")
        resp = api.request("GET", "/api/todolist", token)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert key_fetches(tenant) == 0
    assert api.request("GET", "/api/todolist", forger.sign(claims)).status_code == 200


@pytest.fixture(scope="module")
def own_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTenant]:
    """A second local tenant, only for this module's key rotation."""
    with running_tenant(tmp_path_factory.mktemp("rotation-tenant")) as running:
        yield running


def test_a_rotated_key_is_picked_up(own_tenant: RunningTenant, api_server_factory) -> None:
    api = api_server_factory(of_tenant=own_tenant, JWKS_MIN_REFRESH_SECONDS="0")
    tokens = Tokens(own_tenant)
    before = tokens.fresh_app(READ_ALL)
    assert api.request("GET", "/api/todolist", before.token).status_code == 200
    own_tenant.admin.reset_counts()

    new_kid = own_tenant.admin.rotate_key()
    after = tokens.fresh_app(READ_ALL)
    assert jwt.get_unverified_header(after.token)["kid"] == new_kid
    assert jwt.get_unverified_header(before.token)["kid"] != new_kid
    for _ in range(5):
        assert api.request("GET", "/api/todolist", after.token).status_code == 200
        assert api.request("GET", "/api/todolist", before.token).status_code == 200
    assert key_fetches(own_tenant) == 1
    tokens.http.close()
    api.stop()  # its keep-alive connections would hold up the module tenant's shutdown


def test_a_tenant_that_goes_away_after_start_up(
    tmp_path_factory: pytest.TempPathFactory, api_server_factory
) -> None:
    """Cached keys keep working; a token that needs a key-set fetch gets 503, not 401 or 500."""
    with running_tenant(tmp_path_factory.mktemp("vanishing-tenant")) as gone:
        api = api_server_factory(of_tenant=gone)
        tokens = Tokens(gone)
        token = tokens.fresh_app(READ_ALL).token
        forger = Forger(gone)
        unknown_kid = forger.sign(forger.claims(token), key=forger.own_key, kid="new-key")
        tokens.http.close()
        # The tenant crashes (and a clean stop would wait for the API's connections).
        gone.process.send_signal(signal.SIGKILL)
        assert gone.process.wait(timeout=60) == -signal.SIGKILL
    assert api.request("GET", "/api/todolist", token).status_code == 200
    resp = api.request("GET", "/api/todolist", unknown_kid)
    assert resp.status_code == 503
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.headers["Retry-After"]
    assert "signing keys could not be fetched" in resp.json()["detail"]


@pytest.mark.parametrize("body", [b"[]", b'{"keys": "none"}', b"not json", b'{"keys": [1, "x"]}'])
def test_a_key_set_that_is_not_jwks_is_unavailable_not_a_crash(body: bytes) -> None:
    """What `KeySet` (common.oidc) makes of a key endpoint answering garbage."""

    class Garbage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with HttpClient() as http:
            keys = KeySet(http, f"http://127.0.0.1:{server.server_port}/keys", 0)
            if body == b'{"keys": [1, "x"]}':
                assert keys.load() == 0  # entries that are not keys are skipped
            else:
                with pytest.raises(KeySetUnavailable):
                    keys.load()
            with pytest.raises(TokenError):
                keys.get("any-kid")
    finally:
        server.shutdown()
        server.server_close()
