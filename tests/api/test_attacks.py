"""Every token attack of docs/security.md#access-token-validation-in-the-api answers 401 with
`Bearer error="invalid_token"`.

Most forged tokens are signed with the tenant's own signing key (read from its data directory)
so that the one defect under test is the only reason to refuse them; the control test shows
that the same forging, without a defect, is accepted.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import RSAAlgorithm

from tests.api.tokens import READ, READ_ALL, READWRITE, REMOVE, Forger, Tokens, b64url
from tests.fixtures.api import ApiServer


@dataclass
class Ctx:
    valid: str  # a real user token (ToDoList.Read ToDoList.ReadWrite)
    forger: Forger
    tokens: Tokens
    api_id: str

    def claims(self, **changes):
        return self.forger.claims(self.valid, **changes)

    def sign(self, **changes) -> str:
        return self.forger.sign(self.claims(**changes))


@pytest.fixture
def ctx(tokens: Tokens, forger: Forger) -> Ctx:
    return Ctx(tokens.user("alice", READ, READWRITE).token, forger, tokens, tokens.api_id)


def _segments(token: str) -> list[str]:
    return token.split(".")


def _flip_signature(token: str) -> str:
    head, payload, sig = _segments(token)
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[10] ^= 0x01
    return f"{head}.{payload}.{b64url(bytes(raw))}"


def _tampered_payload(c: Ctx) -> str:
    head, _, sig = _segments(c.valid)
    payload = b64url(json.dumps(c.claims(oid=str(uuid.uuid4()))).encode())
    return f"{head}.{payload}.{sig}"


def _own_jwk(c: Ctx) -> dict:
    return RSAAlgorithm.to_jwk(c.forger.own_key.public_key(), as_dict=True)


def _tenant_kid(c: Ctx) -> str:
    return c.forger.tenant_key()[0]


ATTACKS: dict[str, Callable[[Ctx], str]] = {
    "not a JWT": lambda c: "abc.def",
    "garbage": lambda c: "x" * 40,
    "alg none": lambda c: Forger.unsigned(c.claims(), {"alg": "none", "kid": _tenant_kid(c)}),
    "alg None": lambda c: Forger.unsigned(c.claims(), {"alg": "None", "kid": _tenant_kid(c)}),
    "HS256 with the tenant's public key": lambda c: Forger.hs256(
        c.claims(), c.forger.tenant_public_pem(), _tenant_kid(c)
    ),
    "RS512 with the tenant's key": lambda c: c.forger.sign(c.claims(), algorithm="RS512"),
    "PS256 with the tenant's key": lambda c: c.forger.sign(c.claims(), algorithm="PS256"),
    "ES256 with another key": lambda c: c.forger.sign(
        c.claims(), key=ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"
    ),
    "stripped signature": lambda c: ".".join(_segments(c.valid)[:2]) + ".",
    "bad signature": lambda c: _flip_signature(c.valid),
    "tampered payload": _tampered_payload,
    "unknown kid": lambda c: c.forger.sign(c.claims(), key=c.forger.own_key, kid="unknown"),
    "another key under the tenant's kid": lambda c: c.forger.sign(c.claims(), key=c.forger.own_key),
    "jku header": lambda c: c.forger.sign(
        c.claims(), headers={"jku": "https://attacker.example/keys"}
    ),
    "x5u header": lambda c: c.forger.sign(
        c.claims(), headers={"x5u": "https://attacker.example/cert.pem"}
    ),
    "jwk header with the attacker's key": lambda c: c.forger.sign(
        c.claims(), key=c.forger.own_key, kid="attacker", headers={"jwk": _own_jwk(c)}
    ),
    "jwk header on a tenant-signed token": lambda c: c.forger.sign(
        c.claims(), headers={"jwk": _own_jwk(c)}
    ),
    "unknown crit header": lambda c: c.forger.sign(
        c.claims(), headers={"crit": ["urn:example:must-understand"]}
    ),
    "missing iss": lambda c: c.sign(iss=REMOVE),
    "wrong iss": lambda c: c.sign(iss=f"https://login.example.com/{uuid.uuid4()}/v2.0"),
    "iss with a trailing slash": lambda c: c.sign(iss=c.claims()["iss"] + "/"),
    "missing aud": lambda c: c.sign(aud=REMOVE),
    "wrong aud": lambda c: c.sign(aud=str(uuid.uuid4())),
    "aud as a list with ours": lambda c: c.sign(aud=[c.api_id, str(uuid.uuid4())]),
    "aud as the App ID URI": lambda c: c.sign(aud=f"api://{c.api_id}"),
    "missing tid": lambda c: c.sign(tid=REMOVE),
    "wrong tid": lambda c: c.sign(tid=str(uuid.uuid4())),
    "missing exp": lambda c: c.sign(exp=REMOVE),
    "expired": lambda c: c.sign(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "non-numeric exp": lambda c: c.sign(exp="tomorrow"),
    "nbf in the future": lambda c: c.sign(nbf=int(time.time()) + 3600),
    "iat in the future": lambda c: c.sign(iat=int(time.time()) + 3600),
    "missing iat": lambda c: c.sign(iat=REMOVE),
    "non-numeric iat": lambda c: c.sign(iat="now"),
    "missing nbf": lambda c: c.sign(nbf=REMOVE),
    "exp as a string of digits": lambda c: c.sign(exp=str(int(time.time()) + 600)),
    "nbf as a string of digits": lambda c: c.sign(nbf=str(int(time.time()) - 60)),
    "nbf as true": lambda c: c.sign(nbf=True),
    "nbf as false": lambda c: c.sign(nbf=False),
    "neither scp nor roles": lambda c: c.sign(scp=REMOVE, roles=REMOVE),
    "empty scp": lambda c: c.sign(scp=""),
    "scp not a string": lambda c: c.sign(scp=["ToDoList.ReadWrite"]),
    "roles not a list": lambda c: c.sign(scp=REMOVE, roles="ToDoList.ReadWrite.All"),
    "scp null beside roles": lambda c: c.sign(scp=None, roles=[READWRITE]),
    "roles null beside scp": lambda c: c.sign(roles=None),
    "an app token without azp": lambda c: c.forger.sign(
        c.forger.claims(c.tokens.app(READ_ALL).token, azp=REMOVE)
    ),
    "an app token whose azp is not a client id": lambda c: c.forger.sign(
        c.forger.claims(c.tokens.app(READ_ALL).token, azp="daemon")
    ),
    "unknown idtyp": lambda c: c.sign(idtyp="device"),
    "v1.0 token": lambda c: c.sign(ver="1.0"),
    "missing ver": lambda c: c.sign(ver=REMOVE),
    "missing oid": lambda c: c.sign(oid=REMOVE),
    "oid not a GUID": lambda c: c.sign(oid="alice"),
    "missing sub": lambda c: c.sign(sub=REMOVE),
    "an ID token": lambda c: c.tokens.user("alice", READ, READWRITE).id_token or "",
    "an access token for Microsoft Graph": lambda c: c.tokens.user("alice").token,
}


def assert_invalid_token(resp) -> None:
    assert resp.status_code == 401, resp.text
    assert resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json()["status"] == 401


def test_forged_tokens_without_a_defect_are_accepted(api_server: ApiServer, ctx: Ctx) -> None:
    """The control: the forging machinery itself makes tokens the API accepts."""
    assert api_server.request("GET", "/api/todolist", ctx.valid).status_code == 200
    assert api_server.request("GET", "/api/todolist", ctx.sign()).status_code == 200


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_refused(api_server: ApiServer, ctx: Ctx, name: str) -> None:
    token = ATTACKS[name](ctx)
    for method, path, body in (
        ("GET", "/api/todolist", None),
        ("POST", "/api/todolist", {"description": f"attack: {name}"}),
    ):
        assert_invalid_token(api_server.request(method, path, token, json=body))
    everything = api_server.request("GET", "/api/todolist", ctx.tokens.app(READ_ALL).token)
    assert all(item["description"] != f"attack: {name}" for item in everything.json())


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer a b", "Bearer\tabc"],
)
def test_missing_or_malformed_authorization_headers(
    api_server: ApiServer, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert_invalid_token(api_server.http.get(api_server.todolist_url, headers=headers))


def test_the_bearer_scheme_is_case_insensitive(api_server: ApiServer, ctx: Ctx) -> None:
    for scheme in ("bearer", "BEARER"):
        headers = {"Authorization": f"{scheme} {ctx.valid}"}
        assert api_server.http.get(api_server.todolist_url, headers=headers).status_code == 200


@pytest.mark.parametrize(
    "fault", ["expired", "bad_signature", "alg_none", "wrong_aud", "wrong_iss", "missing_iat"]
)
def test_faulty_tokens_issued_by_the_tenant_are_refused(
    api_server: ApiServer, tokens: Tokens, tenant, fault: str
) -> None:
    tenant.admin.fault("access_token", fault)
    try:
        faulty = tokens.fresh_app(READ_ALL)
    finally:
        tenant.admin.reset()
    assert_invalid_token(api_server.request("GET", "/api/todolist", faulty.token))
    assert api_server.request("GET", "/api/todolist", tokens.fresh_app(READ_ALL).token).ok


def test_refusals_are_logged_without_the_token(api_server: ApiServer, ctx: Ctx) -> None:
    token = ctx.sign(tid=str(uuid.uuid4()))
    request_id = f"attack-{uuid.uuid4()}"
    resp = api_server.request("GET", "/api/todolist", token, headers={"X-Request-ID": request_id})
    assert_invalid_token(resp)
    log = api_server.log()
    assert "401" in next(line for line in log.splitlines() if request_id in line)
    assert "token refused: the token was issued for another tenant" in log
    assert token.split(".")[1] not in log
    assert token.split(".")[2] not in log
