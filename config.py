"""The web app's settings, read in one place from the environment and `./.env`.

Names follow the Node.js original (`TENANT_SUBDOMAIN`, `CLIENT_ID`, ...) so that a person who
followed Microsoft's tutorial finds them where they expect. Every problem is collected and
reported in one `common.settings.SettingsError` at start-up, never as a traceback in a request.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import limits

from common.settings import (
    HTTPS_OR_LOOPBACK,
    ClientCredential,
    SettingsReader,
    https_or_loopback,
    is_guid,
    load_env,
    read_authority,
    read_client_credential,
    write_private,
)

ROOT = Path(__file__).resolve().parent
DEFAULT_ENV_FILE = ROOT / ".env"
DEFAULT_INSTANCE_DIR = ROOT / "instance" / "web"
DEFAULT_PORT = 3000
TENANT_SETTINGS = ("CLIENT_ID", "AUTHORITY", "TENANT_SUBDOMAIN")
SESSION_TYPES = ("filesystem", "redis")
SESSION_SECRET_FILE = "session_secret"  # noqa: S105 (a file name)
DEFAULT_GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"
# Microsoft Graph's delegated permissions the profile page uses (the resource is always
# graph.microsoft.com, whatever GRAPH_BASE_URL says: that is where the tokens are for).
GRAPH_READ = "https://graph.microsoft.com/User.Read"
GRAPH_READWRITE = "https://graph.microsoft.com/User.ReadWrite"
GRAPH_REVOKE = "https://graph.microsoft.com/User.RevokeSessions.All"
GRAPH_SCOPES = (GRAPH_READ, GRAPH_READWRITE, GRAPH_REVOKE)
_ATTRIBUTE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")


def tenant_configured(source: Mapping[str, str]) -> bool:
    """Whether the settings name a tenant (otherwise `run.py` starts the local one)."""
    return any((source.get(name) or "").strip() for name in TENANT_SETTINGS)


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(value)
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise ValueError(value)
    return number


def _http_url(value: Any) -> bool:
    parts = urlsplit(str(value))
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _http_url_or_path(value: Any) -> bool:
    """An http(s) URL, or a path (`/auth/redirect`) resolved against each request's host."""
    text = str(value)
    if text.startswith("/"):
        return not text.startswith("//") and not urlsplit(text).netloc
    return _http_url(text)


def _rate_limit(value: Any) -> bool:
    try:
        limits.parse(str(value))
    except ValueError:
        return False
    return True


# A host name or IPv4 address, or an IPv6 address in brackets, with an optional port.
_TRUSTED_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:.]+\])(?::\d{1,5})?")


def _trusted_hosts(value: str) -> tuple[str, ...]:
    """`todo.example.com, localhost:3000` as ("todo.example.com", "localhost:3000")."""
    hosts = tuple(h.strip().lower() for h in value.split(",") if h.strip())
    if not hosts or not all(_TRUSTED_HOST.fullmatch(h) for h in hosts):
        raise ValueError(value)
    return hosts


def _custom_attributes(value: str) -> tuple[str, ...]:
    """`loyaltyTier, memberSince` as ("loyaltyTier", "memberSince")."""
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not all(_ATTRIBUTE_NAME.fullmatch(n) for n in names):
        raise ValueError(value)
    return names


def _extensions_app_id(value: str) -> str:
    """The b2c-extensions-app's client id as attribute names carry it: 32 hex digits."""
    text = value.strip().lower().replace("-", "")
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise ValueError(value)
    return text


def _scope(value: Any) -> bool:
    text = str(value)
    return bool(text) and not any(c.isspace() for c in text)


def session_secret(instance_dir: Path) -> str:
    """The secret in `instance_dir`, created (mode 0600) on first use.

    Gunicorn's workers each load the settings, at the same moment on a first start: only one
    of them creates the file, the others read it, so that all sign with the same secret.
    """
    path = instance_dir / SESSION_SECRET_FILE
    existing = _read_secret(path)
    if existing:
        return existing
    instance_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        write_private(path, value + "\n", replace=False)
    except FileExistsError:
        existing = _read_secret(path)
        if existing:
            return existing
        write_private(path, value + "\n")  # an empty file: nobody can be using it
    return value


def _read_secret(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Config:
    """Everything the web app needs to run; build it with `Config.load()`."""

    client_id: str
    authority: str
    client_credential: ClientCredential = field(repr=False)
    redirect_uri: str
    post_logout_redirect_uri: str
    session_secret: str = field(repr=False)
    instance_dir: Path
    todolist_read: str
    todolist_readwrite: str
    todolist_api_url: str
    tenant_id: str | None = None
    todolist_api_timeout: tuple[float, float] = (3.05, 10.0)
    todo_description_max_length: int = 500
    tenant_timeout: tuple[float, float] = (3.05, 10.0)
    jwks_min_refresh_seconds: float = 60.0
    ca_file: str | None = None
    port: int = DEFAULT_PORT
    session_type: str = "filesystem"
    redis_url: str | None = None
    trusted_proxy_hops: int = 0
    signin_rate_limit: str = "20 per minute"
    signin_pending_limit: int = 10_000
    session_absolute_hours: float = 12.0
    session_idle_minutes: float = 120.0
    trusted_hosts: tuple[str, ...] = ()
    readyz_cache_seconds: float = 5.0
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    extensions_app_id: str | None = None
    custom_attributes: tuple[str, ...] = ()

    @staticmethod
    def _session_limits(r: SettingsReader) -> dict[str, Any]:
        """How long sessions last and how fast and how many sign-ins may start."""
        return {
            "signin_rate_limit": r.get(
                "SIGNIN_RATE_LIMIT", default="20 per minute", check=_rate_limit,
                expect="a rate such as '20 per minute' or '100/hour'",
            ),
            "signin_pending_limit": r.get(
                "SIGNIN_PENDING_LIMIT", default=10_000, parse=int, check=lambda v: v > 0,
                expect="a positive whole number (sign-ins in progress at once)",
            ),
            "session_absolute_hours": r.get(
                "SESSION_ABSOLUTE_HOURS", default=12.0, parse=_positive_float,
                expect="a positive number of hours",
            ),
            "session_idle_minutes": r.get(
                "SESSION_IDLE_MINUTES", default=120.0, parse=_positive_float,
                expect="a positive number of minutes",
            ),
        }

    @property
    def session_dir(self) -> Path:
        return self.instance_dir / "sessions"

    @property
    def secure_cookies(self) -> bool:
        """Cookies are always marked Secure when the configured redirect URI is https.

        Otherwise each response marks them Secure when its request came over https (as WSGI
        sees it: behind a proxy, only with `TRUSTED_PROXY_HOPS`).
        """
        return urlsplit(self.redirect_uri).scheme == "https"

    @property
    def api_scopes(self) -> list[str]:
        """The ToDoList API scopes a user may be asked to consent to at sign-in."""
        return [self.todolist_read, self.todolist_readwrite]

    @property
    def sign_in_scopes(self) -> list[str]:
        """Every scope a sign-in may ask for (and whose tokens the token cache keeps): the
        API's and Microsoft Graph's."""
        return [*self.api_scopes, *GRAPH_SCOPES]

    def extension_property(self, name: str) -> str:
        """Graph's property name of the custom attribute `name`: extension_<app id>_<name>."""
        return f"extension_{self.extensions_app_id}_{name}"

    @staticmethod
    def _graph(r: SettingsReader) -> dict[str, Any]:
        """Microsoft Graph: where it is, and the custom attributes the profile page shows."""
        none: tuple[str, ...] = ()
        values = {
            "graph_base_url": r.get(
                "GRAPH_BASE_URL", default=DEFAULT_GRAPH_BASE_URL, check=https_or_loopback,
                expect=HTTPS_OR_LOOPBACK,
            ).rstrip("/"),
            "extensions_app_id": r.get(
                "EXTENSIONS_APP_ID", parse=_extensions_app_id,
                expect="the b2c-extensions-app's Application (client) ID (a GUID)",
            ),
            "custom_attributes": r.get(
                "CUSTOM_ATTRIBUTES", default=none, parse=_custom_attributes,
                expect="comma-separated custom attribute names (loyaltyTier, memberSince)",
            ),
        }
        if values["custom_attributes"] and not values["extensions_app_id"]:
            r.problem("CUSTOM_ATTRIBUTES needs EXTENSIONS_APP_ID (their names carry it)")
        return values

    @classmethod
    def load(
        cls,
        source: Mapping[str, str] | None = None,
        *,
        env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
        instance_dir: str | os.PathLike[str] | None = None,
    ) -> Config:
        """Read the settings (`source`, or the environment over `env_file`).

        Raises `SettingsError` naming every missing or invalid setting.
        """
        values = dict(source) if source is not None else load_env(env_file)
        return cls._read(SettingsReader("the web app", values), instance_dir)

    @classmethod
    def _read(cls, r: SettingsReader, instance_dir: str | os.PathLike[str] | None) -> Config:
        port = r.get("PORT", default=DEFAULT_PORT, parse=_port, expect="a TCP port (1-65535)")
        authority = read_authority(r)
        client_id = r.get("CLIENT_ID", required=True, default="")
        if client_id and not is_guid(client_id):
            r.problem("CLIENT_ID must be the application (client) ID, a GUID")
        credential = read_client_credential(r)
        base = f"http://localhost:{port}"
        redirect_uri = r.get(
            "REDIRECT_URI", default=f"{base}/auth/redirect", check=_http_url_or_path,
            expect="an http(s) URL or a path like /auth/redirect",
        )
        post_logout = r.get(
            "POST_LOGOUT_REDIRECT_URI", default=f"{base}/", check=_http_url_or_path,
            expect="an http(s) URL or a path like /",
        )
        read = r.get(
            "TODOLIST_READ", required=True, check=_scope,
            expect="a scope URI (api://<id>/ToDoList.Read)",
        )
        readwrite = r.get(
            "TODOLIST_READWRITE", required=True, check=_scope,
            expect="a scope URI (api://<id>/ToDoList.ReadWrite)",
        )
        api_url = r.get(
            "TODOLIST_API_URL", required=True, check=https_or_loopback, expect=HTTPS_OR_LOOPBACK
        )
        api_timeout = (
            r.get("TODOLIST_API_CONNECT_TIMEOUT", default=3.05, parse=_positive_float,
                  expect="a positive number of seconds"),
            r.get("TODOLIST_API_READ_TIMEOUT", default=10.0, parse=_positive_float,
                  expect="a positive number of seconds"),
        )
        max_length = r.get(
            "TODO_DESCRIPTION_MAX_LENGTH", default=500, parse=int, check=lambda v: v > 0,
            expect="a positive whole number (the API's maximum description length)",
        )
        tenant_read = r.get("TENANT_TIMEOUT", default=10.0, parse=_positive_float,
                            expect="a positive number of seconds")
        jwks_refresh = r.get("JWKS_MIN_REFRESH_SECONDS", default=60.0, parse=float,
                             check=lambda v: v >= 0, expect="a number of seconds (0 or more)")
        ca_file = r.get("CA_FILE")
        if ca_file and not Path(ca_file).is_file():
            r.problem(f"CA_FILE names a file that does not exist: {ca_file}")
        session_type = r.get("SESSION_TYPE", default="filesystem").lower()
        redis_url = r.get("REDIS_URL")
        if session_type not in SESSION_TYPES:
            r.problem("SESSION_TYPE must be filesystem or redis")
        elif session_type == "redis" and not redis_url:
            r.problem("REDIS_URL is missing (SESSION_TYPE=redis needs it)")
        if redis_url and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
            r.problem("REDIS_URL must be a redis://, rediss:// or unix:// URL")
        if redis_url and session_type == "filesystem" and r.source.get("SESSION_TYPE") is None:
            session_type = "redis"
        instance = Path(
            instance_dir or r.get("INSTANCE_DIR") or DEFAULT_INSTANCE_DIR
        ).resolve()
        hops = r.get(
            "TRUSTED_PROXY_HOPS", default=0, parse=int, check=lambda v: 0 <= v <= 10,
            expect="the number of proxies in front of the app whose X-Forwarded-* headers to "
            "trust (0-10; 0: none)",
        )
        no_hosts: tuple[str, ...] = ()
        trusted_hosts = r.get(
            "TRUSTED_HOSTS", default=no_hosts, parse=_trusted_hosts,
            expect="comma-separated host names the app answers to, each optionally with a port "
            "(todo.example.com, localhost:3000)",
        )
        relative = [name for name, value in (("REDIRECT_URI", redirect_uri),
                                             ("POST_LOGOUT_REDIRECT_URI", post_logout))
                    if str(value).startswith("/")]
        if relative and not r.is_set("TRUSTED_HOSTS"):
            r.problem(
                f"{' and '.join(relative)} {'is a path' if len(relative) == 1 else 'are paths'}"
                ", which each request completes with the Host header it came with: set "
                "TRUSTED_HOSTS to the host names the app answers to (todo.example.com), or "
                "give an absolute URL"
            )
        readyz_cache = r.get(
            "READYZ_CACHE_SECONDS", default=5.0, parse=float, check=lambda v: 0 <= v <= 300,
            expect="the seconds (0-300) a /readyz result is reused for",
        )
        secret = r.get("SESSION_SECRET")
        if secret is not None and len(secret) < 32:
            r.problem("SESSION_SECRET must be at least 32 characters (or leave it out)")
        if not secret and not r.problems:  # a start that fails leaves no file behind
            try:
                secret = session_secret(instance)
            except OSError as exc:
                r.problem(f"INSTANCE_DIR {instance} cannot be written ({exc.strerror})")
        limits = cls._session_limits(r)
        graph = cls._graph(r)
        r.finish()
        tenant_path = urlsplit(authority).path.strip("/").split("/")[0]
        return cls(
            client_id=client_id,
            authority=authority,
            client_credential=credential,
            redirect_uri=redirect_uri,
            post_logout_redirect_uri=post_logout,
            session_secret=secret,
            instance_dir=instance,
            tenant_id=tenant_path if is_guid(tenant_path) else None,
            todolist_read=read,
            todolist_readwrite=readwrite,
            todolist_api_url=api_url,
            todolist_api_timeout=api_timeout,
            todo_description_max_length=max_length,
            tenant_timeout=(min(3.05, tenant_read), tenant_read),
            jwks_min_refresh_seconds=jwks_refresh,
            ca_file=str(Path(ca_file).resolve()) if ca_file else None,
            port=port,
            session_type=session_type,
            redis_url=redis_url,
            trusted_proxy_hops=hops,
            **limits,
            trusted_hosts=trusted_hosts,
            readyz_cache_seconds=readyz_cache,
            **graph,
        )
