"""Server-to-server endpoints (https port): discovery, key set, token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, abort, current_app, jsonify, request

from devtenant.errors import CLIENT_REQUEST_ID, client_request_id
from devtenant.urls import discovery_document

if TYPE_CHECKING:
    from devtenant.app import Tenant

bp = Blueprint("endpoints", __name__)


def tenant_or_404(tenant: str) -> Tenant:
    t = current_app.extensions["devtenant"]
    if tenant.lower() not in (t.store.tenant_id, t.store.tenant_name.lower()):
        abort(404)
    if request.scheme != "https":
        abort(404)
    return t


@bp.get("/<tenant>/v2.0/.well-known/openid-configuration")
def discovery(tenant: str) -> Response:
    t = tenant_or_404(tenant)
    t.state.count("discovery")
    return jsonify(discovery_document())


@bp.get("/<tenant>/discovery/v2.0/keys")
def keys(tenant: str) -> Response:
    t = tenant_or_404(tenant)
    t.state.count("keys")
    return jsonify(t.tokens.jwks())


@bp.post("/<tenant>/oauth2/v2.0/token")
def token(tenant: str) -> Response:
    t = tenant_or_404(tenant)
    t.state.count("token", request.form.get("grant_type"))
    response = t.server.create_token_response()
    response.headers["Cache-Control"] = "no-store"
    sent = client_request_id(request.headers.get(CLIENT_REQUEST_ID))
    if sent:  # echoed, as Entra does (errors also name it as their correlation_id)
        response.headers[CLIENT_REQUEST_ID] = sent
    return response
