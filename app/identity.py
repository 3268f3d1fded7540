"""Who the user is: MSAL's auth-code flow, ID-token validation, the per-session token cache.

One `Identity` per process (at `app.extensions["identity"]`) holds what every request shares:
MSAL's settings, one pooled `HttpClient`, one `http_cache`, the tenant's discovery document
(fetched once) and its signing keys. Each request builds a short-lived MSAL application around
the session's `SerializableTokenCache`; that costs no network, because MSAL's own discovery GET
is answered from the document `Identity` already holds.

MSAL checks `state` and `nonce` but not the ID token itself, so `complete_sign_in` validates it
(signature, `iss`, `aud`/`azp`, `exp`/`iat`/`nbf`, `sub`, `tid`, `nonce`) before anything from
the response reaches the session.

The token cache is not in the session but in `app.token_store` under a key the session holds,
so that concurrent requests of one user, on any thread or instance, refresh it once and never
write an older copy over a newer one (see `acquire_token` and `app/token_store.py`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast
from urllib.parse import urlencode, urlsplit

import msal
import requests
from flask import current_app, redirect, request, session, url_for

from app.token_store import (
    FileTokenStore,
    StoredTokens,
    TokenStore,
    TokenStoreBusy,
    new_key,
    valid_key,
)
from common.http import HttpClient
from common.oidc import (
    DiscoveryError,
    KeySet,
    KeySetUnavailable,
    TokenError,
    decode_rs256,
    discovery_url,
    fetch_discovery,
)
from common.settings import is_guid
from config import Config

# MSAL warns whenever response_mode is not form_post. We ask for `query` on purpose: a form_post
# from the provider's site is a cross-site POST, which does not carry our SameSite=Lax cookie.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")

FLOWS_KEY = "auth_flows"
USER_KEY = "user"
ACCOUNT_KEY = "account_id"
TOKENS_KEY = "token_key"  # the key of this session's token cache in the token store
# MSAL refreshes an access token that expires within 5 minutes; the lock-free path does too.
ACCESS_TOKEN_MARGIN = 300
FLOW_LIFETIME = 600.0
MAX_PENDING_FLOWS = 5
CLOCK_SKEW = 120.0
RESPONSE_MODE = "query"
# Errors after which only the user can help (by signing in again or consenting).
INTERACTION_ERRORS = frozenset(
    {"interaction_required", "consent_required", "invalid_grant", "login_required"}
)

F = TypeVar("F", bound=Callable[..., Any])


class SignInRequired(Exception):
    """No usable token without the user: not signed in, or the tenant wants them back."""

    def __init__(self, scopes: list[str], reason: str) -> None:
        super().__init__(reason)
        self.scopes = list(scopes)
        self.reason = reason


class IdentityProviderUnavailable(Exception):
    """The tenant could not be reached, was too slow, or answered something unusable.

    `status` is the HTTP status that fits: 503 unreachable, 504 too slow, 502 bad answer.
    The message is safe to show (no tokens, no secrets).
    """

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


class SignInFailed(Exception):
    """A sign-in attempt ended without a signed-in user.

    `kind` is one of `cancelled`, `provider`, `state`, `expired`, `id_token`; `detail` is a
    safe, short description for the page and the log; `next_path` is where the user wanted to
    go, so that "try again" can lead there.
    """

    def __init__(self, kind: str, detail: str, next_path: str = "/") -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.next_path = next_path


def _unavailable(exc: requests.RequestException, what: str) -> IdentityProviderUnavailable:
    if isinstance(exc, requests.Timeout):
        return IdentityProviderUnavailable(f"the sign-in service did not answer in time ({what})",
                                           504)
    return IdentityProviderUnavailable(f"the sign-in service could not be reached ({what})", 503)


class _DiscoveryResponse:
    """The shape of response MSAL reads (status_code, text, headers) for the known document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.status_code = 200
        self.text = json.dumps(document)
        self.headers: dict[str, str] = {"content-type": "application/json"}


class _MsalHttp:
    """The HTTP client MSAL gets: the shared pool, with tenant discovery answered from memory."""

    def __init__(self, identity: Identity) -> None:
        self._identity = identity
        self._discovery_url = discovery_url(identity.config.authority)

    def get(self, url: str, **kwargs: Any) -> Any:
        if url == self._discovery_url:
            return _DiscoveryResponse(self._identity.discovery())
        return self._identity.http.get(url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._identity.http.post(url, **kwargs)

    def close(self) -> None:
        """The pool outlives every per-request MSAL application; nothing to close here."""


def local_path(value: str | None) -> str | None:
    """`value` if it is a path on this site (`/x?y`), else None: no `//host`, no scheme, no `\\`."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def absolute_url(address: str) -> str:
    """`address` as configured, or for a path (`/auth/redirect`) the URL on this request's host.

    The scheme and host are the request's as WSGI sees them: behind a proxy they are the public
    ones only when `TRUSTED_PROXY_HOPS` lets ProxyFix apply the proxy's forwarded headers.
    """
    if address.startswith("/"):
        return request.host_url.rstrip("/") + address
    return address


def request_path() -> str:
    """The current request's path and query, as a return address."""
    query = request.query_string.decode("latin-1")
    return f"{request.path}?{query}" if query else request.path


class Identity:
    """The process-wide sign-in machinery; per-request state lives in the Flask session."""

    def __init__(self, config: Config, tokens: TokenStore | None = None) -> None:
        self.config = config
        self.tokens: TokenStore = tokens or FileTokenStore(
            config.instance_dir / "tokens", 12 * 3600
        )
        self.http = HttpClient(ca_file=config.ca_file, timeout=config.tenant_timeout)
        self.http_cache: dict[Any, Any] = {}
        self._lock = threading.Lock()
        self._discovery: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        # Session keys that survive signing in (features add theirs: a draft kept while the
        # user signs in again for a scope, say). Everything else from before is dropped.
        self.keep_at_sign_in: set[str] = set()
        self._msal_settings: dict[str, Any] = {
            "client_id": config.client_id,
            "client_credential": config.client_credential,
            "authority": config.authority,
            "http_client": _MsalHttp(self),
            "http_cache": self.http_cache,
            "instance_discovery": False,
        }

    # --- the tenant -------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        """The tenant's discovery document, fetched once per process (a failure is retried)."""
        doc = self._discovery
        if doc is not None:
            return doc
        with self._lock:
            if self._discovery is None:
                try:
                    self._discovery = fetch_discovery(self.http, self.config.authority)
                except DiscoveryError as exc:
                    raise _discovery_unavailable(exc) from exc
            return self._discovery

    def keys(self) -> KeySet:
        doc = self.discovery()
        with self._lock:
            if self._keys is None:
                self._keys = KeySet(
                    self.http, doc["jwks_uri"], self.config.jwks_min_refresh_seconds
                )
            return self._keys

    def expected_tenant_id(self) -> str | None:
        """The configured tenant GUID, or the one the discovered issuer names."""
        if self.config.tenant_id:
            return self.config.tenant_id
        first = urlsplit(self.discovery()["issuer"]).path.strip("/").split("/")[0]
        return first if is_guid(first) else None

    def _msal_app(self, cache: msal.SerializableTokenCache) -> msal.ConfidentialClientApplication:
        self.discovery()
        try:
            return msal.ConfidentialClientApplication(token_cache=cache, **self._msal_settings)
        except requests.RequestException as exc:
            raise _unavailable(exc, "discovery") from exc
        except ValueError as exc:
            raise IdentityProviderUnavailable(
                "the sign-in service's configuration is unusable", 502
            ) from exc

    # --- signing in ---------------------------------------------------------------------------

    def start_sign_in(
        self, next_path: str | None, scopes: list[str] | None = None, prompt: str | None = None
    ) -> str:
        """Begin the auth-code flow; returns the URL to send the browser to.

        The flow (PKCE verifier, nonce, state) stays in the server-side session, keyed by its
        `state`, so several tabs can sign in at once and a response can be matched to its flow.
        """
        app = self._msal_app(msal.SerializableTokenCache())
        flow = app.initiate_auth_code_flow(
            scopes=list(scopes or []),
            redirect_uri=absolute_url(self.config.redirect_uri),
            prompt=prompt,
            response_mode=RESPONSE_MODE,
        )
        flows = dict(session.get(FLOWS_KEY) or {})
        now = time.time()
        flows = {
            state: entry for state, entry in flows.items()
            if now - entry.get("started", 0) < FLOW_LIFETIME
        }
        while len(flows) >= MAX_PENDING_FLOWS:
            oldest = min(flows, key=lambda s: flows[s]["started"])
            del flows[oldest]
        flows[flow["state"]] = {"flow": flow, "next": local_path(next_path) or "/", "started": now}
        session[FLOWS_KEY] = flows
        return flow["auth_uri"]

    def complete_sign_in(self, auth_response: Mapping[str, str]) -> str:
        """Redeem the provider's answer; on success the user is signed in in a new session.

        Returns the local path the user wanted. Raises `SignInFailed` (nothing from the response
        is kept) or `IdentityProviderUnavailable`.
        """
        flows = dict(session.get(FLOWS_KEY) or {})
        state = auth_response.get("state")
        entry = flows.pop(state, None) if isinstance(state, str) else None
        if entry is None:
            if not flows:
                raise SignInFailed(
                    "expired", "no sign-in was in progress (it expired or was already completed)"
                )
            raise SignInFailed("state", "the response does not match a sign-in started here")
        try:
            claims, account_id, cache = self._redeem(entry, auth_response)
        except BaseException:
            # The flow is used up either way: a second try with the same state must fail too.
            if flows:
                session[FLOWS_KEY] = flows
            else:
                session.pop(FLOWS_KEY, None)
            raise
        # Signed in. The session still holds the flow, so it is not empty and gets a new id.
        old_key = session.get(TOKENS_KEY)
        token_key = new_key()
        self.tokens.save(token_key, StoredTokens(1, self._trimmed(cache)))
        current_app.session_interface.regenerate(session)  # type: ignore[attr-defined]
        kept = {key: session[key] for key in self.keep_at_sign_in if key in session}
        session.clear()
        session.update(kept)
        session[USER_KEY] = claims
        session[ACCOUNT_KEY] = account_id
        session[TOKENS_KEY] = token_key
        if valid_key(old_key):
            self.tokens.delete(old_key)
        return cast(str, entry["next"])

    def _redeem(
        self, entry: Mapping[str, Any], auth_response: Mapping[str, str]
    ) -> tuple[dict[str, Any], str, msal.SerializableTokenCache]:
        """Check the response against its flow, redeem the code and validate the ID token."""
        next_path = entry["next"]
        if time.time() - entry["started"] > FLOW_LIFETIME:
            raise SignInFailed("expired", "the sign-in attempt took too long", next_path)
        error = auth_response.get("error")
        if error:
            kind = "cancelled" if error == "access_denied" else "provider"
            raise SignInFailed(kind, _provider_error(auth_response), next_path)
        flow = entry["flow"]
        cache = msal.SerializableTokenCache()
        app = self._msal_app(cache)
        try:
            result = app.acquire_token_by_auth_code_flow(dict(flow), dict(auth_response))
        except requests.RequestException as exc:
            raise _unavailable(exc, "token") from exc
        except ValueError as exc:
            detail = "the response does not match its sign-in"
            raise SignInFailed("state", detail, next_path) from exc
        except RuntimeError as exc:
            # MSAL's nonce check; it fails after the tokens reached `cache`, which we drop.
            detail = "the ID token's nonce does not match"
            raise SignInFailed("id_token", detail, next_path) from exc
        if "error" in result:
            raise SignInFailed("provider", _provider_error(result), next_path)
        try:
            claims = self.validate_id_token(result.get("id_token"), flow["nonce"])
        except KeySetUnavailable as exc:
            raise IdentityProviderUnavailable(
                "the sign-in service's signing keys could not be fetched", 503
            ) from exc
        except TokenError as exc:
            raise SignInFailed("id_token", str(exc), next_path) from exc
        accounts = app.get_accounts()
        if len(accounts) != 1:
            raise SignInFailed("id_token", "the response names no single account", next_path)
        return claims, accounts[0]["home_account_id"], cache

    def _trimmed(self, cache: msal.SerializableTokenCache) -> str:
        """The cache serialized without what this app never reads back from it.

        The raw ID token (its validated claims are in the session) and access tokens for other
        resources (a sign-in without API scopes brings one for Microsoft Graph, as Entra does)
        are about 3 KB of every user's stored state, read on every request.
        """
        for idt in list(cache.search(msal.TokenCache.CredentialType.ID_TOKEN)):
            cache.remove_idt(idt)
        wanted = set(self.config.api_scopes)
        for at in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            if not wanted.intersection(at.get("target", "").split()):
                cache.remove_at(at)
        return cache.serialize()

    def validate_id_token(self, id_token: Any, flow_nonce: str) -> dict[str, Any]:
        """The ID token's claims if it passes every rule in security.md (raises TokenError)."""
        if not isinstance(id_token, str) or not id_token:
            raise TokenError("the response carries no ID token")
        client_id = self.config.client_id
        claims = decode_rs256(
            id_token,
            self.keys(),
            issuer=self.discovery()["issuer"],
            audience=client_id,
            leeway=CLOCK_SKEW,
            require=("exp", "iat", "iss", "aud", "sub"),
        )
        aud = claims["aud"]
        if isinstance(aud, list) and (len(aud) != 1 or claims.get("azp") != client_id):
            raise TokenError("the ID token has several audiences and azp is not this app")
        if "azp" in claims and claims["azp"] != client_id:
            raise TokenError("the ID token's azp is not this app")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise TokenError("the ID token's sub is empty")
        tenant = self.expected_tenant_id()
        if tenant is not None and claims.get("tid") != tenant:
            raise TokenError("the ID token's tid is not the configured tenant")
        expected_nonce = hashlib.sha256(flow_nonce.encode("ascii")).hexdigest()
        if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(
            claims["nonce"], expected_nonce
        ):
            raise TokenError("the ID token's nonce does not match")
        return claims

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
        and the others find its result.

        Raises `SignInRequired` when there is no user or the tenant needs them, and
        `IdentityProviderUnavailable` when the tenant cannot be reached or refuses the app.
        """
        token_key = session.get(TOKENS_KEY)
        account_id = session.get(ACCOUNT_KEY)
        if self.user() is None or not valid_key(token_key) or not isinstance(account_id, str):
            raise SignInRequired(scopes, "not signed in")
        if not force_refresh:
            token = self._fresh_access_token(self.tokens.load(token_key), scopes, account_id)
            if token is not None:
                return token
        try:
            with self.tokens.locked(token_key):
                return self._acquire_locked(token_key, account_id, scopes, force_refresh)
        except TokenStoreBusy as exc:
            raise IdentityProviderUnavailable(
                "another request is still refreshing your sign-in", 503
            ) from exc

    def _fresh_access_token(
        self, stored: StoredTokens, scopes: list[str], account_id: str
    ) -> str | None:
        """A cached access token for `scopes` that MSAL would return without refreshing."""
        if stored.cache is None:
            return None
        cache = msal.SerializableTokenCache()
        cache.deserialize(stored.cache)
        now = time.time()
        for entry in cache.search(
            msal.TokenCache.CredentialType.ACCESS_TOKEN,
            target=list(scopes),
            query={"client_id": self.config.client_id, "home_account_id": account_id},
        ):
            if int(entry["expires_on"]) - now < ACCESS_TOKEN_MARGIN:
                continue
            if "refresh_on" in entry and int(entry["refresh_on"]) < now:
                continue
            return cast(str, entry["secret"])
        return None

    def _acquire_locked(
        self, token_key: str, account_id: str, scopes: list[str], force_refresh: bool
    ) -> str:
        """MSAL's silent acquisition on the stored cache; the caller holds its lock."""
        stored = self.tokens.load(token_key)
        if stored.cache is None:
            raise SignInRequired(scopes, "the session's tokens are gone")
        cache = msal.SerializableTokenCache()
        cache.deserialize(stored.cache)
        app = self._msal_app(cache)
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
            raise _unavailable(exc, "token") from exc
        finally:
            if cache.has_state_changed:
                self.tokens.save(token_key, StoredTokens(stored.version + 1, self._trimmed(cache)))
        if result is None:
            raise SignInRequired(scopes, "no token for these scopes")
        if "access_token" in result:
            return cast(str, result["access_token"])
        error = result.get("error", "")
        if result.get("suberror") == "consent_required":
            # Entra says invalid_grant + suberror; the reason callers act on is the consent.
            raise SignInRequired(scopes, "consent_required")
        if error in INTERACTION_ERRORS:
            raise SignInRequired(scopes, error)
        raise IdentityProviderUnavailable(f"the sign-in service refused a token ({error})", 502)

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
        try:
            endpoint = self.discovery().get("end_session_endpoint")
        except IdentityProviderUnavailable:
            endpoint = None
        if not isinstance(endpoint, str) or urlsplit(endpoint).scheme not in ("http", "https"):
            return absolute_url(self.config.post_logout_redirect_uri)
        query = urlencode(
            {
                "post_logout_redirect_uri": absolute_url(self.config.post_logout_redirect_uri),
                "client_id": self.config.client_id,
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def _discovery_unavailable(exc: DiscoveryError) -> IdentityProviderUnavailable:
    cause = exc.__cause__
    if isinstance(cause, requests.Timeout):
        return IdentityProviderUnavailable("the sign-in service did not answer in time", 504)
    if isinstance(cause, requests.RequestException):
        return IdentityProviderUnavailable("the sign-in service could not be reached", 503)
    return IdentityProviderUnavailable("the sign-in service answered something unusable", 502)


def _provider_error(response: Mapping[str, Any]) -> str:
    """`error: description`, shortened; descriptions are the provider's text, never tokens."""
    error = str(response.get("error", "error"))[:64]
    description = str(response.get("error_description") or "")[:300]
    return f"{error}: {description}" if description else error


def current_identity() -> Identity:
    return cast(Identity, current_app.extensions["identity"])


def login_required(view: F) -> F:
    """A signed-out visit redirects to `/auth/signin?next=<this page>`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_identity().user() is None:
            return redirect(url_for("auth.signin", next=request_path()))
        return view(*args, **kwargs)

    return cast(F, wrapper)
