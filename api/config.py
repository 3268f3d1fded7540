"""The API's settings, read once from the environment and `api/.env` (the environment wins)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from common.settings import SettingsReader, is_guid, load_env, parse_bool, read_authority

from .storage import DEFAULT_MAX_ITEMS_PER_OWNER

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ENV_FILE = ROOT / "api" / ".env"
DEFAULT_DATABASE_PATH = ROOT / "instance" / "api" / "todolist.sqlite"
SUPPORTED_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg", "postgres")
DEFAULT_MFA_AUTH_CONTEXT = "c1"
AUTH_CONTEXT_ID = re.compile(r"c[1-9][0-9]?")  # Entra's authentication context ids


def _readable_file(value: str) -> bool:
    return os.path.isfile(value) and os.access(value, os.R_OK)


def _read_delete_context(reader: SettingsReader) -> tuple[bool, str]:
    """`REQUIRE_MFA_FOR_DELETE` (default off) and the context it asks for, `MFA_AUTH_CONTEXT`."""
    required = reader.get(
        "REQUIRE_MFA_FOR_DELETE", default=False, parse=parse_bool, expect="true or false"
    )
    context = reader.get(
        "MFA_AUTH_CONTEXT",
        default=DEFAULT_MFA_AUTH_CONTEXT,
        check=lambda v: AUTH_CONTEXT_ID.fullmatch(v) is not None,
        expect="an authentication context id, c1 to c99",
    )
    return required, context


@dataclass(frozen=True)
class Config:
    """Everything the API needs to start; `from_env` reports every bad setting at once."""

    tenant_id: str
    client_id: str
    authority: str
    database_url: str
    ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    demo_seed: bool = False
    jwks_min_refresh_seconds: float = 60.0
    clock_skew_seconds: float = 120.0
    max_items_per_owner: int = DEFAULT_MAX_ITEMS_PER_OWNER
    require_mfa_for_delete: bool = False
    mfa_auth_context: str = DEFAULT_MFA_AUTH_CONTEXT

    @classmethod
    def from_env(cls, env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE) -> Config:
        """Read the settings (raises `common.settings.SettingsError` naming every problem)."""
        reader = SettingsReader("The ToDoList API", load_env(env_file))
        tenant_id = reader.get(
            "TENANT_ID", required=True, check=is_guid, expect="the tenant id (a GUID)"
        )
        client_id = reader.get(
            "CLIENT_ID", required=True, check=is_guid, expect="the API's client id (a GUID)"
        )
        authority = read_authority(reader)
        ca_file = reader.get("CA_FILE", check=_readable_file, expect="a readable PEM file")
        cert = reader.get("TLS_CERT_FILE", check=_readable_file, expect="a readable PEM file")
        key = reader.get("TLS_KEY_FILE", check=_readable_file, expect="a readable PEM file")
        if (cert is None) != (key is None) and not reader.problems:
            reader.problem("TLS_CERT_FILE and TLS_KEY_FILE must be given together")
        database_url = reader.get("DATABASE_URL", default=f"sqlite:///{DEFAULT_DATABASE_PATH}")
        if database_url.split(":", 1)[0] not in SUPPORTED_SCHEMES:
            reader.problem("DATABASE_URL must be a sqlite:/// or postgresql:// URL")
        demo_seed = reader.get("DEMO_SEED", default=False, parse=parse_bool, expect="true or false")
        refresh = reader.get(
            "JWKS_MIN_REFRESH_SECONDS",
            default=60.0,
            parse=float,
            check=lambda v: v >= 0,
            expect="a number of seconds (0 or more)",
        )
        max_items = reader.get(
            "MAX_ITEMS_PER_OWNER",
            default=DEFAULT_MAX_ITEMS_PER_OWNER,
            parse=int,
            check=lambda v: v >= 1,
            expect="a whole number of items (1 or more)",
        )
        require_mfa, context = _read_delete_context(reader)
        reader.finish()
        return cls(
            tenant_id=tenant_id.lower(),
            client_id=client_id.lower(),
            authority=authority,
            database_url=database_url,
            ca_file=ca_file,
            tls_cert_file=cert,
            tls_key_file=key,
            demo_seed=demo_seed,
            jwks_min_refresh_seconds=refresh,
            max_items_per_owner=max_items,
            require_mfa_for_delete=require_mfa,
            mfa_auth_context=context,
        )
