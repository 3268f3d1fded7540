"""The tenant's state: persisted codes, refresh tokens, SSO sessions and settings (see
`devtenant.persisted`), and the test controls kept in memory on purpose: counters (the
benchmark reads them on the hot path), faults, lifetimes and the idtyp override.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine

from devtenant.persisted import Persisted

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


class TenantState(Persisted):
    """Everything the running tenant remembers between requests (thread-safe)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.lock = threading.RLock()
        self.faults: dict[str, str] = {}
        self.refresh_fault: str | None = None
        self.lifetimes: dict[str, int] = dict(DEFAULT_LIFETIMES)
        self.idtyp_override: bool | None = None
        self.counts: dict[str, Any] = {}
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
