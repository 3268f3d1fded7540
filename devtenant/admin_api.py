"""Test controls (https port): counters, faults, lifetimes, users, clients, mail, the user flow,
the MFA policy and the step-up settings.

Every request must come from this machine (loopback), carry `Authorization: Bearer <token>`
with the token the data directory holds (`admin-token`, 0600, created at the tenant's first
start), send any body as `application/json`, and not be a browser's cross-origin request (an
`Origin` other than the tenant's own, or `Sec-Fetch-Site: cross-site`/`same-site`). Each
refusal is a JSON error naming what was wrong.

Wrapped for Python callers by `devtenant.admin.TenantAdmin`.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from devtenant.claims import POLICY_SETTING, STEP_UP_SETTING, MfaPolicy, StepUp
from devtenant.otp import expire_codes_for_tests
from devtenant.store import ADMIN_TOKEN_FILE, UserExists

if TYPE_CHECKING:
    from devtenant.app import Tenant

bp = Blueprint("admin", __name__, url_prefix="/_admin")

# Methods without a body; every other one must send application/json.
BODYLESS_METHODS = frozenset({"GET", "HEAD"})
# A browser's own word that the page that sent the request is on another site.
FOREIGN_FETCH_SITES = frozenset({"cross-site", "same-site"})


@bp.before_request
def guard() -> ResponseReturnValue | None:
    """Refuse a request that is not from this machine, from a browser page of another origin,
    without the admin token, or with a body that is not JSON (in that order)."""
    if request.scheme != "https":
        abort(404)
    if not _from_loopback():
        return _refused(
            403, "forbidden", "the admin endpoints answer only requests from this machine"
        )
    foreign = _foreign_browser_request()
    if foreign:
        return _refused(403, "forbidden", foreign)
    token = _bearer_token()
    if token is None:
        return _refused(
            401,
            "unauthorized",
            f"the admin endpoints need 'Authorization: Bearer <token>' with the token in "
            f"{_token_file()}",
            'Bearer realm="devtenant-admin"',
        )
    if not hmac.compare_digest(token.encode(), _tenant().store.admin_token.encode()):
        return _refused(
            401,
            "unauthorized",
            f"the bearer token is not this tenant's admin token (the one in {_token_file()})",
            'Bearer realm="devtenant-admin", error="invalid_token"',
        )
    if request.method not in BODYLESS_METHODS and request.mimetype != "application/json":
        sent = request.mimetype or "no Content-Type"
        return _refused(
            415,
            "unsupported_media_type",
            f"the admin endpoints accept only application/json bodies, not {sent}",
        )
    return None


def _refused(status: int, error: str, message: str, challenge: str | None = None) -> Response:
    response = jsonify({"error": error, "error_description": message})
    response.status_code = status
    if challenge is not None:
        response.headers["WWW-Authenticate"] = challenge
    return response


def _from_loopback() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of an origin, with the scheme's default port made explicit."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:  # not a number
        port = None
    return parts.scheme, (parts.hostname or ""), port


def _foreign_browser_request() -> str | None:
    """Why the request comes from a browser page on another origin, or None when it does not.

    Clients that are not browsers send neither header. A page on any other origin (another
    port of localhost included, the tenant's own sign-in pages too) is refused even with the
    token: such a page must never drive the tenant.
    """
    own = _tenant().store.https_url
    origin = request.headers.get("Origin")
    if origin is not None and _origin(origin) != _origin(own):
        return f"a browser request from the origin {origin!r} is refused (only {own} may call)"
    site = request.headers.get("Sec-Fetch-Site", "").strip().lower()
    if site in FOREIGN_FETCH_SITES:
        return f"a browser request from another site (Sec-Fetch-Site: {site}) is refused"
    return None


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _token_file() -> str:
    return str(_tenant().store.dir / ADMIN_TOKEN_FILE)


def _tenant() -> Tenant:
    return current_app.extensions["devtenant"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
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


@bp.post("/users/<oid>/revoke-sessions")
def revoke_sessions(oid: str) -> ResponseReturnValue:
    if _tenant().store.user(oid) is None:
        return jsonify({"error": f"no user {oid}"}), 404
    _tenant().state.revoke_user_sessions(oid)
    return jsonify({"oid": oid, "revoked": True})


@bp.get("/mail")
def mail() -> ResponseReturnValue:
    """The mail sent to `?to=<address>`, newest first."""
    to = request.args.get("to", "")
    if not to:
        return _bad("name the address: ?to=<address>")
    return jsonify([m.as_json() for m in _tenant().mailer.mail_to(to)])


@bp.post("/mail/expire-codes")
def expire_codes() -> ResponseReturnValue:
    """Every pending one-time code of an address expires now (to test the expired path)."""
    to = str(_body().get("to", ""))
    if not to:
        return _bad("to (an address) is needed")
    return jsonify({"to": to, "expired": expire_codes_for_tests(_tenant().store.engine, to)})


@bp.route("/user-flow", methods=["GET", "POST"])
def user_flow() -> ResponseReturnValue:
    """`sign_in_method` ("password" or "email_otp") and `custom_attributes` (names)."""
    if request.method == "GET":
        return jsonify(_tenant().user_flow())
    try:
        return jsonify(_tenant().set_user_flow(_body()))
    except ValueError as exc:
        return _bad(str(exc))


@bp.route("/mfa-policy", methods=["GET", "POST"])
def mfa_policy() -> ResponseReturnValue:
    """MFA required for `users` (oids or emails), `apps` (client ids), `scopes` (full names)."""
    if request.method == "POST":
        try:
            policy = MfaPolicy.from_json(_body())
        except ValueError as exc:
            return _bad(str(exc))
        _tenant().state.set_setting(POLICY_SETTING, policy.as_json())
    return jsonify(_tenant().mfa_policy().as_json())


@bp.route("/step-up", methods=["GET", "POST"])
def step_up() -> ResponseReturnValue:
    """`graph_acrs` (Graph's PATCH /me asks for it) and `withheld_acrs` (never satisfied);
    a POST changes the keys it names."""
    if request.method == "POST":
        try:
            settings = StepUp.from_json({**_tenant().step_up().as_json(), **_body()})
        except ValueError as exc:
            return _bad(str(exc))
        _tenant().state.set_setting(STEP_UP_SETTING, settings.as_json())
    return jsonify(_tenant().step_up().as_json())


@bp.post("/reset")
def reset() -> ResponseReturnValue:
    _tenant().state.reset()
    _tenant().reset_settings()
    return jsonify({"reset": True})
