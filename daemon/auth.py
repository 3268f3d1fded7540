"""App tokens from the tenant (MSAL client-credentials grant), optionally cached in a file.

MSAL keeps app tokens in its token cache and answers from it until they near expiry. Without
`TOKEN_CACHE_FILE` that cache lives for one run; with it, the cache is read at start and written
back (atomically, mode 0600) whenever MSAL changed it, so a script that runs the daemon many
times asks the tenant for a token only when the cached one is about to expire.
"""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import msal
import requests

from common.settings import write_private
from daemon.config import Config
from daemon.errors import DaemonError, unreachable

SECRET_CODES = {
    7000215: "the tenant refused the client secret (AADSTS7000215: invalid client secret); "
    "check CLIENT_SECRET",
    7000222: "the client secret has expired (AADSTS7000222); create a new one and set "
    "CLIENT_SECRET",
}
CLIENT_CODES = {
    700016: "the tenant does not know CLIENT_ID (AADSTS700016: application not found in the "
    "tenant)",
    500011: "the tenant does not know the API named in SCOPES (AADSTS500011: resource not "
    "found); SCOPES must be the API's App ID URI",
    1002012: "the tenant refused the scope (AADSTS1002012); SCOPES must be the API's App ID URI",
    70011: "the tenant refused the scope (AADSTS70011: invalid scope); SCOPES must be the API's "
    "App ID URI",
}
MAX_DETAIL = 300


class TokenProvider:
    """Acquires the daemon's app token for the API (`acquire`), and drops it (`invalidate`)."""

    def __init__(self, config: Config, http: requests.Session) -> None:
        self._scopes = [config.scope]
        self._kind = config.credential_kind
        self._cache_file = config.token_cache_file
        self._cache = msal.SerializableTokenCache()
        if self._cache_file is not None:
            _load(self._cache, self._cache_file)
        try:
            self._app = msal.ConfidentialClientApplication(
                config.client_id,
                client_credential=config.credential,
                authority=config.authority,
                instance_discovery=False,
                http_client=http,
                token_cache=self._cache,
            )
        except requests.RequestException as exc:
            raise DaemonError(unreachable("the tenant", config.authority, exc)) from exc
        except ValueError as exc:
            raise DaemonError(
                f"the tenant has no OpenID configuration at {config.authority}; check AUTHORITY"
            ) from exc
        self._authority = config.authority

    def acquire(self) -> tuple[str, bool]:
        """The access token, and whether it came from the cache rather than the tenant."""
        try:
            result: dict[str, Any] = self._app.acquire_token_for_client(scopes=self._scopes)
        except requests.RequestException as exc:
            raise DaemonError(unreachable("the tenant", self._authority, exc)) from exc
        if "access_token" not in result:
            raise DaemonError(token_error(result, self._kind))
        self._save()
        return result["access_token"], result.get("token_source") == "cache"

    def invalidate(self) -> None:
        """Forget the cached app token (the API refused it), in memory and in the file."""
        self._app.remove_tokens_for_client()
        self._save()

    def _save(self) -> None:
        if self._cache_file is not None and self._cache.has_state_changed:
            _store(self._cache.serialize(), self._cache_file)
            self._cache.has_state_changed = False


def token_error(result: dict[str, Any], credential_kind: str) -> str:
    """One line naming why the tenant refused the token request."""
    error = str(result.get("error", "unknown_error"))
    description = _first_line(str(result.get("error_description", "")))
    codes = set(result.get("error_codes") or [])
    codes.update(int(c) for c in re.findall(r"AADSTS(\d+)", description))
    for code, message in CLIENT_CODES.items():
        if code in codes:
            return message
    if credential_kind == "secret":
        for code, message in SECRET_CODES.items():
            if code in codes:
                return message
    elif error in {"invalid_client", "unauthorized_client"}:
        return (
            f"the tenant did not accept the certificate ({description or error}); check that "
            "it is uploaded to the daemon's registration and matches CERT_PRIVATE_KEY_FILE"
        )
    if error == "invalid_client":
        return f"the tenant refused the client credentials ({description or error})"
    return f"the tenant refused the token request ({error}: {description})"


def _first_line(text: str) -> str:
    """Entra's message without the trace/correlation ids and timestamp that follow it."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line.split(" Trace ID:")[0].strip()[:MAX_DETAIL]


def _load(cache: msal.SerializableTokenCache, path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise DaemonError(f"the token cache file {path} cannot be read ({exc.strerror})") from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(info.st_mode)
        raise DaemonError(
            f"the token cache file {path} is open to other users (mode {mode:04o}); "
            f"run chmod 600 {path}"
        )
    try:
        cache.deserialize(path.read_text())
    except OSError as exc:
        raise DaemonError(f"the token cache file {path} cannot be read ({exc.strerror})") from exc
    except ValueError:
        # A damaged cache is only a cache: start empty; the next write replaces the file.
        cache.deserialize(None)


def _store(data: str, path: Path) -> None:
    """Replace `path` atomically with a file only its owner can read."""
    try:
        write_private(path, data)
    except OSError as exc:
        message = f"the token cache file {path} cannot be written ({exc.strerror})"
        raise DaemonError(message) from exc
