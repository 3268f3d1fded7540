"""The daemon's settings, read once from the environment and `daemon/.env`.

The names are the Node.js daemon's (`CLIENT_ID`, `AUTHORITY`, `CLIENT_SECRET`, `API_ENDPOINT`,
`SCOPES`, `CERT_THUMBPRINT`, `CERT_PRIVATE_KEY_FILE`), plus `TENANT_SUBDOMAIN`, `CERT_FILE` (the
certificate sent as `x5c`), `CA_FILE` and `TOKEN_CACHE_FILE`. Environment variables win over
the file. Every problem is collected and reported at once (`common.settings.SettingsError`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

from common.settings import (
    HTTPS_OR_LOOPBACK,
    ClientCredential,
    SettingsReader,
    https_or_loopback,
    load_env,
    read_authority,
    read_client_credential,
)

DEFAULT_ENV_FILE = Path(__file__).resolve().parent / ".env"
DEFAULT_API_ENDPOINT = "https://localhost:44351/api/todolist"
DEFAULT_SUFFIX = "/.default"
# "thumbprint": an RS256 assertion with x5t; "certificate": PS256, the certificate sent as x5c.
CredentialKind: TypeAlias = Literal["secret", "thumbprint", "certificate"]


@dataclass(frozen=True)
class Config:
    """Everything the daemon needs; `credential` is what MSAL takes as `client_credential`."""

    client_id: str
    authority: str
    credential_kind: CredentialKind
    credential: ClientCredential = field(repr=False)
    api_endpoint: str = DEFAULT_API_ENDPOINT
    scope: str = ""
    ca_file: str | None = None
    token_cache_file: Path | None = None

    @classmethod
    def from_env(
        cls, env_file: str | os.PathLike[str] | None = DEFAULT_ENV_FILE,
        token_cache_file: str | None = None,
    ) -> Config:
        """Settings from the environment over `env_file`; `token_cache_file` (the command
        line's `--token-cache`) wins over `TOKEN_CACHE_FILE`."""
        return cls.from_mapping(load_env(env_file), token_cache_file)

    @classmethod
    def from_mapping(cls, source: Mapping[str, Any], token_cache_file: str | None = None) -> Config:
        reader = SettingsReader("daemon", source)
        client_id = reader.get("CLIENT_ID", required=True)
        authority = read_authority(reader)
        credential = read_client_credential(reader)
        api_endpoint = reader.get(
            "API_ENDPOINT", default=DEFAULT_API_ENDPOINT, parse=_api_endpoint,
            expect=HTTPS_OR_LOOPBACK,
        )
        scope = reader.get(
            "SCOPES", required=True, parse=_scope,
            expect="the API's App ID URI (one value, e.g. api://<api-client-id>)",
        )
        ca_file = reader.get(
            "CA_FILE", check=os.path.isfile, expect="an existing file (PEM CA certificates)"
        )
        cache_raw = token_cache_file or reader.get("TOKEN_CACHE_FILE")
        cache = Path(cache_raw) if cache_raw else None
        if cache is not None and not cache.resolve().parent.is_dir():
            reader.problem(f"the token cache file's directory {cache.parent} does not exist")
        reader.finish()
        return cls(
            client_id=client_id,
            authority=authority,
            credential_kind=_kind(credential),
            credential=credential,
            api_endpoint=api_endpoint,
            scope=scope,
            ca_file=ca_file,
            token_cache_file=cache,
        )


def _api_endpoint(value: str) -> str:
    if not https_or_loopback(value):
        raise ValueError(value)
    return value.rstrip("/")


def _scope(value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise ValueError(value)
    return value if value.endswith(DEFAULT_SUFFIX) else value.rstrip("/") + DEFAULT_SUFFIX


def _kind(credential: ClientCredential) -> CredentialKind:
    """Which of the three forms MSAL will use: its errors are explained per form."""
    if isinstance(credential, str):
        return "secret"
    return "certificate" if "public_certificate" in credential else "thumbprint"
