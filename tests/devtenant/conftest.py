"""Fixtures shared by the local tenant's tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import jwt
import pytest
from flask import Flask, redirect, request, session
from werkzeug.serving import make_server

from common.http import HttpClient
from tests.devtenant.helpers import web_app
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def http(tenant):
    """One pooled client trusting the tenant's CA (given to MSAL as `http_client`)."""
    client = HttpClient(ca_file=tenant.ca_file)
    yield client
    client.close()


@pytest.fixture
def client_site(tenant, http) -> Iterator[str]:
    """A minimal relying party on loopback: /signin starts MSAL's flow (`?mode=` response mode,
    `?claims=` a claims challenge, `?scope=` one API scope), /auth/redirect ends it and answers
    the user's oid, the error, and the tokens' `amr` and `acrs`."""
    port = free_port()
    base = f"http://localhost:{port}"
    app = web_app(tenant, http)
    flows: dict[str, dict] = {}
    site = Flask(__name__)
    site.config.update(SECRET_KEY="test-only", SESSION_COOKIE_NAME="rp_session")

    @site.get("/signin")
    def signin():
        scope = request.args.get("scope")
        flow = app.initiate_auth_code_flow(
            [scope] if scope else [],
            redirect_uri=f"{base}/auth/redirect",
            response_mode=request.args.get("mode"),
            claims_challenge=request.args.get("claims"),
        )
        flows[flow["state"]] = flow
        session["state"] = flow["state"]
        return redirect(flow["auth_uri"])

    @site.route("/auth/redirect", methods=["GET", "POST"])
    def done():
        flow = flows.pop(session.get("state", ""), None)
        if flow is None:
            return "no flow for this browser", 400
        params = request.form if request.method == "POST" else request.args
        result = app.acquire_token_by_auth_code_flow(flow, dict(params.items()))
        claims = result.get("id_token_claims", {})
        access = result.get("access_token")
        access_claims = jwt.decode(access, options={"verify_signature": False}) if access else {}
        return {
            "oid": claims.get("oid"),
            "error": result.get("error"),
            "amr": claims.get("amr"),
            "acrs": access_claims.get("acrs"),
        }

    server = make_server("127.0.0.1", port, site, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base
    server.shutdown()
    thread.join()
