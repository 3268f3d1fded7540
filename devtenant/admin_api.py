"""Test controls (https port, loopback only): counters, faults, lifetimes, users, clients.

Wrapped for Python callers by `devtenant.admin.TenantAdmin`.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from devtenant.store import UserExists

if TYPE_CHECKING:
    from devtenant.app import Tenant

bp = Blueprint("admin", __name__, url_prefix="/_admin")


@bp.before_request
def loopback_only() -> None:
    if request.scheme != "https":
        abort(404)
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        abort(403)


def _tenant() -> Tenant:
    return current_app.extensions["devtenant"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        abort(400, "the body must be a JSON object")
    return body


def _bad(message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), 400


@bp.get("/counts")
def counts() -> ResponseReturnValue:
    return jsonify(_tenant().state.snapshot_counts())


@bp.post("/counts/reset")
def reset_counts() -> ResponseReturnValue:
    _tenant().state.reset_counts()
    return jsonify(_tenant().state.snapshot_counts())


@bp.post("/faults")
def faults() -> ResponseReturnValue:
    body = _body()
    try:
        _tenant().state.set_fault(str(body.get("token")), str(body.get("fault")))
    except ValueError as exc:
        return _bad(str(exc))
    return jsonify({"token": body["token"], "fault": body["fault"]})


@bp.post("/refresh-fault")
def refresh_fault() -> ResponseReturnValue:
    body = _body()
    try:
        _tenant().state.set_refresh_fault(str(body.get("error")))
    except ValueError as exc:
        return _bad(str(exc))
    return jsonify({"error": body["error"]})


@bp.post("/lifetimes")
def lifetimes() -> ResponseReturnValue:
    try:
        _tenant().state.set_lifetimes(_body())
    except ValueError as exc:
        return _bad(str(exc))
    return jsonify(_tenant().state.lifetimes)


@bp.post("/rotate-key")
def rotate_key() -> ResponseReturnValue:
    return jsonify({"kid": _tenant().store.rotate_signing_key()})


@bp.post("/users")
def users() -> ResponseReturnValue:
    body = _body()
    try:
        user = _tenant().store.add_user(
            str(body.get("email", "")), str(body.get("password", "")), str(body.get("name", ""))
        )
    except UserExists:
        return jsonify({"error": "a user with that email exists"}), 409
    except ValueError as exc:
        return _bad(str(exc))
    return jsonify({"oid": user.oid, "email": user.email, "name": user.name}), 201


@bp.post("/clients")
def clients() -> ResponseReturnValue:
    body = _body()
    store = _tenant().store
    kind = body.get("kind")
    try:
        reg = store.new_client_registration(
            str(kind),
            consented_scopes=body.get("consented_scopes"),
            roles=body.get("roles"),
            redirect_uris=body.get("redirect_uris"),
            post_logout_redirect_uris=body.get("post_logout_redirect_uris"),
        )
    except ValueError as exc:
        return _bad(str(exc))
    store.add_client(reg)
    files = {
        "certificate_file": str(store.dir / reg["certificate_file"]),
        "private_key_file": str(store.dir / reg["private_key_file"]),
    }
    return jsonify({**reg, **files}), 201


@bp.delete("/clients/<client_id>")
def delete_client(client_id: str) -> ResponseReturnValue:
    try:
        deleted_at = _tenant().store.delete_client(client_id)
    except KeyError:
        return jsonify({"error": f"no client {client_id}"}), 404
    return jsonify({"client_id": client_id, "deleted_at": deleted_at})


@bp.post("/clients/<client_id>/expire-secret")
def expire_secret(client_id: str) -> ResponseReturnValue:
    try:
        expires_at = _tenant().store.expire_client_secret(client_id)
    except KeyError:
        return jsonify({"error": f"no client {client_id}"}), 404
    return jsonify({"client_id": client_id, "client_secret_expires_at": expires_at})


@bp.post("/api")
def api_settings() -> ResponseReturnValue:
    body = _body()
    if not isinstance(body.get("idtyp_claim"), bool):
        return _bad("idtyp_claim must be true or false")
    _tenant().state.idtyp_override = body["idtyp_claim"]
    return jsonify({"idtyp_claim": body["idtyp_claim"]})


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    _tenant().state.reset()
    return jsonify({"reset": True})
