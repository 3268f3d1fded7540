"""The `claims` request parameter (OpenID Connect Core 5.5) as Entra reads it, and the MFA
policy (a Conditional-Access-like rule) that decides when a second factor is needed.

MSAL sends `claims` on the authorize request and on token requests: a claims challenge
(`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`) asks for an authentication
context, `client_capabilities=["CP1"]` adds `{"access_token":{"xms_cc":{"values":["CP1"]}}}`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

POLICY_SETTING = "mfa_policy"
POLICY_TARGETS = ("users", "apps", "scopes")
# Step-up settings (the admin API's /step-up): the authentication context Graph's PATCH /me
# asks for with a claims challenge, and the contexts the tenant never satisfies.
STEP_UP_SETTING = "step_up"
STEP_UP_KEYS = ("graph_acrs", "withheld_acrs")
CONTEXT_ID = re.compile(r"^c([1-9]|[1-9][0-9])$")  # Entra's authentication contexts: c1 … c99
# The scope the profile's save needs, covered by run.py's MFA policy (--profile-step-up).
GRAPH_READWRITE = "https://graph.microsoft.com/User.ReadWrite"


@dataclass(frozen=True)
class Claims:
    """What a `claims` parameter asks for: authentication contexts and the CP1 capability."""

    acrs: tuple[str, ...] = ()
    cp1: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> Claims:
        """Tolerant, as Entra is: a value that is not a JSON object asks for nothing."""
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        access = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(access, dict):
            return cls()
        return cls(_values(access.get("acrs")), "cp1" in _lower(_values(access.get("xms_cc"))))


def _values(claim: Any) -> tuple[str, ...]:
    if not isinstance(claim, dict):
        return ()
    values = claim.get("values")
    if isinstance(values, list):
        return tuple(str(v) for v in values)
    return (str(claim["value"]),) if "value" in claim else ()


def _lower(values: tuple[str, ...]) -> set[str]:
    return {v.lower() for v in values}


@dataclass(frozen=True)
class SignIn:
    """How the user signed in (`amr`), the authentication contexts satisfied (`acrs`) and
    whether the client declared CP1 (`xms_cc`): carried from the code to every refresh."""

    amr: tuple[str, ...] = ("pwd",)
    acrs: tuple[str, ...] = ()
    xms_cc: bool = False

    @property
    def mfa(self) -> bool:
        return "mfa" in self.amr

    def as_record(self) -> dict[str, Any]:
        return {"amr": list(self.amr), "acrs": list(self.acrs), "xms_cc": self.xms_cc}


@dataclass(frozen=True)
class MfaPolicy:
    """MFA required for these users (oid or email), apps (client ids) or scopes (full names)."""

    users: frozenset[str] = field(default_factory=frozenset)
    apps: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_json(cls, data: Any) -> MfaPolicy:
        """ValueError naming what is wrong with an admin's policy body."""
        if not isinstance(data, dict):
            raise ValueError("the policy must be a JSON object")
        unknown = set(data) - set(POLICY_TARGETS)
        if unknown:
            raise ValueError(f"unknown policy targets: {', '.join(sorted(unknown))}")
        lists = {}
        for key in POLICY_TARGETS:
            value = data.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{key} must be a list of strings")
            lists[key] = frozenset(v.strip().lower() for v in value if v.strip())
        return cls(lists["users"], lists["apps"], lists["scopes"])

    def as_json(self) -> dict[str, list[str]]:
        return {key: sorted(getattr(self, key)) for key in POLICY_TARGETS}

    def covers(self, user: tuple[str, str], client_id: str, scopes: list[str]) -> bool:
        """Whether a request of `user` (oid, email) for `client_id` and `scopes` needs MFA."""
        return bool(
            self.users & {user[0].lower(), user[1].lower()}
            or client_id.lower() in self.apps
            or self.scopes & {s.lower() for s in scopes}
        )


@dataclass(frozen=True)
class StepUp:
    """`graph_acrs`: the context Graph's `PATCH /me` needs (answered with a claims challenge
    while the token's `acrs` lacks it; None: no challenge). `withheld_acrs`: contexts the
    tenant never puts in `acrs`, as a tenant whose Conditional Access does not satisfy them
    (a client's step-up then cannot succeed: its loop guard's case)."""

    graph_acrs: str | None = None
    withheld_acrs: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def from_json(cls, data: Any) -> StepUp:
        """ValueError naming what is wrong with an admin's settings."""
        if not isinstance(data, dict) or set(data) - set(STEP_UP_KEYS):
            raise ValueError(f"the body must be a JSON object of {', '.join(STEP_UP_KEYS)}")
        graph = data.get("graph_acrs")
        withheld = data.get("withheld_acrs", [])
        if graph is not None and not (isinstance(graph, str) and CONTEXT_ID.match(graph)):
            raise ValueError("graph_acrs must be an authentication context (c1 to c99) or null")
        if not isinstance(withheld, list) or not all(
            isinstance(c, str) and CONTEXT_ID.match(c) for c in withheld
        ):
            raise ValueError("withheld_acrs must be a list of authentication contexts (c1 to c99)")
        return cls(graph, frozenset(withheld))

    def as_json(self) -> dict[str, Any]:
        return {"graph_acrs": self.graph_acrs, "withheld_acrs": sorted(self.withheld_acrs)}


@dataclass(frozen=True)
class SignedIn:
    """Who an authorization code is issued to: the SSO session's user and how they signed in."""

    oid: str
    sid: str
    auth_time: int
    sign_in: SignIn
