"""Bearer-token authentication and the ToDoList permission rules.

Validation (signature, `iss`, `aud`, times) is `common.oidc.decode_rs256`; this module adds
what an access token for this API must also carry (`nbf`, `tid`, `ver`, `oid`, `scp` or
`roles`, `azp` for apps) and decides who the caller is (a user or an app) and what it may do.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import wraps
from typing import Any, TypeVar

from flask import current_app, g, request

from common.oidc import KeySet, KeySetUnavailable, TokenError, decode_rs256
from common.settings import is_guid

from .errors import ApiProblem

F = TypeVar("F", bound=Callable[..., Any])

READ_SCOPES = frozenset({"ToDoList.Read", "ToDoList.ReadWrite"})
WRITE_SCOPES = frozenset({"ToDoList.ReadWrite"})
READ_ROLES = frozenset({"ToDoList.Read.All", "ToDoList.ReadWrite.All"})
WRITE_ROLES = frozenset({"ToDoList.ReadWrite.All"})
REQUIRED_CLAIMS = ("exp", "nbf", "iat", "iss", "aud", "sub", "tid", "ver", "oid")
VALIDATED_CACHE_SIZE = 4096
BEARER = re.compile(r"^Bearer +([A-Za-z0-9\-_.~+/]+=*) *$", re.IGNORECASE)


class Permission(Enum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class Caller:
    """Who is calling: `oid` (a lower-case GUID), whether it is an app, what it may do, for
    apps `client_id` (the token's `azp`, lower case), and the authentication contexts the
    token's sign-in satisfied (`acrs`, e.g. `c1`)."""

    oid: str
    is_app: bool
    permissions: frozenset[Permission]
    client_id: str | None = None
    acrs: frozenset[str] = frozenset()

    @property
    def owner_filter(self) -> str | None:
        """The owner the caller is confined to: its own `oid` for users, none for apps."""
        return None if self.is_app else self.oid

    @property
    def id(self) -> str:
        """The caller as the keeper of per-caller state (idempotency keys): `user:<oid>`, or
        `app:<client id>` (every token of one app registration is the same caller)."""
        return f"app:{self.client_id}" if self.is_app else f"user:{self.oid}"


class TokenValidator:
    """Checks access tokens for one API registration in one tenant.

    A token that passed every check is remembered (by its SHA-256, with the `Caller` it stands
    for) until its `exp`, so a client sending the same token again is not re-verified on every
    call (PyJWT's decoding was 14 % of a listing's CPU). The cache is strictly narrower than the
    full check: an entry is used only before `exp` itself (the full check would still allow
    `leeway` seconds more), only while the key set is the one the token was verified against
    (a re-fetch that changes the keys empties it; one that brings the same keys does not), and
    only successes are stored. `nbf` and `iat` were
    checked on first sight and only become more true with time. At most `cache_size` entries;
    thread-safe.
    """

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        tenant_id: str,
        leeway: float,
        cache_size: int = VALIDATED_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.tenant_id = tenant_id
        self.leeway = leeway
        self.cache_size = cache_size
        self._clock = clock
        self._lock = threading.Lock()
        self._validated: dict[bytes, tuple[float, Caller]] = {}
        self._key_version = keys.version

    def caller(self, token: str) -> Caller:
        """The caller a token stands for (raises `TokenError` with a loggable reason)."""
        digest = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if self.keys.version != self._key_version:
                self._validated.clear()
                self._key_version = self.keys.version
            entry = self._validated.get(digest)
        if entry is not None and self._clock() < entry[0]:
            return entry[1]
        version = self.keys.version
        caller, exp = self._check(token)
        with self._lock:
            if version == self.keys.version == self._key_version:
                if len(self._validated) >= self.cache_size:
                    self._evict()
                self._validated[digest] = (exp, caller)
        return caller

    @property
    def cached_tokens(self) -> int:
        """How many validated tokens the cache holds."""
        return len(self._validated)

    def _evict(self) -> None:
        """Drop expired entries; if none were, the oldest half (insertion order)."""
        now = self._clock()
        for digest in [d for d, (exp, _) in self._validated.items() if exp <= now]:
            del self._validated[digest]
        if len(self._validated) >= self.cache_size:
            for digest in list(self._validated)[: max(1, len(self._validated) // 2)]:
                del self._validated[digest]

    def _check(self, token: str) -> tuple[Caller, float]:
        """Every check of a token: the caller it stands for and its `exp`."""
        claims = decode_rs256(
            token,
            self.keys,
            issuer=self.issuer,
            audience=self.audience,
            leeway=self.leeway,
            require=REQUIRED_CLAIMS,
        )
        if not isinstance(claims["aud"], str):
            raise TokenError("the token's aud must be this API's client id alone")
        tid = claims["tid"]
        if not isinstance(tid, str) or tid.lower() != self.tenant_id:
            raise TokenError("the token was issued for another tenant")
        if claims["ver"] != "2.0":
            raise TokenError("the token is not a v2.0 access token")
        oid = claims["oid"]
        if not isinstance(oid, str) or not is_guid(oid):
            raise TokenError("the token's oid is not a GUID")
        scopes = _scopes(claims)
        roles = _roles(claims)
        if not scopes and not roles:
            raise TokenError("the token carries neither scp nor roles")
        idtyp = claims.get("idtyp")
        if idtyp is not None and idtyp not in ("app", "user"):
            raise TokenError("the token's idtyp is neither app nor user")
        if idtyp is not None:
            is_app = idtyp == "app"
        else:
            # Microsoft's signal for app-only tokens without idtyp: no scp, and the subject is
            # the object itself (a user's sub is pairwise, never their oid).
            is_app = "scp" not in claims and str(claims["sub"]).lower() == oid.lower()
        client_id = None
        if is_app:
            azp = claims.get("azp")
            if not isinstance(azp, str) or not is_guid(azp):
                raise TokenError("the app token's azp is not a client id")
            client_id = azp.lower()
            granted = _grant(roles, READ_ROLES, WRITE_ROLES)
        else:
            granted = _grant(scopes, READ_SCOPES, WRITE_SCOPES)
        caller = Caller(
            oid=oid.lower(), is_app=is_app, permissions=frozenset(granted), client_id=client_id,
            acrs=_strings(claims, "acrs"),
        )
        return caller, float(claims["exp"])


def _scopes(claims: dict[str, Any]) -> frozenset[str]:
    if "scp" not in claims:
        return frozenset()
    value = claims["scp"]
    if not isinstance(value, str):
        raise TokenError("the token's scp is not a space-separated string")
    return frozenset(value.split())


def _roles(claims: dict[str, Any]) -> frozenset[str]:
    return _strings(claims, "roles")


def _strings(claims: dict[str, Any], name: str) -> frozenset[str]:
    """A claim that is a list of strings (`roles`, `acrs`); absent is empty."""
    if name not in claims:
        return frozenset()
    value = claims[name]
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise TokenError(f"the token's {name} is not a list of strings")
    return frozenset(value)


def _grant(held: frozenset[str], read: frozenset[str], write: frozenset[str]) -> set[Permission]:
    granted = set()
    if held & read:
        granted.add(Permission.READ)
    if held & write:
        granted.add(Permission.WRITE)
    return granted


NEEDED = {
    Permission.READ: "ToDoList.Read or ToDoList.ReadWrite (users); "
    "ToDoList.Read.All or ToDoList.ReadWrite.All (apps)",
    Permission.WRITE: "ToDoList.ReadWrite (users); ToDoList.ReadWrite.All (apps)",
}


def _bearer_challenge(error: str, description: str, scope: str | None = None) -> str:
    parts = [f'error="{error}"', f'error_description="{description}"']
    if scope:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


def authenticate() -> Caller:
    """The caller of the current request (raises a 401/503 `ApiProblem`)."""
    header = request.headers.get("Authorization")
    if not header:
        raise _invalid("the request carries no bearer token")
    match = BEARER.match(header)
    if match is None:
        raise _invalid("the Authorization header is not 'Bearer <token>'")
    validator: TokenValidator = current_app.extensions["todolist.validator"]
    try:
        return validator.caller(match.group(1))
    except KeySetUnavailable as exc:
        current_app.logger.warning("token not checked: %s", exc)
        raise ApiProblem(
            503,
            "The tenant's signing keys could not be fetched; try again shortly.",
            headers={"Retry-After": "30"},
        ) from exc
    except TokenError as exc:
        current_app.logger.info("token refused: %s", exc)
        raise _invalid(str(exc)) from exc


def _invalid(reason: str) -> ApiProblem:
    return ApiProblem(
        401,
        f"A valid access token for this API is required: {reason}.",
        headers={"WWW-Authenticate": _bearer_challenge("invalid_token", reason)},
    )


def requires(permission: Permission) -> Callable[[F], F]:
    """Route decorator: a valid token holding `permission`; the caller goes to `g.caller`."""
    scope = "ToDoList.ReadWrite" if permission is Permission.WRITE else "ToDoList.Read"

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = authenticate()
            if permission not in caller.permissions:
                reason = f"this needs {NEEDED[permission]}"
                raise ApiProblem(
                    403,
                    f"The token does not grant {permission.value} access: {reason}.",
                    headers={
                        "WWW-Authenticate": _bearer_challenge("insufficient_scope", reason, scope)
                    },
                )
            g.caller = caller
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
