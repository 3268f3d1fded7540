"""The daemon's settings, read once from the environment and `daemon/.env`.

The names are the Node.js daemon's (`CLIENT_ID`, `AUTHORITY`, `CLIENT_SECRET`, `API_ENDPOINT`,
`SCOPES`, `CERT_THUMBPRINT`, `CERT_PRIVATE_KEY_FILE`), plus `TENANT_SUBDOMAIN`, `CERT_FILE` (the
certificate sent as `x5c`), `CA_FILE` and `TOKEN_CACHE_FILE`. Environment variables win over
the file. Every problem is collected and reported at once (`common.settings.SettingsError`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from common.oidc import resolve_authority
from common.settings import SettingsReader, load_env

DEFAULT_ENV_FILE = Path(__file__).resolve().parent / ".env"
DEFAULT_API_ENDPOINT = "https://localhost:44351/api/todolist"
DEFAULT_SUFFIX = "/.default"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


@dataclass(frozen=True)
class Config:
    """Everything the daemon needs; `credential` is what MSAL takes as `client_credential`."""

    client_id: str
    authority: str
    credential_kind: str  # "secret", "thumbprint" (RS256 + x5t) or "certificate" (PS256 + x5c)
    credential: str | dict[str, str] = field(repr=False)
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
        authority = _authority(reader)
        kind, credential = _credential(reader)
        api_endpoint = reader.get(
            "API_ENDPOINT", default=DEFAULT_API_ENDPOINT, parse=_api_endpoint,
            expect="an https URL (plain http only on localhost)",
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
            credential_kind=kind,
            credential=credential,
            api_endpoint=api_endpoint,
            scope=scope,
            ca_file=ca_file,
            token_cache_file=cache,
        )


def _authority(reader: SettingsReader) -> str:
    authority = reader.get("AUTHORITY")
    subdomain = reader.get("TENANT_SUBDOMAIN")
    if not authority and not subdomain:
        reader.problem("AUTHORITY (or TENANT_SUBDOMAIN) is missing")
        return ""
    try:
        return resolve_authority(authority, subdomain)
    except ValueError as exc:
        reader.problem(f"AUTHORITY is not usable: {exc}")
        return ""


def _api_endpoint(value: str) -> str:
    parts = urlsplit(value)
    if not parts.hostname:
        raise ValueError(value)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS):
        return value.rstrip("/")
    raise ValueError(value)


def _scope(value: str) -> str:
    if not value or any(ch.isspace() for ch in value):
        raise ValueError(value)
    return value if value.endswith(DEFAULT_SUFFIX) else value.rstrip("/") + DEFAULT_SUFFIX


def _credential(reader: SettingsReader) -> tuple[str, str | dict[str, str]]:
    secret = reader.get("CLIENT_SECRET")
    key_file = reader.get("CERT_PRIVATE_KEY_FILE")
    thumbprint = reader.get("CERT_THUMBPRINT")
    cert_file = reader.get("CERT_FILE")
    if secret and key_file:
        reader.problem("CLIENT_SECRET and CERT_PRIVATE_KEY_FILE are both set; use one of them")
        return "secret", ""
    if secret:
        return "secret", secret
    if not key_file:
        reader.problem(
            "CLIENT_SECRET is missing (or CERT_PRIVATE_KEY_FILE with CERT_THUMBPRINT or CERT_FILE)"
        )
        return "secret", ""
    private_pem = _read(reader, "CERT_PRIVATE_KEY_FILE", key_file)
    if private_pem is None:
        return "certificate", ""
    try:
        private_key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError):
        private_key = None
    if not isinstance(private_key, rsa.RSAPrivateKey):
        reader.problem("CERT_PRIVATE_KEY_FILE must hold an unencrypted PEM RSA private key")
        return "certificate", ""
    if cert_file:
        return "certificate", _certificate_form(reader, cert_file, private_key, private_pem,
                                                 thumbprint)
    if not thumbprint:
        reader.problem("CERT_PRIVATE_KEY_FILE needs CERT_THUMBPRINT or CERT_FILE")
        return "thumbprint", ""
    normalized = _normalize_thumbprint(reader, thumbprint)
    return "thumbprint", {"private_key": private_pem.decode(), "thumbprint": normalized}


def _certificate_form(
    reader: SettingsReader, cert_file: str, private_key: rsa.RSAPrivateKey, private_pem: bytes,
    thumbprint: str | None,
) -> dict[str, str]:
    cert_pem = _read(reader, "CERT_FILE", cert_file)
    if cert_pem is None:
        return {}
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        reader.problem("CERT_FILE must hold a PEM certificate")
        return {}
    if _spki(cert.public_key()) != _spki(private_key.public_key()):
        reader.problem("CERT_FILE is not the certificate of the key in CERT_PRIVATE_KEY_FILE")
        return {}
    if thumbprint:
        # x5t is the SHA-1 thumbprint by definition: it names the certificate, it secures nothing
        sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
        if _normalize_thumbprint(reader, thumbprint) != sha1:
            reader.problem("CERT_THUMBPRINT is not the SHA-1 thumbprint of CERT_FILE")
    return {"private_key": private_pem.decode(), "public_certificate": cert_pem.decode()}


def _spki(public_key: Any) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read(reader: SettingsReader, name: str, path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        reader.problem(f"{name} {path} cannot be read ({exc.strerror})")
        return None


def _normalize_thumbprint(reader: SettingsReader, value: str) -> str:
    hex_digits = re.sub(r"[\s:]", "", value).upper()
    if not re.fullmatch(r"[0-9A-F]{40}", hex_digits):
        reader.problem("CERT_THUMBPRINT must be the certificate's SHA-1 thumbprint (40 hex digits)")
    return hex_digits
