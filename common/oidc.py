"""External ID authorities, OpenID discovery, and a signing-key cache for JWT validation."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import jwt
import requests

CIAM_SUFFIX = ".ciamlogin.com"
# A DNS label: what External ID puts before .ciamlogin.com (the tenant name, e.g. contoso).
TENANT_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.IGNORECASE)
REQUIRED_DISCOVERY_KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")

log = logging.getLogger(__name__)


class DiscoveryError(Exception):
    """The tenant's discovery document could not be fetched or does not fit the authority."""


class TokenError(Exception):
    """A JWT failed validation; the message says why (safe to log: no token contents)."""


class KeySetUnavailable(TokenError):
    """The tenant's key set could not be fetched: the token could not be checked at all."""


def resolve_authority(authority: str | None = None, subdomain: str | None = None) -> str:
    """The tenant-qualified authority URL (no trailing slash) that MSAL and discovery use.

    `https://contoso.ciamlogin.com/` (or TENANT_SUBDOMAIN=contoso) becomes
    `https://contoso.ciamlogin.com/contoso.onmicrosoft.com`, as MSAL itself does for CIAM hosts.
    Any other https authority (a custom domain, the local tenant) must name its tenant in the path.
    `authority` wins over `subdomain`, which must be a bare tenant name (`check_subdomain`).
    """
    if authority:
        raw = authority.strip()
    elif subdomain:
        raw = f"https://{check_subdomain(subdomain)}{CIAM_SUFFIX}/"
    else:
        raise ValueError("either AUTHORITY or TENANT_SUBDOMAIN is needed")
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("the authority must be an https URL")
    host = parts.hostname
    path = parts.path.strip("/")
    if not path:
        if not host.endswith(CIAM_SUFFIX):
            raise ValueError("an authority outside ciamlogin.com must name the tenant in its path")
        path = host[: -len(CIAM_SUFFIX)] + ".onmicrosoft.com"
    return f"https://{parts.netloc}/{path}"


def check_subdomain(subdomain: str) -> str:
    """`subdomain` stripped, if it is a bare tenant name (one DNS label: `contoso`).

    Otherwise a ValueError whose message is the fix: a host or URL pasted here would become
    `https://contoso.ciamlogin.com.ciamlogin.com/...`, a tenant that does not exist.
    """
    name = subdomain.strip()
    if TENANT_LABEL.fullmatch(name):
        return name
    host = _host_of(name)
    label = host.split(".", 1)[0]
    if host.endswith((CIAM_SUFFIX, ".onmicrosoft.com")) and TENANT_LABEL.fullmatch(label):
        raise ValueError(
            f"TENANT_SUBDOMAIN must be the bare tenant name: use `{label}`, not `{name}`"
        )
    raise ValueError(
        "TENANT_SUBDOMAIN must be the bare tenant name (`contoso` for contoso.ciamlogin.com); "
        "a custom URL domain goes in AUTHORITY, with the tenant in its path"
    )


def _host_of(text: str) -> str:
    """The host part of a URL or of `host/path` (lower case; "" when there is none)."""
    if "://" not in text:
        text = "//" + text
    try:
        return urlsplit(text).hostname or ""
    except ValueError:  # e.g. an unbalanced "[" taken for an IPv6 address
        return ""


def discovery_url(authority: str) -> str:
    return f"{authority}/v2.0/.well-known/openid-configuration"


def issuer_belongs_to(issuer: str, authority: str) -> bool:
    """Whether a discovered issuer is one this authority may legitimately announce.

    External ID's issuer host is `<tenant-guid>.ciamlogin.com` even when the authority uses the
    tenant-name subdomain or a custom domain; any other authority must issue from its own host.
    """
    iss, auth = urlsplit(issuer), urlsplit(authority)
    if iss.scheme != "https" or not iss.hostname:
        return False
    if iss.hostname.endswith(CIAM_SUFFIX):
        return True
    return iss.netloc == auth.netloc


def fetch_discovery(http: Any, authority: str) -> dict[str, Any]:
    """GET and check the discovery document of `authority` (raises DiscoveryError).

    `http` is a `requests.Session` or anything with its `get()` returning `status_code` and
    `text` (MSAL's caching client, say).
    """
    url = discovery_url(authority)
    try:
        resp = http.get(url)
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise DiscoveryError(f"the tenant at {url} could not be reached ({reason})") from exc
    if resp.status_code != 200:
        raise DiscoveryError(f"the tenant answered {resp.status_code} for {url}")
    try:
        doc = json.loads(resp.text)
    except ValueError as exc:
        raise DiscoveryError(f"the tenant's discovery document at {url} is not JSON") from exc
    if not isinstance(doc, dict):
        raise DiscoveryError(f"the tenant's discovery document at {url} is not a JSON object")
    missing = [k for k in REQUIRED_DISCOVERY_KEYS if not isinstance(doc.get(k), str)]
    if missing:
        raise DiscoveryError(f"the discovery document lacks {', '.join(missing)}")
    if not issuer_belongs_to(doc["issuer"], authority):
        raise DiscoveryError("the discovered issuer does not belong to the configured authority")
    return doc


class _Fetch:
    """One fetch of the key set in progress; lookups that miss meanwhile wait for its outcome."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: str | None = None  # why it failed (a `KeySetUnavailable` message)


class KeySet:
    """The tenant's signing keys, fetched once and re-fetched only on an unknown `kid`.

    Re-fetches are rate-limited (`min_refresh_interval` seconds) so that tokens with made-up
    `kid`s cannot make us hammer the key endpoint. Thread-safe, and no lock is held while the
    endpoint answers: a lookup of a known key never waits for a fetch, and lookups that miss
    while a fetch is in progress wait for that fetch instead of starting their own.

    `version` counts the changes of the key set (not the fetches): a re-fetch that brings the
    same keys leaves it as it is, so whatever was verified against the old set still holds.
    """

    def __init__(
        self,
        http: requests.Session,
        jwks_uri: str,
        min_refresh_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._uri = jwks_uri
        self._interval = min_refresh_interval
        self._clock = clock
        # Guards the fields below for a few instructions at a time; never held during a fetch.
        self._lock = threading.Lock()
        # Replaced as a whole by each successful fetch (never changed in place), so a lookup
        # may read it without the lock.
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._entries: dict[str | None, str] = {}  # each key's JWK as canonical JSON
        self._fetched_at: float | None = None
        self._fetching: _Fetch | None = None
        self.version = 0

    def load(self) -> int:
        """Fetch the key set now (e.g. at start-up); returns how many usable keys it holds.

        A fetch already in progress counts as this one. Raises `KeySetUnavailable`."""
        with self._lock:
            fetch = self._fetching
            mine = fetch is None
            if fetch is None:
                fetch = self._begin()
        self._complete(fetch, mine)
        return len(self._keys)

    def get(self, kid: str | None) -> jwt.PyJWK:
        """The key for `kid`; with no `kid`, the only key (a set of several is ambiguous).

        An unknown `kid` re-fetches the key set (at most once per `min_refresh_interval`;
        raises `KeySetUnavailable` if that fetch fails, `TokenError` if the key is not in it).
        """
        key = _lookup(self._keys, kid)
        if key is not None:
            return key
        with self._lock:
            key = _lookup(self._keys, kid)  # a fetch may have completed since the first look
            fetch = self._fetching
            mine = fetch is None
            if key is None and fetch is None and self._may_refresh():
                fetch = self._begin()
        if key is None and fetch is not None:
            self._complete(fetch, mine)
            key = _lookup(self._keys, kid)
        if key is None:
            raise TokenError("the token's signing key is not one of the tenant's keys")
        return key

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._interval

    def _begin(self) -> _Fetch:
        """Record a new fetch as the one in progress (called with the lock held)."""
        self._fetched_at = self._clock()
        self._fetching = _Fetch()
        return self._fetching

    def _complete(self, fetch: _Fetch, mine: bool) -> None:
        """Run `fetch` (when `mine`) or wait for the thread that does; raise its failure."""
        if not mine:
            log.debug("waiting for the key-set fetch in progress at %s", self._uri)
            fetch.done.wait()
            if fetch.error is not None:
                raise KeySetUnavailable(fetch.error)
            return
        try:
            keys, entries = self._download()
        except Exception as exc:
            fetch.error = (
                str(exc) if isinstance(exc, KeySetUnavailable)
                else f"the signing keys could not be fetched ({type(exc).__name__})"
            )
            raise
        else:
            with self._lock:
                if entries != self._entries:
                    self.version += 1
                self._keys, self._entries = keys, entries
        finally:
            with self._lock:
                self._fetching = None
            fetch.done.set()

    def _download(self) -> tuple[dict[str | None, jwt.PyJWK], dict[str | None, str]]:
        """The usable keys at the endpoint, by `kid`, and each one's JWK as canonical JSON."""
        try:
            resp = self._http.get(self._uri)
            resp.raise_for_status()
            data = resp.json()
        except (requests.RequestException, ValueError) as exc:
            reason = type(exc).__name__
            raise KeySetUnavailable(f"the signing keys could not be fetched ({reason})") from exc
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise KeySetUnavailable("the tenant's key set is not a JWKS document")
        keys: dict[str | None, jwt.PyJWK] = {}
        entries: dict[str | None, str] = {}
        for entry in data["keys"]:
            if not isinstance(entry, dict):
                continue
            if entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
                continue
            try:
                keys[entry.get("kid")] = jwt.PyJWK(entry, algorithm="RS256")
            except jwt.PyJWTError:
                continue
            entries[entry.get("kid")] = json.dumps(entry, sort_keys=True)
        return keys, entries


def _lookup(keys: dict[str | None, jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
    if kid is None:
        return next(iter(keys.values())) if len(keys) == 1 else None
    return keys.get(kid)


FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "crit")
TIME_CLAIMS = ("exp", "nbf", "iat")


def decode_rs256(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    audience: str,
    leeway: float = 120.0,
    require: tuple[str, ...] = ("exp", "iat", "iss", "aud", "sub"),
) -> dict[str, Any]:
    """Verify an RS256 JWT signed by the tenant and return its claims (raises TokenError).

    Refuses every algorithm but RS256, and headers that point at other keys (`jku`, `x5u`,
    `jwk`) or demand extensions we do not implement (`crit`). `exp`, `iat` and `nbf` must be
    JSON numbers when present and are checked with `leeway` seconds of clock skew; `iat` may not
    be in the future. `require` names the claims that must be present.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError("the token is not a well-formed JWT") from exc
    if header.get("alg") != "RS256":
        raise TokenError("the token is not signed with RS256")
    for name in FORBIDDEN_HEADERS:
        if name in header:
            raise TokenError(f"the token's header carries '{name}', which is not accepted")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenError("the token's kid is not a string")
    key = keys.get(kid)
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=["RS256"],
            audience=audience,
            issuer=issuer,
            leeway=leeway,
            options={"require": list(require), "verify_iat": True},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"the token is invalid ({type(exc).__name__})") from exc
    # PyJWT compares int(value): it takes "1999999999" and true for times. JSON numbers only.
    for name in TIME_CLAIMS:
        if name in claims and not _is_number(claims[name]):
            raise TokenError(f"the token's {name} is not a number")
    iat = claims.get("iat")
    if not _is_number(iat) or iat > time.time() + leeway:
        raise TokenError("the token's iat is missing, not a number, or in the future")
    return claims


def _is_number(value: Any) -> TypeGuard[int | float]:
    """A JSON number: an int or a finite float, not a bool (which Python counts as an int)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def validate_id_token(
    id_token: Any,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    tenant_id: str | None,
    nonce: str,
    leeway: float = 120.0,
) -> dict[str, Any]:
    """The ID token's claims if it passes every rule of docs/security.md (raises TokenError).

    MSAL checks `state` and `nonce` of an auth-code response but not the ID token itself:
    signature (RS256, a key of the tenant), `iss`, `aud` (and `azp` when there are several
    audiences or it is present), `exp`/`iat`/`nbf` with `leeway`, a non-empty `sub`, `tid`
    (when the tenant is known) and `nonce` (MSAL sends the SHA-256 of the flow's nonce).
    """
    if not isinstance(id_token, str) or not id_token:
        raise TokenError("the response carries no ID token")
    claims = decode_rs256(id_token, keys, issuer=issuer, audience=client_id, leeway=leeway)
    aud = claims["aud"]
    if isinstance(aud, list) and (len(aud) != 1 or claims.get("azp") != client_id):
        raise TokenError("the ID token has several audiences and azp is not this app")
    if "azp" in claims and claims["azp"] != client_id:
        raise TokenError("the ID token's azp is not this app")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise TokenError("the ID token's sub is empty")
    if tenant_id is not None and claims.get("tid") != tenant_id:
        raise TokenError("the ID token's tid is not the configured tenant")
    expected = hashlib.sha256(nonce.encode("ascii")).hexdigest()
    given = claims.get("nonce")
    if not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise TokenError("the ID token's nonce does not match")
    return claims
