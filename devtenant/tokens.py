"""Signed JWTs shaped like External ID's v2.0 tokens, and the tenant's key set.

The fault switches (see TenantState) are applied here: a one-shot fault turns the next ID or
access token into a deliberately broken one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import RSAAlgorithm

from devtenant.claims import SignIn
from devtenant.state import TenantState
from devtenant.store import TenantStore, UserInfo

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_SCOPES = "openid profile email User.Read"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_info(oid: str, tid: str) -> str:
    """MSAL's `client_info`: base64url JSON with the user's object id and tenant id."""
    return b64url(json.dumps({"uid": oid, "utid": tid}, separators=(",", ":")).encode())


class TokenFactory:
    """Builds and signs tokens with the newest signing key; serves every key in the key set."""

    def __init__(self, store: TenantStore, state: TenantState) -> None:
        self.store = store
        self.state = state
        self._keys: dict[str, Any] = {}

    # -- keys -----------------------------------------------------------------------------
    def _private_key(self, entry: dict[str, str]) -> Any:
        key = self._keys.get(entry["kid"])
        if key is None:
            key = load_pem_private_key(entry["pem"].encode(), password=None)
            self._keys[entry["kid"]] = key
        return key

    def jwks(self) -> dict[str, Any]:
        keys = []
        for entry in self.store.signing_keys():
            jwk = RSAAlgorithm.to_jwk(self._private_key(entry).public_key(), as_dict=True)
            keys.append({**jwk, "kid": entry["kid"], "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def sign(self, claims: dict[str, Any], fault: str | None = None) -> str:
        entry = self.store.signing_keys()[-1]
        headers: dict[str, Any] = {"typ": "JWT", "kid": entry["kid"]}
        if fault == "alg_none":
            header = b64url(json.dumps({"typ": "JWT", "alg": "none", "kid": entry["kid"]}).encode())
            return f"{header}.{b64url(json.dumps(claims).encode())}."
        if fault == "no_kid":
            headers.pop("kid")
        token = jwt.encode(claims, self._private_key(entry), algorithm="RS256", headers=headers)
        if fault == "bad_signature":
            head, payload, signature = token.split(".")
            raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
            raw[len(raw) // 2] ^= 0xFF
            token = f"{head}.{payload}.{b64url(bytes(raw))}"
        return token

    # -- claims ---------------------------------------------------------------------------
    def pairwise_sub(self, oid: str, app_id: str) -> str:
        """`sub`: stable for one user and one application, different across applications."""
        mac = hmac.new(self.store.secret_key.encode(), f"{oid}:{app_id}".encode(), hashlib.sha256)
        return b64url(mac.digest())

    def _envelope(self, issuer: str, aud: str, lifetime: int) -> dict[str, Any]:
        now = int(time.time())
        return {
            "aud": aud,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }

    def _apply(self, kind: str, claims: dict[str, Any]) -> str:
        fault = self.state.take_fault(kind)
        if fault == "wrong_iss":
            claims["iss"] = f"https://login.example.invalid/{uuid.uuid4()}/v2.0"
        elif fault == "wrong_aud":
            claims["aud"] = str(uuid.uuid4())
        elif fault == "wrong_nonce":
            claims["nonce"] = secrets.token_hex(32)
        elif fault == "expired":
            now = int(time.time())
            claims.update(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
        elif fault == "missing_iat":
            claims.pop("iat", None)
        elif fault == "missing_sub":
            claims.pop("sub", None)
        return self.sign(claims, fault)

    def _opaque(self) -> dict[str, str]:
        return {
            "aio": b64url(secrets.token_bytes(48)),
            "rh": "0.A" + b64url(secrets.token_bytes(40)) + ".",
            "uti": b64url(secrets.token_bytes(16)),
        }

    def delegated_access_token(
        self,
        issuer: str,
        client: dict[str, Any],
        user: UserInfo,
        audience: str,
        scp: str,
        sid: str,
        azpacr: str,
        sign_in: SignIn,
    ) -> tuple[str, int]:
        lifetime = self.state.lifetimes["access_token"]
        claims: dict[str, Any] = {
            **self._envelope(issuer, audience, lifetime),
            **self._opaque(),
            "azp": client["client_id"],
            "azpacr": azpacr,
            "name": user.name,
            "oid": user.oid,
            "preferred_username": user.email,
            "scp": scp,
            "sid": sid,
            "sub": self.pairwise_sub(user.oid, audience),
            "tid": self.store.tenant_id,
            "ver": "2.0",
            "amr": list(sign_in.amr),
        }
        if sign_in.acrs:
            claims["acrs"] = list(sign_in.acrs)
        if sign_in.xms_cc:
            claims["xms_cc"] = ["cp1"]
        return self._apply("access_token", claims), lifetime

    def app_access_token(
        self, issuer: str, client: dict[str, Any], audience: str, roles: list[str], azpacr: str
    ) -> tuple[str, int]:
        lifetime = self.state.lifetimes["access_token"]
        claims: dict[str, Any] = {
            **self._envelope(issuer, audience, lifetime),
            **self._opaque(),
            "azp": client["client_id"],
            "azpacr": azpacr,
            "oid": client["service_principal_id"],
            "sub": client["service_principal_id"],
            "tid": self.store.tenant_id,
            "ver": "2.0",
        }
        if roles:
            claims["roles"] = list(roles)
        if self.idtyp_enabled():
            claims["idtyp"] = "app"
        return self._apply("access_token", claims), lifetime

    def idtyp_enabled(self) -> bool:
        override = self.state.idtyp_override
        if override is not None:
            return override
        return bool(self.store.registrations["api"].get("idtyp_claim"))

    def id_token(
        self,
        issuer: str,
        client: dict[str, Any],
        user: UserInfo,
        nonce: str | None,
        sid: str,
        reserved: set[str],
        sign_in: SignIn,
        auth_time: int | None = None,
    ) -> str:
        claims: dict[str, Any] = {
            **self._envelope(issuer, client["client_id"], self.state.lifetimes["id_token"]),
            "oid": user.oid,
            "sid": sid,
            "sub": self.pairwise_sub(user.oid, client["client_id"]),
            "tid": self.store.tenant_id,
            "ver": "2.0",
            "aio": b64url(secrets.token_bytes(48)),
            "rh": "0.A" + b64url(secrets.token_bytes(40)) + ".",
            "uti": b64url(secrets.token_bytes(16)),
            "amr": list(sign_in.amr),
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if auth_time is not None:
            claims["auth_time"] = auth_time
        if "profile" in reserved:
            claims["name"] = user.name
            claims["preferred_username"] = user.email
            claims.update(self.attribute_claims(user))
        if "email" in reserved:
            claims["email"] = user.email
        return self._apply("id_token", claims)

    def attribute_claims(self, user: UserInfo) -> dict[str, str]:
        """The attributes the user flow collected, as External ID names them in the ID token:
        `given_name`, `family_name`, `city`, and `extension_<extensions app id>_<Name>` for
        custom ones (only those that have a value)."""
        claims = {
            "given_name": user.given_name,
            "family_name": user.surname,
            "city": user.city,
            **{self.store.extension_claim(k): v for k, v in user.extensions.items()},
        }
        return {k: v for k, v in claims.items() if v}
