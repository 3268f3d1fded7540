"""Reading settings from the environment and a dotenv file, reporting every problem at once.

Besides the generic `SettingsReader`, the readers of the settings that several components share
live here, so that each is read, checked and worded one way: the tenant (`read_authority`), the
client credential of the web app and the daemon (`read_client_credential`), and URLs that must
be https unless they stay on this machine (`https_or_loopback`). `write_private` is how every
component writes a file that holds a secret.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeAlias, TypedDict, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from dotenv import dotenv_values

from common.oidc import check_subdomain, resolve_authority

T = TypeVar("T")

# What the .env.example files (and Microsoft's samples) put where a value of yours belongs:
# `<api-client-id>`, `Enter_the_Application_Id_Here`, the all-zero GUID.
PLACEHOLDER = re.compile(
    r"<[^<>]+>|Enter_the_|00000000-0000-0000-0000-000000000000", re.IGNORECASE
)
HTTPS_OR_LOOPBACK = "an https URL (plain http only on localhost)"


class SettingsError(Exception):
    """Raised at start-up with one message that names every missing or invalid setting."""

    def __init__(self, component: str, problems: list[str]) -> None:
        self.component = component
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{component} cannot start; fix these settings:\n{lines}")


def load_env(env_file: str | os.PathLike[str] | None) -> dict[str, str]:
    """The dotenv file's values overlaid by the process environment (the environment wins)."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


def is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return False
    return len(value) == 36


class SettingsReader:
    """Collects settings and their problems; `finish()` raises one `SettingsError` for all."""

    def __init__(self, component: str, source: Mapping[str, Any]) -> None:
        self.component = component
        self.source = source
        self.problems: list[str] = []

    def get(
        self,
        name: str,
        *,
        required: bool = False,
        default: T | None = None,
        parse: Callable[[str], T] | None = None,
        check: Callable[[Any], bool] | None = None,
        expect: str = "a valid value",
    ) -> Any:
        """The setting's value (stripped, parsed), or `default` with the problem recorded.

        A value that still holds a placeholder is refused for every setting: copied unchanged
        from .env.example it would otherwise surface later as a puzzling error of the tenant.
        The problems never echo a value: it may be a secret.
        """
        if not self.is_set(name):
            if required:
                self.problems.append(f"{name} is missing")
            return default
        raw = self.source[name]
        value: Any = raw.strip() if isinstance(raw, str) else raw
        if isinstance(value, str) and PLACEHOLDER.search(value):
            self.problems.append(f"{name} still holds the placeholder from .env.example")
            return default
        if parse is not None and isinstance(value, str):
            try:
                value = parse(value)
            except (ValueError, TypeError):
                self.problems.append(f"{name} must be {expect}")
                return default
        if check is not None and not check(value):
            self.problems.append(f"{name} must be {expect}")
            return default
        return value

    def is_set(self, name: str) -> bool:
        """Whether the setting has a value at all, usable or not (then `get` reported it)."""
        raw = self.source.get(name)
        return raw is not None and not (isinstance(raw, str) and raw.strip() == "")

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def finish(self) -> None:
        if self.problems:
            raise SettingsError(self.component, self.problems)


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


# --- The tenant ----------------------------------------------------------------------------


def read_authority(r: SettingsReader) -> str:
    """The tenant-qualified authority from AUTHORITY, or else from TENANT_SUBDOMAIN.

    The rules are `common.oidc.resolve_authority`'s. On a problem it is recorded and the result
    is "" (`r.finish()` then raises). A TENANT_SUBDOMAIN that is not a bare tenant name is
    refused even when AUTHORITY wins over it: it shows the settings were misunderstood.
    """
    authority = r.get("AUTHORITY")
    subdomain = r.get("TENANT_SUBDOMAIN")
    if subdomain is not None:
        try:
            subdomain = check_subdomain(subdomain)
        except ValueError as exc:
            r.problem(str(exc))
            subdomain = None
    if authority is not None:
        try:
            return resolve_authority(authority)
        except ValueError as exc:
            r.problem(f"AUTHORITY is not usable: {exc}")
            return ""
    if subdomain is not None:
        return resolve_authority(None, subdomain)
    if not (r.is_set("AUTHORITY") or r.is_set("TENANT_SUBDOMAIN")):
        r.problem("AUTHORITY (or TENANT_SUBDOMAIN) is missing")
    return ""


# --- URLs ------------------------------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1: traffic that never leaves this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def https_or_loopback(url: str) -> bool:
    """Whether `url` is an https URL, or a plain http one to a loopback host.

    Tokens travel to these URLs: plain http is tolerable only when it stays on this machine
    (the local API in development). Use with `expect=HTTPS_OR_LOOPBACK`.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. "http://[::1" (an unbalanced IPv6 bracket)
        return False
    if not host:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(host))


# --- The client credential (web app and daemon) ----------------------------------------------


class ThumbprintCredential(TypedDict):
    """MSAL's certificate credential signed RS256 and named by its SHA-1 thumbprint (`x5t`)."""

    private_key: str
    thumbprint: str


class CertificateCredential(TypedDict):
    """MSAL's certificate credential signed PS256, the certificate sent along (`x5c`)."""

    private_key: str
    public_certificate: str


# What MSAL's ConfidentialClientApplication takes as `client_credential`.
ClientCredential: TypeAlias = str | ThumbprintCredential | CertificateCredential


def read_client_credential(r: SettingsReader) -> ClientCredential:
    """CLIENT_SECRET, or CERT_PRIVATE_KEY_FILE with CERT_THUMBPRINT or CERT_FILE, in MSAL's form.

    Everything the tenant would refuse later with an obscure AADSTS code is checked now: the
    key is an unencrypted PEM RSA key, CERT_FILE is the certificate of that key, and a
    CERT_THUMBPRINT given with CERT_FILE is that certificate's. On a problem it is recorded and
    the result is "" (`r.finish()` then raises).
    """
    secret = r.get("CLIENT_SECRET")
    key_file = r.get("CERT_PRIVATE_KEY_FILE")
    thumbprint = r.get("CERT_THUMBPRINT")
    cert_file = r.get("CERT_FILE")
    if secret and key_file:
        r.problem("CLIENT_SECRET and CERT_PRIVATE_KEY_FILE are both set; use one of them")
        return ""
    if secret:
        return str(secret)
    if not key_file:
        if not (r.is_set("CLIENT_SECRET") or r.is_set("CERT_PRIVATE_KEY_FILE")):
            r.problem(
                "CLIENT_SECRET is missing "
                "(or CERT_PRIVATE_KEY_FILE with CERT_THUMBPRINT or CERT_FILE)"
            )
        return ""
    private_pem = _read_file(r, "CERT_PRIVATE_KEY_FILE", key_file)
    if private_pem is None:
        return ""
    private_key = _rsa_private_key(private_pem)
    if private_key is None:
        r.problem("CERT_PRIVATE_KEY_FILE must hold an unencrypted PEM RSA private key")
        return ""
    private_text = private_pem.decode()
    if cert_file:
        return _certificate_credential(r, cert_file, private_key, private_text, thumbprint)
    if not thumbprint:
        if not r.is_set("CERT_THUMBPRINT"):
            r.problem("CERT_PRIVATE_KEY_FILE needs CERT_THUMBPRINT or CERT_FILE")
        return ""
    normalized = _normalize_thumbprint(r, thumbprint)
    if normalized is None:
        return ""
    return {"private_key": private_text, "thumbprint": normalized}


def _rsa_private_key(pem: bytes) -> rsa.RSAPrivateKey | None:
    try:
        pem.decode()  # MSAL takes the key as text
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):  # not text, not PEM, not a key, encrypted
        return None
    return key if isinstance(key, rsa.RSAPrivateKey) else None


def _certificate_credential(
    r: SettingsReader,
    cert_file: str,
    private_key: rsa.RSAPrivateKey,
    private_text: str,
    thumbprint: str | None,
) -> CertificateCredential | str:
    cert_pem = _read_file(r, "CERT_FILE", cert_file)
    if cert_pem is None:
        return ""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        cert_text = cert_pem.decode()
    except ValueError:
        r.problem("CERT_FILE must hold a PEM certificate")
        return ""
    if _spki(cert.public_key()) != _spki(private_key.public_key()):
        r.problem("CERT_FILE is not the certificate of the key in CERT_PRIVATE_KEY_FILE")
        return ""
    if thumbprint:
        normalized = _normalize_thumbprint(r, thumbprint)
        if normalized is None:
            return ""
        # x5t is the SHA-1 thumbprint by definition: it names the certificate, it secures nothing
        sha1 = cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
        if normalized != sha1:
            r.problem("CERT_THUMBPRINT is not the SHA-1 thumbprint of CERT_FILE")
            return ""
    return {"private_key": private_text, "public_certificate": cert_text}


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read_file(r: SettingsReader, name: str, path: str) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        r.problem(f"{name} {path} cannot be read ({exc.strerror})")
        return None


def _normalize_thumbprint(r: SettingsReader, value: str) -> str | None:
    """Upper-case hex without separators (the admin center shows it so; colons, spaces ok)."""
    hex_digits = re.sub(r"[\s:]", "", value).upper()
    if not re.fullmatch(r"[0-9A-F]{40}", hex_digits):
        r.problem("CERT_THUMBPRINT must be the certificate's SHA-1 thumbprint (40 hex digits)")
        return None
    return hex_digits


# --- Files that hold secrets -----------------------------------------------------------------


def write_private(
    path: str | os.PathLike[str], data: str | bytes, *, replace: bool = True
) -> None:
    """Write `path` as a file only its owner can read or write (0600 from its creation).

    The data goes to a temporary file in the same directory, is flushed to disk, and then takes
    the place of `path` in one step, so a reader (another process, the running local tenant)
    sees the old file or the new one, never a part of one, and never a moment of a wider mode.
    With `replace=False` an existing `path` is kept and FileExistsError raised: of several
    processes creating the same secret at once, exactly one wins and the others read its file.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
    finally:
        Path(tmp).unlink(missing_ok=True)
