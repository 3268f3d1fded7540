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
from collections.abc import Callable, Mapping
from typing import Any, cast
from urllib.parse import urlencode, urlsplit

import msal
import requests
from flask import Response, after_this_request, current_app, request, session

from app.failures import (
    Failure,
    ProviderUnavailable,
    SignInFailed,
    SignInRequired,
    misconfiguration,
    provider_text,
    refusal,
)
from app.flows import BrowserFlows, FlowStore, FlowStoreFull
from app.messages import SIGN_IN_BUSY, SIGN_INS_FULL
from app.sessions import delete_stored_session
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
from app.user_sessions import SessionIndex, UserSession
from common.oidc import KeySetUnavailable, TokenError, validate_id_token
from config import Config

# MSAL warns whenever response_mode is not form_post. We ask for `query` on purpose: a form_post
# from the provider's site is a cross-site POST, which does not carry our SameSite=Lax cookie.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")

USER_KEY = "user"
ACCOUNT_KEY = "account_id"
TOKENS_KEY = "token_key"  # the key of this session's token cache in the token store
SIGNED_IN_AT_KEY = "signed_in_at"
SEEN_KEY = "seen"  # the last request, noted at most every SEEN_RESOLUTION seconds
SEEN_RESOLUTION = 60.0
CLOCK_SKEW = 120.0
RESPONSE_MODE = "query"


class Identity:
    """The process-wide sign-in machinery; per-request state lives in the Flask session (the
    signed-in user), the flow store (sign-ins in progress) and the token store (tokens)."""

    def __init__(
        self, config: Config, tokens: TokenStore, flows: FlowStore, browser_flows: BrowserFlows,
        index: SessionIndex,
    ) -> None:
        self.config = config
        self.tokens = tokens
        self.index = index  # each user's sessions, for signing out everywhere
        self.flows = flows
        self.browser_flows = browser_flows
        self.tenant = Tenant(config)
        self.flow_lifetime = flows.lifetime  # seconds a started sign-in may take
        self.clock: Callable[[], float] = time.time  # what session ages are measured with
        # Session keys that survive signing in (features add theirs: a draft kept while the
        # user signs in again for a scope, say). Everything else from before is dropped.
        self.keep_at_sign_in: set[str] = set()

    # --- signing in ---------------------------------------------------------------------------

    def start_sign_in(
        self, next_path: str | None, scopes: list[str] | None = None, prompt: str | None = None,
        claims_challenge: str | None = None,
    ) -> str:
        """Begin the auth-code flow; returns the URL to send the browser to.

        The flow (PKCE verifier, nonce, state) goes to the flow store under its `state`, never
        into a session (see `app/flows.py`); the browser's flow cookie lists it, so several tabs
        can sign in at once and an answer can be matched to a flow this browser started.
        `claims_challenge` (a step-up) goes to the tenant as the `claims` parameter, merged by
        MSAL with the app's CP1 capability.
        """
        flow = self.tenant.msal_app().initiate_auth_code_flow(
            scopes=list(scopes or []),
            redirect_uri=absolute_url(self.config.redirect_uri),
            prompt=prompt,
            response_mode=RESPONSE_MODE,
            claims_challenge=claims_challenge,
        )
        entry = {"flow": flow, "next": local_path(next_path) or "/", "started": time.time()}
        try:
            self.flows.add(flow["state"], entry)
        except FlowStoreFull as exc:
            raise Failure(SIGN_INS_FULL, 503, f"sign-in refused: {exc}") from exc
        states = [*self.browser_flows.states(request), flow["state"]]
        self._write_flow_cookie(states)
        return cast(str, flow["auth_uri"])

    def complete_sign_in(self, auth_response: Mapping[str, str]) -> str:
        """Redeem the provider's answer; on success the user is signed in in a new session.

        Returns the local path the user wanted. Raises `SignInFailed` (nothing from the response
        is kept), `AppMisconfigured` or `ProviderUnavailable`. The flow is used up either way:
        a second try with the same state fails.
        """
        entry = self._take_flow(auth_response.get("state"))
        claims, account_id, cache = self._redeem(entry, auth_response)
        self._begin_session(claims, account_id, cache)
        return cast(str, entry["next"])

    def _write_flow_cookie(self, states: list[str]) -> None:
        @after_this_request
        def write(response: Response) -> Response:
            self.browser_flows.write(response, states, request.is_secure)
            return response

    def _take_flow(self, state: object) -> dict[str, Any]:
        """The flow `state` names, if this browser started it; removed from store and cookie."""
        started_here = self.browser_flows.states(request)
        if not isinstance(state, str) or state not in started_here:
            if not started_here:
                raise SignInFailed(
                    "expired", "no sign-in was in progress (it expired or was already completed)"
                )
            raise SignInFailed("state", "the response does not match a sign-in started here")
        self._write_flow_cookie([s for s in started_here if s != state])
        entry = self.flows.take(state)
        if entry is None:
            raise SignInFailed("expired", "the sign-in attempt expired or was already completed")
        return entry

    def _redeem(
        self, entry: Mapping[str, Any], answer: Mapping[str, str]
    ) -> tuple[dict[str, Any], str, msal.SerializableTokenCache]:
        """Redeem the code of `answer` for `entry`'s flow and validate the ID token."""
        next_path, flow = entry["next"], entry["flow"]
        if time.time() - entry["started"] > self.flow_lifetime:
            raise SignInFailed("expired", "the sign-in attempt took too long", next_path)
        scopes = [s for s in flow.get("scope", []) if s in self.config.sign_in_scopes]
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
        """A new session id holding the user; the old session's token cache is deleted.

        A visitor's first session starts here: before, signing in stored nothing for them.
        """
        old_key = session.get(TOKENS_KEY)
        old_oid, old_sid = self.user_oid(), session.sid  # type: ignore[attr-defined]
        token_key = new_key()
        self.tokens.save(token_key, StoredTokens(1, trimmed(cache, self.config.sign_in_scopes)))
        current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]  # Flask-Session's
        kept = {key: session[key] for key in self.keep_at_sign_in if key in session}
        session.clear()
        session.update(kept)
        session[USER_KEY] = claims
        session[ACCOUNT_KEY] = account_id
        session[TOKENS_KEY] = token_key
        session[SIGNED_IN_AT_KEY] = session[SEEN_KEY] = self.clock()
        if valid_key(old_key):
            self.tokens.delete(old_key)
        if old_oid:
            self.index.remove(old_oid, old_sid)
        oid = self.user_oid()
        if oid:  # External ID's ID tokens always carry it
            entry = UserSession(session.sid, token_key, time.time())  # type: ignore[attr-defined]
            self.end_sessions(self.index.add(oid, entry))

    # --- the signed-in user -------------------------------------------------------------------

    def check_session_age(self) -> None:
        """Before each request: end a session past its absolute lifetime or idle too long.

        `SESSION_ABSOLUTE_HOURS` counts from sign-in and activity does not extend it;
        `SESSION_IDLE_MINUTES` counts from the last request. Activity is noted at most once
        a minute, so that a busy user's requests do not each write the session.
        """
        if self.user() is None:
            return
        now = self.clock()
        signed_in_at = session.get(SIGNED_IN_AT_KEY)
        seen = session.get(SEEN_KEY)
        if not isinstance(signed_in_at, float) or not isinstance(seen, float):
            ended = "without its times"  # a session from before these rules
        elif now - signed_in_at > self.config.session_absolute_hours * 3600:
            ended = "past its absolute lifetime"
        elif now - seen > self.config.session_idle_minutes * 60:
            ended = "idle too long"
        else:
            if now - seen > SEEN_RESOLUTION:
                session[SEEN_KEY] = now
            return
        current_app.logger.info("session ended: %s", ended)
        self._forget()

    def user(self) -> dict[str, Any] | None:
        """The validated ID-token claims of the signed-in user, or None."""
        claims = session.get(USER_KEY)
        return claims if isinstance(claims, dict) else None

    def user_oid(self) -> str | None:
        """The signed-in user's object id (the same in every app and session), or None."""
        oid = (self.user() or {}).get("oid")
        return oid if isinstance(oid, str) and oid else None

    def note_profile_change(self, name: str) -> None:
        """The user changed their display name (through Graph): this session shows the new one
        (the greeting, the claims page) without waiting for the next ID token."""
        claims = self.user()
        if claims is not None:
            session[USER_KEY] = {**claims, "name": name}

    def acquire_token(
        self, scopes: list[str], force_refresh: bool = False, claims_challenge: str | None = None
    ) -> str:
        """An access token for `scopes` from the session's token cache (refreshing when needed).

        A fresh cached token is returned without a lock or a write. Otherwise the refresh runs
        under the cache's lock in the token store, on the cache as re-read under that lock, so
        that of many concurrent requests (threads or processes) one redeems the refresh token
        and the others find its result. Raises `SignInRequired` when there is no user or the
        tenant needs them, another `app.failures` exception when the tenant refuses or fails.
        A `claims_challenge` (an API's, decoded) skips the cached access token, as MSAL does:
        the refresh token is redeemed with those claims, and a `SignInRequired` carries them.
        """
        token_key = session.get(TOKENS_KEY)
        account_id = session.get(ACCOUNT_KEY)
        if self.user() is None or not valid_key(token_key) or not isinstance(account_id, str):
            raise SignInRequired(scopes, "not signed in")
        if not force_refresh and claims_challenge is None:
            stored = self.tokens.load(token_key)
            token = fresh_access_token(stored, scopes, self.config.client_id, account_id)
            if token is not None:
                return token
        try:
            with self.tokens.locked(token_key):
                return self._refresh(token_key, account_id, scopes, force_refresh,
                                     claims_challenge)
        except TokenStoreBusy as exc:
            raise Failure(SIGN_IN_BUSY, 503, f"token refresh lock busy: {exc}") from exc
        except SignInRequired as exc:
            exc.claims = claims_challenge
            raise

    def _refresh(
        self, token_key: str, account_id: str, scopes: list[str], force_refresh: bool,
        claims_challenge: str | None,
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
                list(scopes), account, force_refresh=force_refresh,
                claims_challenge=claims_challenge,
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable.network(exc, None, "token refresh") from exc
        finally:
            if cache.has_state_changed:
                new = StoredTokens(
                    stored.version + 1, trimmed(cache, self.config.sign_in_scopes)
                )
                self.tokens.save(token_key, new)
        if result is None:
            raise SignInRequired(scopes, "no token for these scopes")
        if "access_token" in result:
            return cast(str, result["access_token"])
        raise refusal(result, scopes, self.tenant.facts, "token refresh")

    # --- signing out --------------------------------------------------------------------------

    def _forget(self) -> None:
        """The session emptied (Flask-Session then deletes it) and its token cache deleted.

        The deletion takes the cache's lock, so a refresh running meanwhile finishes first and
        its write-back is deleted too, never left behind for a signed-out session.
        """
        token_key = session.get(TOKENS_KEY)
        oid, sid = self.user_oid(), session.sid  # type: ignore[attr-defined]
        session.clear()
        if oid:
            self.index.remove(oid, sid)
        if valid_key(token_key):
            with self.tokens.locked(token_key):
                self.tokens.delete(token_key)

    def end_sessions(self, ended: list[UserSession]) -> None:
        """Delete these stored sessions and their token caches (other browsers of the user:
        their next request finds no session, so nobody is signed in there)."""
        for entry in ended:
            delete_stored_session(current_app, entry.sid)
            if valid_key(entry.token_key):
                with self.tokens.locked(entry.token_key):
                    self.tokens.delete(entry.token_key)

    def sign_out_everywhere(self) -> str:
        """End every session of the user in the store (this one too), then sign this browser
        out at the tenant: returns where to send it, as `sign_out`. The caller has revoked the
        user's sign-in sessions at the tenant first (Graph's revokeSignInSessions)."""
        oid = self.user_oid()
        if oid:
            current = session.sid  # type: ignore[attr-defined]
            self.end_sessions([e for e in self.index.take_all(oid) if e.sid != current])
        return self.sign_out()

    def sign_out(self) -> str:
        """Forget the user (the stored session is deleted) and return where to send the browser.

        That is the tenant's `end_session_endpoint` with our `post_logout_redirect_uri`, or the
        post-logout address itself when the tenant cannot be reached.
        """
        self._forget()
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
