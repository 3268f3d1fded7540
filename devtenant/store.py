"""The data directory: tenant identity, app registrations, keys, certificates and users.

Everything is generated on first use and reused afterwards. Files holding private keys or
secrets are created 0600. The layout is described in docs/devtenant.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import JSON, DateTime, Engine, String, create_engine, event, inspect, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from devtenant import pki

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 44360
DEFAULT_PAGES_PORT = 44361
DEFAULT_DATA_DIR = "instance/devtenant"
CA_FILE = "ca.pem"  # in the data directory: the local CA every client trusts
# In the data directory (0600): the bearer token of the admin endpoints. A file name, not a secret.
ADMIN_TOKEN_FILE = "admin-token"  # noqa: S105
WEB_REDIRECT_URIS = ["http://localhost:3000/auth/redirect"]
WEB_POST_LOGOUT_URIS = ["http://localhost:3000/"]
API_SCOPES = ["ToDoList.Read", "ToDoList.ReadWrite"]
# A scope a Conditional Access policy can protect with MFA (see the admin API's MFA policy).
MFA_SCOPE = "User.MFA"
# What update_user accepts: the attributes a user flow collects and Graph's PATCH /me writes.
USER_CHANGES = frozenset({"name", "given_name", "surname", "city", "extensions"})
API_ROLES = ["ToDoList.Read.All", "ToDoList.ReadWrite.All"]
# Microsoft Graph delegated permissions the web app's registration holds (admin consent).
WEB_GRAPH_SCOPES = [
    "https://graph.microsoft.com/User.ReadWrite",
    "https://graph.microsoft.com/User.RevokeSessions.All",
]
STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # dates in registrations.json (UTC)

_hasher = PasswordHasher()


class Base(DeclarativeBase):
    pass


class User(Base):
    """A local account (email + password), as External ID's "email with password" sign-in."""

    __tablename__ = "users"
    oid: Mapped[str] = mapped_column(String(36), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(256))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    given_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    surname: Mapped[str | None] = mapped_column(String(64), nullable=True)
    city: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Custom attributes by their short name ({"loyaltyTier": "gold"}); tokens and Graph name
    # them extension_<extensions app id>_<name>.
    extensions: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True, default=dict)


class UserExists(Exception):
    """A user with that email is already registered."""


@dataclass(frozen=True)
class UserInfo:
    oid: str
    email: str
    name: str
    given_name: str | None = None
    surname: str | None = None
    city: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, user: User) -> UserInfo:
        return cls(
            user.oid,
            user.email,
            user.name,
            user.given_name,
            user.surname,
            user.city,
            dict(user.extensions or {}),
        )


def add_missing_columns(engine: Engine) -> None:
    """Bring the tables of an older data directory up to date: every column the models declare
    that a table lacks is added (nullable, so existing rows keep working)."""
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=engine.dialect)
                    sql = f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}'
                    conn.execute(text(sql))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL and a busy timeout: the server's threads and a CLI command may write at once."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime(STAMP_FORMAT)


def secret_expired(reg: dict[str, Any]) -> bool:
    """Whether the registration's client secret is past its end date (see expire_client_secret).

    Secrets have no end date unless one was set: the generated ones never expire.
    """
    end = reg.get("client_secret_expires_at")
    if not end:
        return False
    ends = dt.datetime.strptime(end, STAMP_FORMAT).replace(tzinfo=dt.UTC)
    return ends <= dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """An inter-process lock, so that a server starting and an `env` command run at the same
    moment on a new data directory do not both create a tenant (two sets of registrations)."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class TenantStore:
    """Opens (creating on first use) a tenant data directory."""

    def __init__(
        self,
        data_dir: str | Path = DEFAULT_DATA_DIR,
        host: str | None = None,
        port: int | None = None,
        pages_port: int | None = None,
        name: str | None = None,
    ) -> None:
        """`name` (e.g. "contoso.onmicrosoft.com") is used only when the tenant is created."""
        self.dir = Path(data_dir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        with _exclusive(self.dir / ".create.lock"):
            self.tenant = self._tenant(host, port, pages_port, name)
            self._pki()
            self.registrations = self._registrations()
            self._signing_keys()
            self.secret_key = self._secret("flask-secret-key")
            self.admin_token = self._secret(ADMIN_TOKEN_FILE)
            users_db = self.dir / "users.sqlite"
            if not users_db.exists():
                pki.write_private(users_db, b"")  # password hashes: owner-only from the start
            self.engine = create_engine(f"sqlite:///{users_db}")
            _sqlite_pragmas(self.engine)
            add_missing_columns(self.engine)
            Base.metadata.create_all(self.engine)

    # -- identity -------------------------------------------------------------------------
    @property
    def tenant_id(self) -> str:
        return self.tenant["tenant_id"]

    @property
    def tenant_name(self) -> str:
        return self.tenant["name"]

    @property
    def port(self) -> int:
        return self.tenant["port"]

    @property
    def pages_port(self) -> int:
        return self.tenant["pages_port"]

    @property
    def host(self) -> str:
        return self.tenant["host"]

    @property
    def https_url(self) -> str:
        return f"https://localhost:{self.port}"

    @property
    def pages_url(self) -> str:
        return f"http://localhost:{self.pages_port}"

    @property
    def authority(self) -> str:
        return f"{self.https_url}/{self.tenant_id}"

    @property
    def ca_file(self) -> Path:
        return self.dir / CA_FILE

    @property
    def server_cert_file(self) -> Path:
        return self.dir / "server.pem"

    @property
    def server_key_file(self) -> Path:
        return self.dir / "server-key.pem"

    def _tenant(
        self, host: str | None, port: int | None, pages_port: int | None, name: str | None
    ) -> dict[str, Any]:
        path = self.dir / "tenant.json"
        if path.exists():
            data = json.loads(path.read_text())
        else:
            data = {
                "tenant_id": str(uuid.uuid4()),
                "name": name or f"devtenant{secrets.token_hex(4)}.onmicrosoft.com",
                "host": DEFAULT_HOST,
                "port": DEFAULT_PORT,
                "pages_port": DEFAULT_PAGES_PORT,
            }
        changed = not path.exists()
        for key, value in (("host", host), ("port", port), ("pages_port", pages_port)):
            if value is not None and data.get(key) != value:
                data[key] = value
                changed = True
        if changed:
            path.write_text(json.dumps(data, indent=2) + "\n")
        return data

    def _secret(self, filename: str) -> str:
        path = self.dir / filename
        if not path.exists():
            pki.write_private(path, secrets.token_urlsafe(32).encode())
        return path.read_text().strip()

    # -- certificates ---------------------------------------------------------------------
    def _pki(self) -> None:
        if self.ca_file.exists() and self.server_cert_file.exists():
            return
        ca_key, ca_cert = pki.make_ca(f"devtenant local CA {self.tenant_id[:8]}")
        pki.write_private(self.dir / "ca-key.pem", pki.key_pem(ca_key))
        self.ca_file.write_bytes(pki.cert_pem(ca_cert))
        key, cert = pki.make_server_cert(
            ca_key, ca_cert, ["localhost", "127.0.0.1", "::1", "*.ciamlogin.com"]
        )
        pki.write_private(self.server_key_file, pki.key_pem(key))
        self.server_cert_file.write_bytes(pki.cert_pem(cert))

    def _client_cert(self, kind: str, client_id: str) -> dict[str, str]:
        key, cert = pki.make_client_cert(f"devtenant {kind} {client_id}")
        key_file = self.dir / f"{kind}-{client_id[:8]}-key.pem"
        cert_file = self.dir / f"{kind}-{client_id[:8]}-cert.pem"
        pki.write_private(key_file, pki.key_pem(key))
        cert_file.write_bytes(pki.cert_pem(cert))
        sha1, sha256 = pki.thumbprints(cert_file.read_bytes())
        return {
            "certificate_file": cert_file.name,
            "private_key_file": key_file.name,
            "thumbprint_sha1": sha1,
            "thumbprint_sha256": sha256,
        }

    # -- app registrations ----------------------------------------------------------------
    def _registrations(self) -> dict[str, Any]:
        path = self.dir / "registrations.json"
        if path.exists():
            regs: dict[str, Any] = json.loads(path.read_text())
            if "extensions_app_id" not in regs:  # a data directory from before custom attributes
                regs["extensions_app_id"] = str(uuid.uuid4())
                self._write_registrations(path, regs)
            return self._with_graph_consent(path, regs)
        api_id = str(uuid.uuid4())
        regs = {
            # The "b2c-extensions-app" whose id (without dashes) names custom attributes.
            "extensions_app_id": str(uuid.uuid4()),
            "api": {
                "display_name": "ciam-ToDoList-api",
                "client_id": api_id,
                "app_id_uri": f"api://{api_id}",
                "scopes": [*API_SCOPES, MFA_SCOPE],
                "app_roles": list(API_ROLES),
                "idtyp_claim": True,
            },
            "web": self.new_client_registration(
                "web",
                consented_scopes=[f"api://{api_id}/{s}" for s in [*API_SCOPES, MFA_SCOPE]]
                + WEB_GRAPH_SCOPES,
            ),
            "daemon": self.new_client_registration("daemon", roles=list(API_ROLES)),
            "additional_clients": [],
        }
        self._write_registrations(path, regs)
        return regs

    def _write_registrations(self, path: Path, regs: dict[str, Any]) -> None:
        pki.write_private(path, (json.dumps(regs, indent=2) + "\n").encode())

    def new_client_registration(
        self,
        kind: str,
        consented_scopes: list[str] | None = None,
        roles: list[str] | None = None,
        redirect_uris: list[str] | None = None,
        post_logout_redirect_uris: list[str] | None = None,
    ) -> dict[str, Any]:
        """A new confidential client registration (not yet stored)."""
        if kind not in ("web", "daemon"):
            raise ValueError("kind must be 'web' or 'daemon'")
        client_id = str(uuid.uuid4())
        reg: dict[str, Any] = {
            "kind": kind,
            "display_name": f"ciam-ToDoList-{kind}",
            "client_id": client_id,
            "service_principal_id": str(uuid.uuid4()),
            "client_secret": secrets.token_urlsafe(30),
            **self._client_cert(kind, client_id),
        }
        if kind == "web":
            reg["redirect_uris"] = redirect_uris or list(WEB_REDIRECT_URIS)
            reg["post_logout_redirect_uris"] = post_logout_redirect_uris or list(
                WEB_POST_LOGOUT_URIS
            )
            reg["consented_scopes"] = list(consented_scopes or [])
        else:
            reg["roles"] = list(roles or [])
        return reg

    def _with_graph_consent(self, path: Path, regs: dict[str, Any]) -> dict[str, Any]:
        """A data directory made before the web app used Microsoft Graph gets its web app the
        Graph permissions new ones have (once: one that names any Graph scope is left alone)."""
        consented = regs["web"].setdefault("consented_scopes", [])
        if not any(s.startswith("https://graph.microsoft.com/") for s in consented):
            consented.extend(WEB_GRAPH_SCOPES)
            self._write_registrations(path, regs)
        return regs

    @property
    def extensions_app_id(self) -> str:
        """The tenant's `b2c-extensions-app` id without dashes, as custom attribute names carry
        it (`extension_<id>_loyaltyTier`)."""
        return str(self.registrations["extensions_app_id"]).replace("-", "")

    def extension_claim(self, name: str) -> str:
        """The name Entra gives a custom attribute in tokens and Graph."""
        return f"extension_{self.extensions_app_id}_{name}"

    def add_client(self, reg: dict[str, Any]) -> None:
        with self._lock:
            self.registrations["additional_clients"].append(reg)
            self._save_registrations()

    def _save_registrations(self) -> None:
        self._write_registrations(self.dir / "registrations.json", self.registrations)

    def clients(self) -> list[dict[str, Any]]:
        """Every registration that has not been deleted."""
        regs = self.registrations
        every = [regs["web"], regs["daemon"], *regs["additional_clients"]]
        return [c for c in every if not c.get("deleted_at")]

    def client(self, client_id: str) -> dict[str, Any] | None:
        return next((c for c in self.clients() if c["client_id"] == client_id), None)

    def _existing_client(self, client_id: str) -> dict[str, Any]:
        reg = self.client(client_id)
        if reg is None:
            raise KeyError(client_id)
        return reg

    def delete_client(self, client_id: str) -> str:
        """Delete a registration, as an admin deleting the app in the Entra admin center:
        from now on the tenant answers as if the client id never existed (AADSTS700016).

        The record stays in registrations.json marked `deleted_at` (Entra too keeps a deleted
        app 30 days), so `env` still prints the settings a misconfigured client would have.
        Returns the time of deletion; KeyError for an unknown (or already deleted) client.
        """
        with self._lock:
            reg = self._existing_client(client_id)
            reg["deleted_at"] = _stamp(dt.datetime.now(dt.UTC))
            self._save_registrations()
            return reg["deleted_at"]

    def expire_client_secret(self, client_id: str) -> str:
        """Give the registration's client secret an end date that has passed: the same value
        is then refused as expired (AADSTS7000222). Returns the end date; KeyError for an
        unknown client."""
        with self._lock:
            reg = self._existing_client(client_id)
            reg["client_secret_expires_at"] = _stamp(dt.datetime.now(dt.UTC))
            self._save_registrations()
            return reg["client_secret_expires_at"]

    # -- signing keys ---------------------------------------------------------------------
    def _signing_keys(self) -> None:
        path = self.dir / "signing-keys.json"
        if not path.exists():
            self._save_signing_keys([self._new_signing_key()])

    def _new_signing_key(self) -> dict[str, str]:
        return {"kid": secrets.token_urlsafe(24), "pem": pki.key_pem(pki.new_rsa_key()).decode()}

    def _save_signing_keys(self, keys: list[dict[str, str]]) -> None:
        data = json.dumps({"keys": keys}, indent=2) + "\n"
        pki.write_private(self.dir / "signing-keys.json", data.encode())

    def signing_keys(self) -> list[dict[str, str]]:
        """All signing keys, oldest first; the last one signs new tokens."""
        return json.loads((self.dir / "signing-keys.json").read_text())["keys"]

    def rotate_signing_key(self) -> str:
        with self._lock:
            keys = self.signing_keys()
            new = self._new_signing_key()
            self._save_signing_keys([*keys, new])
            return new["kid"]

    # -- users ----------------------------------------------------------------------------
    def add_user(
        self,
        email: str,
        password: str,
        name: str,
        attributes: dict[str, Any] | None = None,
        password_hash: str | None = None,
    ) -> UserInfo:
        """A new user; `attributes` are further USER_CHANGES (given_name, city, extensions).
        `password_hash` (from `hash_password`) stands for a password checked and hashed on an
        earlier page of a sign-up."""
        email = email.strip().lower()
        if not email or "@" not in email:
            raise ValueError("an email address is needed")
        if not password and not password_hash:
            raise ValueError("a password is needed")
        user = User(
            oid=str(uuid.uuid4()),
            email=email,
            name=name.strip() or email.split("@")[0],
            password_hash=password_hash or _hasher.hash(password),
            created_at=dt.datetime.now(dt.UTC),
            given_name=(attributes or {}).get("given_name") or None,
            surname=(attributes or {}).get("surname") or None,
            city=(attributes or {}).get("city") or None,
            extensions=dict((attributes or {}).get("extensions") or {}),
        )
        info = UserInfo.of(user)
        with Session(self.engine) as session:
            session.add(user)
            try:
                session.commit()
            except IntegrityError as exc:
                raise UserExists(email) from exc
        return info

    def check_password(self, email: str, password: str) -> UserInfo | None:
        """The user when the password is right; None for an unknown email or a wrong password."""
        with Session(self.engine) as session:
            user = session.scalar(select(User).where(User.email == email.strip().lower()))
            if user is None:
                _hasher.hash(password)  # same cost as a real check: no user enumeration by timing
                return None
            try:
                _hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                return None
            return UserInfo.of(user)

    def user(self, oid: str) -> UserInfo | None:
        with Session(self.engine) as session:
            user = session.get(User, oid)
            return UserInfo.of(user) if user else None

    def user_by_email(self, email: str) -> UserInfo | None:
        with Session(self.engine) as session:
            user = session.scalar(select(User).where(User.email == email.strip().lower()))
            return UserInfo.of(user) if user else None

    def update_user(self, oid: str, changes: dict[str, Any]) -> UserInfo:
        """Set the attributes in `changes` (keys of USER_CHANGES; `extensions` replaces the
        whole set of custom attributes, an empty value dropped). KeyError for an unknown oid,
        ValueError for another key."""
        unknown = set(changes) - USER_CHANGES
        if unknown:
            raise ValueError(f"unknown user attributes: {', '.join(sorted(unknown))}")
        with Session(self.engine) as session:
            user = session.get(User, oid)
            if user is None:
                raise KeyError(oid)
            for key, value in changes.items():
                if key == "extensions":
                    user.extensions = {k: str(v) for k, v in dict(value or {}).items() if v}
                elif key == "name":
                    user.name = str(value or "").strip() or user.name
                else:
                    setattr(user, key, str(value).strip() or None if value else None)
            session.commit()
            return UserInfo.of(user)

    def set_password(self, oid: str, password: str) -> None:
        """A new password (self-service reset). KeyError for an unknown oid."""
        with Session(self.engine) as session:
            user = session.get(User, oid)
            if user is None:
                raise KeyError(oid)
            user.password_hash = _hasher.hash(password)
            session.commit()
