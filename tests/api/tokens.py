"""Tokens for the API's tests: real ones from the local tenant, and forged ones.

Real tokens come the way the product's clients get them: users through MSAL's auth-code flow
and the tenant's sign-in form (`FormBrowser`), apps through MSAL's client-credentials grant
with registrations created for the roles a test needs.

Forged tokens start from a real token's claims. `Forger.sign` signs them with the tenant's own
current signing key (read from its data directory), so a claim or header the API must refuse is
the only thing wrong with them; `own_key` signs with a key the tenant never published.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import msal
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from common.http import HttpClient
from tests.support.browser import FormBrowser

REDIRECT_URI = "http://localhost:3000/auth/redirect"
READ, READWRITE = "ToDoList.Read", "ToDoList.ReadWrite"
READ_ALL, READWRITE_ALL = "ToDoList.Read.All", "ToDoList.ReadWrite.All"
REMOVE = object()


@dataclass(frozen=True)
class Caller:
    """Whose token it is: `oid` (what the API stores as owner) and the access token."""

    oid: str
    token: str
    id_token: str | None = None


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


class Tokens:
    """Valid tokens from the tenant, cached per (user label, scopes) and per roles."""

    def __init__(self, tenant: Any) -> None:
        self.tenant = tenant
        self.http = HttpClient(ca_file=tenant.ca_file)
        self._users: dict[str, Any] = {}
        self._user_tokens: dict[tuple[str, tuple[str, ...]], Caller] = {}
        self._apps: dict[tuple[str, ...], msal.ConfidentialClientApplication] = {}
        self.api_id = tenant.env("api")["CLIENT_ID"]

    def _scope(self, name: str) -> str:
        web = self.tenant.env("web")
        return {READ: web["TODOLIST_READ"], READWRITE: web["TODOLIST_READWRITE"]}[name]

    def user(self, label: str, *scopes: str) -> Caller:
        """A token for the user called `label` (created on first use) with `scopes`."""
        key = (label, tuple(sorted(scopes)))
        if key not in self._user_tokens:
            if label not in self._users:
                self._users[label] = self.tenant.add_user()
            person = self._users[label]
            self.tenant.admin.reset()  # default lifetimes, no pending faults
            web = self.tenant.env("web")
            app = msal.ConfidentialClientApplication(
                web["CLIENT_ID"],
                client_credential=web["CLIENT_SECRET"],
                authority=self.tenant.authority,
                instance_discovery=False,
                http_client=self.http,
            )
            flow = app.initiate_auth_code_flow(
                [self._scope(s) for s in scopes],
                redirect_uri=REDIRECT_URI,
                response_mode="form_post",
            )
            browser = FormBrowser(self.tenant.ca_file)
            back = browser.sign_in(flow["auth_uri"], person.email, person.password)
            result = app.acquire_token_by_auth_code_flow(flow, back.params)
            assert "access_token" in result, result
            self._user_tokens[key] = Caller(person.oid, result["access_token"], result["id_token"])
        return self._user_tokens[key]

    def app(self, *roles: str) -> Caller:
        """A token for an app registration granted exactly `roles` (cached by MSAL)."""
        key = tuple(sorted(roles))
        if key not in self._apps:
            reg = self.tenant.admin.add_client("daemon", roles=list(key))
            self._apps[key] = msal.ConfidentialClientApplication(
                reg["client_id"],
                client_credential=reg["client_secret"],
                authority=self.tenant.authority,
                instance_discovery=False,
                http_client=self.http,
            )
        result = self._apps[key].acquire_token_for_client([f"api://{self.api_id}/.default"])
        assert "access_token" in result, result
        return Caller(claims_of(result["access_token"])["oid"], result["access_token"])

    def fresh_app(self, *roles: str) -> Caller:
        """A newly issued app token (a new registration, so MSAL's cache cannot answer)."""
        reg = self.tenant.admin.add_client("daemon", roles=list(roles))
        app = msal.ConfidentialClientApplication(
            reg["client_id"],
            client_credential=reg["client_secret"],
            authority=self.tenant.authority,
            instance_discovery=False,
            http_client=self.http,
        )
        result = app.acquire_token_for_client([f"api://{self.api_id}/.default"])
        assert "access_token" in result, result
        return Caller(claims_of(result["access_token"])["oid"], result["access_token"])


class Forger:
    """Builds tokens the API must judge: the tenant's key with bad claims, or other keys."""

    def __init__(self, tenant: Any) -> None:
        self.tenant = tenant
        self.own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def tenant_key(self) -> tuple[str, Any]:
        """(kid, private key) of the key the tenant signs new tokens with."""
        entries = json.loads((self.tenant.data_dir / "signing-keys.json").read_text())["keys"]
        newest = entries[-1]
        return newest["kid"], load_pem_private_key(newest["pem"].encode(), password=None)

    def tenant_public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        _, key = self.tenant_key()
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @staticmethod
    def claims(base: str | dict[str, Any], **changes: Any) -> dict[str, Any]:
        """`base`'s claims (a token or a dict) with `changes` (`REMOVE` deletes a claim)."""
        claims = dict(claims_of(base) if isinstance(base, str) else base)
        now = int(time.time())
        claims.update(iat=now, nbf=now, exp=now + 600, uti=b64url(uuid.uuid4().bytes))
        for name, value in changes.items():
            if value is REMOVE:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: Any = None,
        kid: Any = None,
        algorithm: str = "RS256",
        headers: dict[str, Any] | None = None,
    ) -> str:
        """Sign with the tenant's key (its kid) unless `key`/`kid` say otherwise."""
        tenant_kid, tenant_key = self.tenant_key()
        all_headers: dict[str, Any] = {"typ": "JWT", "kid": tenant_kid if kid is None else kid}
        all_headers.update(headers or {})
        if all_headers["kid"] is REMOVE:
            del all_headers["kid"]
        return jwt.encode(
            claims, tenant_key if key is None else key, algorithm=algorithm, headers=all_headers
        )

    @staticmethod
    def unsigned(claims: dict[str, Any], header: dict[str, Any]) -> str:
        """`header.payload.` with no signature (e.g. `alg: none`)."""
        return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode()) + "."

    @staticmethod
    def hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
        """An HS256 token with `secret` as the HMAC key (PyJWT refuses to make one with a
        PEM key, which is the point of the attack)."""
        header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        payload = b64url(json.dumps(claims).encode())
        signing_input = f"{header}.{payload}".encode()
        return f"{header}.{payload}." + b64url(
            hmac.new(secret, signing_input, hashlib.sha256).digest()
        )
