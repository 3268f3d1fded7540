"""Per-process state: codes, refresh tokens, SSO sessions, counters, faults and lifetimes.

Kept in memory on purpose: a restart of the tenant forgets codes, refresh tokens and SSO
sessions (clients then ask the user to sign in again), as after a revocation in Entra.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

TOKEN_FAULTS = (
    "wrong_iss",
    "wrong_aud",
    "wrong_nonce",
    "expired",
    "missing_iat",
    "missing_sub",
    "bad_signature",
    "alg_none",
    "no_kid",
)
REFRESH_FAULTS = ("invalid_grant", "interaction_required")
DEFAULT_LIFETIMES = {"access_token": 3600, "id_token": 3600, "refresh_token": 86400 * 90}
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    oid: str
    sid: str
    auth_time: int
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float
    redeemed: bool = False

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class RefreshToken:
    value: str
    client_id: str
    oid: str
    sid: str
    scope: str
    expires_at: float
    revoked: bool = False

    def check_client(self, client: Any) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope


@dataclass
class SsoSession:
    sid: str
    oid: str
    auth_time: int


@dataclass
class TenantState:
    """Everything the running tenant remembers between requests (thread-safe)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    codes: dict[str, AuthCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    sessions: dict[str, SsoSession] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)
    refresh_fault: str | None = None
    lifetimes: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIFETIMES))
    idtyp_override: bool | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reset_counts()

    # -- counters -------------------------------------------------------------------------
    def reset_counts(self) -> None:
        with self.lock:
            self.counts = {
                "discovery": 0,
                "keys": 0,
                "authorize": 0,
                "logout": 0,
                "token": dict.fromkeys(GRANT_TYPES, 0),
            }

    def count(self, endpoint: str, grant_type: str | None = None) -> None:
        with self.lock:
            if endpoint == "token":
                if grant_type in GRANT_TYPES:  # other grant types are refused, not counted
                    self.counts["token"][grant_type] += 1
            else:
                self.counts[endpoint] += 1

    def snapshot_counts(self) -> dict[str, Any]:
        with self.lock:
            return {**self.counts, "token": dict(self.counts["token"])}

    # -- faults and lifetimes -------------------------------------------------------------
    def set_fault(self, token: str, fault: str) -> None:
        if token not in ("id_token", "access_token"):
            raise ValueError("token must be 'id_token' or 'access_token'")
        if fault not in TOKEN_FAULTS:
            raise ValueError(f"fault must be one of {', '.join(TOKEN_FAULTS)}")
        with self.lock:
            self.faults[token] = fault

    def take_fault(self, token: str) -> str | None:
        with self.lock:
            return self.faults.pop(token, None)

    def set_refresh_fault(self, error: str) -> None:
        if error not in REFRESH_FAULTS:
            raise ValueError(f"error must be one of {', '.join(REFRESH_FAULTS)}")
        with self.lock:
            self.refresh_fault = error

    def take_refresh_fault(self) -> str | None:
        with self.lock:
            fault, self.refresh_fault = self.refresh_fault, None
            return fault

    def set_lifetimes(self, values: dict[str, Any]) -> None:
        unknown = set(values) - set(DEFAULT_LIFETIMES)
        if unknown:
            raise ValueError(f"unknown lifetimes: {', '.join(sorted(unknown))}")
        for key, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{key} must be a positive number of seconds")
        with self.lock:
            self.lifetimes.update(values)

    def reset(self) -> None:
        """Faults cleared, lifetimes and the idtyp setting back to their defaults."""
        with self.lock:
            self.faults.clear()
            self.refresh_fault = None
            self.lifetimes = dict(DEFAULT_LIFETIMES)
            self.idtyp_override = None

    # -- codes, refresh tokens, sessions --------------------------------------------------
    def new_refresh_token(self, client_id: str, oid: str, sid: str, scope: str) -> str:
        value = "1.devtenant." + secrets.token_urlsafe(64)
        token = RefreshToken(
            value=value,
            client_id=client_id,
            oid=oid,
            sid=sid,
            scope=scope,
            expires_at=time.time() + self.lifetimes["refresh_token"],
        )
        with self.lock:
            self.refresh_tokens[value] = token
        return value

    def new_session(self, oid: str) -> SsoSession:
        session = SsoSession(sid=secrets.token_urlsafe(16), oid=oid, auth_time=int(time.time()))
        with self.lock:
            self.sessions[session.sid] = session
        return session

    def end_session(self, sid: str | None) -> None:
        with self.lock:
            if sid:
                self.sessions.pop(sid, None)

    def revoke_user_sessions(self, oid: str) -> None:
        """Graph's revokeSignInSessions: every refresh token of the user is refused from now on
        (AADSTS50173) and every SSO session of the user ends."""
        with self.lock:
            for token in self.refresh_tokens.values():
                if token.oid == oid:
                    token.revoked = True
            for sid in [s.sid for s in self.sessions.values() if s.oid == oid]:
                del self.sessions[sid]
