"""`TenantAdmin`: the Python client of the tenant's loopback-only admin endpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from common.http import HttpClient
from devtenant.store import ADMIN_TOKEN_FILE, CA_FILE


class TenantAdminError(Exception):
    """The admin endpoint refused the request (the message is the tenant's answer)."""


class TenantAdmin:
    """Drive a running local tenant from tests: counters, faults, lifetimes, users, clients
    (added, deleted, secrets expired).

    `base_url` is the tenant's https origin (e.g. https://localhost:44360); `data_dir` is its
    data directory, where the tenant's first start put the CA this client trusts (`ca.pem`)
    and the admin token it sends as `Authorization: Bearer` (`admin-token`). A data
    directory without them raises FileNotFoundError.
    """

    def __init__(self, base_url: str, data_dir: str | os.PathLike[str]) -> None:
        data = Path(data_dir)
        token = (data / ADMIN_TOKEN_FILE).read_text().strip()
        self.base_url = base_url.rstrip("/")
        self.http = HttpClient(ca_file=str(data / CA_FILE))
        self.http.headers["Authorization"] = f"Bearer {token}"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        # Every call but a GET sends a JSON body (the endpoints refuse any other kind).
        payload = None if method == "GET" else (body if body is not None else {})
        resp = self.http.request(method, f"{self.base_url}/_admin/{path}", json=payload)
        if resp.status_code >= 400:
            raise TenantAdminError(f"{resp.status_code}: {resp.text}")
        return resp.json()

    def counts(self) -> dict[str, Any]:
        """`{"discovery", "keys", "authorize", "logout", "token": {<grant type>: n}}`."""
        return self._call("GET", "counts")

    def reset_counts(self) -> None:
        self._call("POST", "counts/reset")

    def set_lifetimes(
        self,
        access_token: int | None = None,
        id_token: int | None = None,
        refresh_token: int | None = None,
    ) -> dict[str, int]:
        values = {
            "access_token": access_token,
            "id_token": id_token,
            "refresh_token": refresh_token,
        }
        return self._call("POST", "lifetimes", {k: v for k, v in values.items() if v is not None})

    def add_user(self, email: str, password: str, name: str) -> dict[str, str]:
        """Creates a user; returns `{"oid", "email", "name"}`."""
        return self._call("POST", "users", {"email": email, "password": password, "name": name})

    def add_client(self, kind: str, **settings: Any) -> dict[str, Any]:
        """A new registration: kind "web" (consented_scopes=[...], redirect_uris=[...],
        post_logout_redirect_uris=[...]) or "daemon" (roles=[...]). Returns its settings,
        with absolute `certificate_file`/`private_key_file` paths."""
        return self._call("POST", "clients", {"kind": kind, **settings})

    def remove_client(self, client_id: str) -> None:
        """Delete the registration `client_id`, as an admin deleting the app: from then on the
        tenant answers as if it never existed (AADSTS700016 at the token endpoint, Entra's
        error page at authorize), including for refresh tokens issued to it before.

        On the shared session tenant remove only clients you added (`add_client`); the built-in
        "web" and "daemon" can be removed in a tenant of your own (`running_tenant`), where
        `env` then still prints their now unknown client id.
        """
        self._call("DELETE", f"clients/{client_id}")

    def expire_secret(self, client_id: str) -> None:
        """End the client secret of `client_id` now: the same value is then refused as expired
        (401 invalid_client, AADSTS7000222), while its certificate keeps working."""
        self._call("POST", f"clients/{client_id}/expire-secret")

    def fault(self, token: str, fault: str) -> None:
        """The next `token` ("id_token" or "access_token") issued has `fault` (one-shot)."""
        self._call("POST", "faults", {"token": token, "fault": fault})

    def refuse_next_refresh(self, error: str = "invalid_grant") -> None:
        """The next refresh-token redemption fails with invalid_grant or interaction_required."""
        self._call("POST", "refresh-fault", {"error": error})

    def rotate_key(self) -> str:
        """New signing key (old ones stay in the key set); returns the new `kid`."""
        return self._call("POST", "rotate-key")["kid"]

    def set_idtyp(self, enabled: bool) -> None:
        """Turn the API registration's optional `idtyp` claim on or off (until reset)."""
        self._call("POST", "api", {"idtyp_claim": enabled})

    def reset(self) -> None:
        """Faults cleared; lifetimes, the idtyp setting, the user flow (password sign-in, no
        custom attributes), the MFA policy (none) and the step-up settings (none) back to
        their defaults."""
        self._call("POST", "reset")

    def mail(self, to: str) -> list[dict[str, Any]]:
        """The mail the tenant sent to `to`, newest first (`to subject purpose code body
        created_at`)."""
        return self._call("GET", f"mail?{urlencode({'to': to})}")

    def latest_code(self, to: str) -> str:
        """The code of the newest mail sent to `to` (AssertionError when there is none)."""
        mails = self.mail(to)
        assert mails, f"no mail was sent to {to}"
        return str(mails[0]["code"])

    def expire_codes(self, to: str) -> int:
        """Every pending one-time code sent to `to` expires now; returns how many."""
        return int(self._call("POST", "mail/expire-codes", {"to": to})["expired"])

    def user_flow(self) -> dict[str, Any]:
        return self._call("GET", "user-flow")

    def mfa_policy(self) -> dict[str, list[str]]:
        return self._call("GET", "mfa-policy")

    def set_user_flow(self, **settings: Any) -> dict[str, Any]:
        """`sign_in_method="password"|"email_otp"`, `custom_attributes=["loyaltyTier"]`."""
        return self._call("POST", "user-flow", settings)

    def set_mfa_policy(
        self,
        users: list[str] | None = None,
        apps: list[str] | None = None,
        scopes: list[str] | None = None,
    ) -> dict[str, list[str]]:
        """Require MFA for these users (oid or email), apps (client id) or scopes (full
        names, e.g. api://<api id>/User.MFA); replaces the policy (no arguments: none)."""
        body = {"users": users or [], "apps": apps or [], "scopes": scopes or []}
        return self._call("POST", "mfa-policy", body)

    def step_up_settings(self) -> dict[str, Any]:
        """`{"graph_acrs": str | None, "withheld_acrs": [...]}`."""
        return self._call("GET", "step-up")

    def set_graph_step_up(self, acrs: str | None) -> dict[str, Any]:
        """Graph's `PATCH /me` answers a claims challenge for the authentication context
        `acrs` (e.g. "c1") while the token's `acrs` lacks it; None: no challenge."""
        return self._call("POST", "step-up", {"graph_acrs": acrs})

    def withhold_contexts(self, contexts: list[str]) -> dict[str, Any]:
        """The tenant never puts these authentication contexts in `acrs` (a step-up for them
        cannot succeed); [] undoes it."""
        return self._call("POST", "step-up", {"withheld_acrs": contexts})

    def revoke_sessions(self, oid: str) -> None:
        """Revoke every refresh token and SSO session of the user (as revokeSignInSessions)."""
        self._call("POST", f"users/{oid}/revoke-sessions")

    def close(self) -> None:
        self.http.close()
