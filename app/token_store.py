"""Where a signed-in session's MSAL token cache lives, and the lock that serialises its refresh.

Why not in the Flask session itself: Flask-Session writes the whole session at the end of a
request, so a request that loaded an older token cache and changed something else (a flash
message, a pending sign-in flow) would write that old cache back over a newer one, and every
instance or thread that finds an expired access token would redeem the refresh token on its own.

So the session holds only a random *token key*; the cache is stored under that key, next to the
sessions (Redis, or files under the instance directory), with a version number. The rules, kept
by `app.identity.Identity.acquire_token` with the helpers at the end of this module:

- Reading needs no lock: a cache with a fresh access token for the scopes is used as read (the
  hot path: one GET or one file read, no lock, no write).
- Changing it (a refresh) happens only under the per-key lock: take the lock, read the cache
  again (another thread or process may have refreshed it meanwhile, in which case MSAL finds
  the fresh token and does nothing), let MSAL refresh, write it back with version + 1, release.
  Every write happens under the lock, after a read under the same lock, so no write can replace
  a newer cache with an older one.

The Redis store uses redis-py's `Lock` (`SET NX PX` with a random token; released by a Lua script
that deletes only its own token); the file store uses `fcntl.flock` on a per-key lock file,
which excludes other processes and other threads of this one (each opens its own descriptor).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeGuard

import msal
import redis

from app.file_store import SweptDirectory
from common.settings import write_private

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
REDIS_PREFIX = "todo_tokens:"
LOCK_TTL_SECONDS = 30.0  # a lock outlives a crashed holder by at most this long
LOCK_WAIT_SECONDS = 30.0  # longer than a refresh can take (the tenant's read timeout)
# MSAL refreshes an access token that expires within 5 minutes; the lock-free path does too.
ACCESS_TOKEN_MARGIN = 300


class TokenStoreBusy(Exception):
    """The lock of a token cache could not be taken in time (another refresh hangs)."""


@dataclass(frozen=True)
class StoredTokens:
    """A token cache as stored: MSAL's serialized cache (None: nothing stored) and its version."""

    version: int
    cache: str | None


def new_key() -> str:
    """A random key for a new session's token cache (not derived from the user or session id)."""
    return secrets.token_urlsafe(24)


def valid_key(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and KEY_PATTERN.match(value) is not None


def _decode(raw: bytes | str | None) -> StoredTokens:
    if not raw:
        return StoredTokens(0, None)
    try:
        data = json.loads(raw)
        return StoredTokens(int(data["v"]), str(data["cache"]))
    except (ValueError, KeyError, TypeError):
        return StoredTokens(0, None)


def _encode(tokens: StoredTokens) -> str:
    return json.dumps({"v": tokens.version, "cache": tokens.cache})


class TokenStore(Protocol):
    def load(self, key: str) -> StoredTokens: ...

    def save(self, key: str, tokens: StoredTokens) -> None:
        """Write `tokens`; callers hold `locked(key)` (except for a brand-new key)."""

    def delete(self, key: str) -> None: ...

    def locked(self, key: str) -> contextlib.AbstractContextManager[None]: ...

    def ping(self) -> None:
        """Raise if the store cannot be used (for /readyz)."""


class RedisTokenStore:
    """Token caches in Redis at `todo_tokens:<key>`, expiring `lifetime` seconds after a write."""

    def __init__(self, client: redis.Redis, lifetime: float) -> None:
        self.client = client
        self.lifetime = int(lifetime)

    def load(self, key: str) -> StoredTokens:
        return _decode(self.client.get(REDIS_PREFIX + key))

    def save(self, key: str, tokens: StoredTokens) -> None:
        self.client.set(REDIS_PREFIX + key, _encode(tokens), ex=self.lifetime)

    def delete(self, key: str) -> None:
        self.client.delete(REDIS_PREFIX + key)

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        lock = self.client.lock(
            f"{REDIS_PREFIX}{key}:lock",
            timeout=LOCK_TTL_SECONDS,
            sleep=0.02,
            blocking_timeout=LOCK_WAIT_SECONDS,
        )
        if not lock.acquire():
            raise TokenStoreBusy("another refresh of these tokens did not finish in time")
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()

    def ping(self) -> None:
        self.client.ping()


class TokenFilesUnavailable(Exception):
    """The token files cannot be written (a full disk, a directory without permission): the
    request gets the store's 503 page, and the log names the directory and the error."""

    def __init__(self, directory: Path, exc: OSError) -> None:
        super().__init__(f"token files under {directory}: {exc.strerror or exc}")


class FileTokenStore(SweptDirectory):
    """Token caches as files `<dir>/<key>.json` (0600), locked with `<dir>/<key>.lock`.

    A file older than `lifetime` seconds counts as absent (its session has expired too), and is
    swept (`SweptDirectory`).
    """

    def _path(self, key: str, suffix: str) -> Path:
        if not valid_key(key):
            raise ValueError("not a token key")
        return self.directory / f"{key}{suffix}"

    def load(self, key: str) -> StoredTokens:
        path = self._path(key, ".json")
        try:
            if time.time() - path.stat().st_mtime > self.lifetime:
                return StoredTokens(0, None)
            return _decode(path.read_text())
        except FileNotFoundError:
            return StoredTokens(0, None)

    def save(self, key: str, tokens: StoredTokens) -> None:
        # Readers see the old or the new file, never half of one.
        try:
            write_private(self._path(key, ".json"), _encode(tokens))
        except OSError as exc:
            raise TokenFilesUnavailable(self.directory, exc) from exc
        self.sweep_if_due()

    def delete(self, key: str) -> None:
        for suffix in (".json", ".lock"):
            with contextlib.suppress(FileNotFoundError):
                self._path(key, suffix).unlink()

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        try:
            fd = os.open(self._path(key, ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise TokenFilesUnavailable(self.directory, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def ping(self) -> None:
        if not os.access(self.directory, os.W_OK):
            raise OSError(f"{self.directory} is not writable")


# --- reading and writing the cache ---------------------------------------------------------


def cache_of(stored: StoredTokens) -> msal.SerializableTokenCache | None:
    """The stored cache as MSAL's object, or None when nothing is stored."""
    if stored.cache is None:
        return None
    cache = msal.SerializableTokenCache()
    cache.deserialize(stored.cache)
    return cache


def fresh_access_token(
    stored: StoredTokens, scopes: list[str], client_id: str, account_id: str
) -> str | None:
    """A cached access token for `scopes` that MSAL would return without refreshing.

    This is the hot path of every page: no lock, no write, no MSAL application.
    """
    cache = cache_of(stored)
    if cache is None:
        return None
    now = time.time()
    for entry in cache.search(
        msal.TokenCache.CredentialType.ACCESS_TOKEN,
        target=list(scopes),
        query={"client_id": client_id, "home_account_id": account_id},
    ):
        if int(entry["expires_on"]) - now < ACCESS_TOKEN_MARGIN:
            continue
        if "refresh_on" in entry and int(entry["refresh_on"]) < now:
            continue
        return str(entry["secret"])
    return None


def trimmed(cache: msal.SerializableTokenCache, wanted_scopes: list[str]) -> str:
    """The cache serialized without what this app never reads back from it.

    The raw ID token (its validated claims are in the session) and access tokens for other
    resources (a sign-in without API scopes brings one for Microsoft Graph, as Entra does)
    are about 3 KB of every user's stored state, read on every request.
    """
    for idt in list(cache.search(msal.TokenCache.CredentialType.ID_TOKEN)):
        cache.remove_idt(idt)
    wanted = set(wanted_scopes)
    for at in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
        if not wanted.intersection(at.get("target", "").split()):
            cache.remove_at(at)
    return cache.serialize()
