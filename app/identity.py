"""Who the user is, in five verbs: `start_sign_in`, `complete_sign_in`, `user`, `acquire_token`,
`sign_out` (after the `identity` package's `web.Auth`).

MSAL runs the auth-code flow (PKCE, `state`, `nonce`) and refreshes tokens; `app.tenant.Tenant`
holds the tenant's document, keys and MSAL's HTTP; `common.oidc.validate_id_token` checks the ID
token before anything from the response reaches the session; `app.token_store` keeps each
session's token cache outside the session, refreshed under a lock so that concurrent requests
of one user redeem the refresh token once. Failures are `app.failures` exceptions.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import msal
import requests
from flask import current_app, session

from app.failures import (
    Failure,
    ProviderUnavailable,
    SignInFailed,
    SignInRequired,
    misconfiguration,
    provider_text,
    refusal,
)
from app.messages import SIGN_IN_BUSY
from app.tenant import Tenant
from app.token_store import (
    StoredTokens,
    TokenStore,
    TokenStoreBusy,
    cache_of,
    fresh_access_token,
    new_key,
    trimmed,
    valid_key,
)
from app.urls import absolute_url, local_path
from common.oidc import KeySetUnavailable, TokenError, validate_id_token
from config import Config

# MSAL warns whenever response_mode is not form_post. We ask for `query` on purpose: a form_post
# from the provider's site is a cross-site POST, which does not carry our SameSite=Lax cookie.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")

FLOWS_KEY = "auth_flows"
USER_KEY = "user"
ACCOUNT_KEY = "account_id"
TOKENS_KEY = "token_key"  # the key of this session's token cache in the token store
MAX_PENDING_FLOWS = 5
CLOCK_SKEW = 120.0
RESPONSE_MODE = "query"


class Identity:
    """The process-wide sign-in machinery; per-request state lives in the Flask session."""

    def __init__(self, config: Config, tokens: TokenStore) -> None:
        self.config = config
        self.tokens = tokens
        self.tenant = Tenant(config)
        self.flow_lifetime = 600.0  # seconds a started sign-in may take
        # Session keys that survive signing in (features add theirs: a draft kept while the
        # user signs in again for a scope, say). Everything else from before is dropped.
        self.keep_at_sign_in: set[str] = set()

    # --- signing in ---------------------------------------------------------------------------

    def start_sign_in(
        self, next_path: str | None, scopes: list[str] | None = None, prompt: str | None = None
    ) -> str:
        """Begin the auth-code flow; returns the URL to send the browser to.

        The flow (PKCE verifier, nonce, state) stays in the server-side session, keyed by its
        `state`, so several tabs can sign in at once and a response can be matched to its flow.
        """
        flow = self.tenant.msal_app().initiate_auth_code_flow(
            scopes=list(scopes or []),
            redirect_uri=absolute_url(self.config.redirect_uri),
            prompt=prompt,
            response_mode=RESPONSE_MODE,
        )
        now = time.time()
        flows = {
            state: entry for state, entry in dict(session.get(FLOWS_KEY) or {}).items()
            if now - entry.get("started", 0) < self.flow_lifetime
        }
        while len(flows) >= MAX_PENDING_FLOWS:
            del flows[min(flows, key=lambda s: flows[s]["started"])]
        flows[flow["state"]] = {"flow": flow, "next": local_path(next_path) or "/", "started": now}
        session[FLOWS_KEY] = flows
        return cast(str, flow["auth_uri"])

    def complete_sign_in(self, auth_response: Mapping[str, str]) -> str:
        """Redeem the provider's answer; on success the user is signed in in a new session.

        Returns the local path the user wanted. Raises `SignInFailed` (nothing from the response
        is kept), `AppMisconfigured` or `ProviderUnavailable`.
        """
        flows = dict(session.get(FLOWS_KEY) or {})
        entry = self._take_flow(flows, auth_response.get("state"))
        try:
            claims, account_id, cache = self._redeem(entry, auth_response)
        except Exception:
            # The flow is used up either way: a second try with the same state must fail too.
            if flows:
                session[FLOWS_KEY] = flows
            else:
                session.pop(FLOWS_KEY, None)
            raise
        # The session still holds the flow, so it is not empty and gets a new id.
        self._begin_session(claims, account_id, cache)
        return cast(str, entry["next"])

    @staticmethod
    def _take_flow(flows: dict[str, Any], state: object) -> dict[str, Any]:
        """The flow `state` names, removed from `flows`."""
        entry = flows.pop(state, None) if isinstance(state, str) else None
        if entry is None:
            if not flows:
                raise SignInFailed(
                    "expired", "no sign-in was in progress (it expired or was already completed)"
                )
            raise SignInFailed("state", "the response does not match a sign-in started here")
        return cast(dict[str, Any], entry)

    def _redeem(
        self, entry: Mapping[str, Any], answer: Mapping[str, str]
    ) -> tuple[dict[str, Any], str, msal.SerializableTokenCache]:
        """Redeem the code of `answer` for `entry`'s flow and validate the ID token."""
        next_path, flow = entry["next"], entry["flow"]
        if time.time() - entry["started"] > self.flow_lifetime:
            raise SignInFailed("expired", "the sign-in attempt took too long", next_path)
        scopes = [s for s in flow.get("scope", []) if s in self.config.api_scopes]
        if answer.get("error"):
            self._authorize_error(answer, scopes, next_path)
        cache = msal.SerializableTokenCache()
        app = self.tenant.msal_app(cache)
        try:
            result = app.acquire_token_by_auth_code_flow(dict(flow), dict(answer))
        except requests.RequestException as exc:
            raise ProviderUnavailable.network(exc, None, "code redemption") from exc
        except ValueError as exc:
            detail = "the response does not match its sign-in"
            raise SignInFailed("state", detail, next_path) from exc
        except RuntimeError as exc:
            # MSAL's nonce check; it fails after the tokens reached `cache`, which we drop.
            detail = "the ID token's nonce does not match"
            raise SignInFailed("id_token", detail, next_path) from exc
        if "error" in result:
            self._authorize_error(result, scopes, next_path, during="code redemption")
        claims = self._validated(result.get("id_token"), flow["nonce"], next_path)
        accounts = app.get_accounts()
        if len(accounts) != 1:
            raise SignInFailed("id_token", "the response names no single account", next_path)
        return claims, accounts[0]["home_account_id"], cache

    def _authorize_error(
        self, answer: Mapping[str, Any], scopes: list[str], next_path: str,
        during: str = "authorization",
    ) -> None:
        """Raise what an error answer of the sign-in means (misconfigured app, or a failure)."""
        misconfigured = misconfiguration(answer, scopes, self.tenant.facts, during)
        if misconfigured is not None:
            raise misconfigured
        kind = "cancelled" if answer.get("error") == "access_denied" else "provider"
        raise SignInFailed(kind, provider_text(answer), next_path)

    def _validated(self, id_token: Any, nonce: str, next_path: str) -> dict[str, Any]:
        try:
            return validate_id_token(
                id_token,
                self.tenant.keys(),
                issuer=self.tenant.discovery()["issuer"],
                client_id=self.config.client_id,
                tenant_id=self.tenant.tenant_id(),
                nonce=nonce,
                leeway=CLOCK_SKEW,
            )
        except KeySetUnavailable as exc:
            jwks_uri = self.tenant.discovery()["jwks_uri"]
            if isinstance(exc.__cause__, requests.RequestException):
                raise ProviderUnavailable.network(exc.__cause__, jwks_uri, "key-set fetch") from exc
            raise ProviderUnavailable.bad_answer(f"{jwks_uri}: {exc}", "key-set fetch") from exc
        except TokenError as exc:
            raise SignInFailed("id_token", str(exc), next_path) from exc

    def _begin_session(
        self, claims: dict[str, Any], account_id: str, cache: msal.SerializableTokenCache
    ) -> None:
        """A new session id holding the user; the old session's token cache is deleted."""
        old_key = session.get(TOKENS_KEY)
        token_key = new_key()
        self.tokens.save(token_key, StoredTokens(1, trimmed(cache, self.config.api_scopes)))
        current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]  # Flask-Session's
        kept = {key: session[key] for key in self.keep_at_sign_in if key in session}
        session.clear()
        session.update(kept)
        session[USER_KEY] = claims
        session[ACCOUNT_KEY] = account_id
        session[TOKENS_KEY] = token_key
        if valid_key(old_key):
            self.tokens.delete(old_key)

    # --- the signed-in user -------------------------------------------------------------------

    def user(self) -> dict[str, Any] | None:
        """The validated ID-token claims of the signed-in user, or None."""
        claims = session.get(USER_KEY)
        return claims if isinstance(claims, dict) else None

    def acquire_token(self, scopes: list[str], force_refresh: bool = False) -> str:
        """An access token for `scopes` from the session's token cache (refreshing when needed).

        A fresh cached token is returned without a lock or a write. Otherwise the refresh runs
        under the cache's lock in the token store, on the cache as re-read under that lock, so
        that of many concurrent requests (threads or processes) one redeems the refresh token
        and the others find its result. Raises `SignInRequired` when there is no user or the
        tenant needs them, another `app.failures` exception when the tenant refuses or fails.
        """
        token_key = session.get(TOKENS_KEY)
        account_id = session.get(ACCOUNT_KEY)
        if self.user() is None or not valid_key(token_key) or not isinstance(account_id, str):
            raise SignInRequired(scopes, "not signed in")
        if not force_refresh:
            stored = self.tokens.load(token_key)
            token = fresh_access_token(stored, scopes, self.config.client_id, account_id)
            if token is not None:
                return token
        try:
            with self.tokens.locked(token_key):
                return self._refresh(token_key, account_id, scopes, force_refresh)
        except TokenStoreBusy as exc:
            raise Failure(SIGN_IN_BUSY, 503, f"token refresh lock busy: {exc}") from exc

    def _refresh(
        self, token_key: str, account_id: str, scopes: list[str], force_refresh: bool
    ) -> str:
        """MSAL's silent acquisition on the stored cache; the caller holds its lock."""
        stored = self.tokens.load(token_key)
        cache = cache_of(stored)
        if cache is None:
            raise SignInRequired(scopes, "the session's tokens are gone")
        app = self.tenant.msal_app(cache)
        account = next(
            (a for a in app.get_accounts() if a.get("home_account_id") == account_id), None
        )
        if account is None:
            raise SignInRequired(scopes, "the session holds no account")
        try:
            result = app.acquire_token_silent_with_error(
                list(scopes), account, force_refresh=force_refresh
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable.network(exc, None, "token refresh") from exc
        finally:
            if cache.has_state_changed:
                new = StoredTokens(stored.version + 1, trimmed(cache, self.config.api_scopes))
                self.tokens.save(token_key, new)
        if result is None:
            raise SignInRequired(scopes, "no token for these scopes")
        if "access_token" in result:
            return cast(str, result["access_token"])
        raise refusal(result, scopes, self.tenant.facts, "token refresh")

    # --- signing out --------------------------------------------------------------------------

    def sign_out(self) -> str:
        """Forget the user (the stored session is deleted) and return where to send the browser.

        That is the tenant's `end_session_endpoint` with our `post_logout_redirect_uri`, or the
        post-logout address itself when the tenant cannot be reached.
        """
        token_key = session.get(TOKENS_KEY)
        session.clear()
        if valid_key(token_key):
            self.tokens.delete(token_key)
        back = absolute_url(self.config.post_logout_redirect_uri)
        try:
            endpoint = self.tenant.discovery().get("end_session_endpoint")
        except ProviderUnavailable as exc:
            current_app.logger.warning("%s (signing out locally only)", exc.log)
            endpoint = None
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
            return back
        query = urlencode({"post_logout_redirect_uri": back, "client_id": self.config.client_id})
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def current_identity() -> Identity:
    return cast(Identity, current_app.extensions["identity"])
