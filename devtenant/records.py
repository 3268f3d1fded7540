"""The tenant's persisted state as SQLAlchemy tables (in `users.sqlite`, beside the users):
authorization codes, refresh tokens, SSO sessions, one-time codes, sent mail and settings.

Codes and tokens are stored by a hash of their value, never the value itself: the database of
a data directory holds nothing a client could redeem. The objects are used detached from their
session (`expire_on_commit=False`), as plain records Authlib's grants read.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from devtenant.store import Base


def token_hash(value: str) -> str:
    """The key a code or token is stored under (its values are random: a plain SHA-256)."""
    return hashlib.sha256(value.encode()).hexdigest()


class AuthCode(Base):
    """An authorization code, with how the user signed in (`amr`) and what the request asked
    for beyond scopes (`acrs` satisfied, the CP1 client capability)."""

    __tablename__ = "auth_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36))
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    oid: Mapped[str] = mapped_column(String(36))
    sid: Mapped[str] = mapped_column(String(64))
    auth_time: Mapped[int] = mapped_column(Integer)
    nonce: Mapped[str | None] = mapped_column(Text, nullable=True)
    code_challenge: Mapped[str | None] = mapped_column(String(128), nullable=True)
    code_challenge_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    redeemed: Mapped[bool] = mapped_column(Boolean, default=False)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    xms_cc: Mapped[bool] = mapped_column(Boolean, default=False)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"
    value_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(36))
    oid: Mapped[str] = mapped_column(String(36), index=True)
    sid: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)
    acrs: Mapped[list[str]] = mapped_column(JSON, default=list)
    xms_cc: Mapped[bool] = mapped_column(Boolean, default=False)

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope


class SsoSession(Base):
    """A browser's signed-in session at the tenant (its id is in the tenant's cookie)."""

    __tablename__ = "sso_sessions"
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    oid: Mapped[str] = mapped_column(String(36), index=True)
    auth_time: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
    amr: Mapped[list[str]] = mapped_column(JSON, default=list)

    @property
    def mfa(self) -> bool:
        return "mfa" in (self.amr or [])


class OneTimeCode(Base):
    """An emailed one-time code (its HMAC only), for one address and one purpose."""

    __tablename__ = "one_time_codes"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    purpose: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float, index=True)
    expires_at: Mapped[float] = mapped_column(Float)
    wrong_attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class Mail(Base):
    """A mail the tenant "sent": kept for the local mailbox page and the admin API."""

    __tablename__ = "mail"
    __table_args__ = (Index("ix_mail_to_created", "to", "created_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(256))
    purpose: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to,
            "subject": self.subject,
            "purpose": self.purpose,
            "code": self.code,
            "body": self.body,
            "created_at": self.created_at,
        }


class Setting(Base):
    """A tenant setting set through the admin API or the command line (JSON value)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
