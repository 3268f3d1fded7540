"""What the tenant keeps across restarts besides users: authorization codes, refresh tokens,
SSO sessions and settings (SQLite in the data directory, see `devtenant.records`).

Each redemption is a couple of primary-key queries; expired rows are swept at most once a
minute, on a write.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from sqlalchemy import Engine, delete, update
from sqlalchemy.orm import Session

from devtenant.errors import EntraError
from devtenant.records import AuthCode, OneTimeCode, RefreshToken, Setting, SsoSession, token_hash
from devtenant.store import Base

SSO_LIFETIME = 86400  # seconds a browser stays signed in at the tenant without signing in again
SWEEP_EVERY = 60.0


class Persisted:
    """The persisted half of the tenant's state; `TenantState` adds the in-memory test controls."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        Base.metadata.create_all(engine)
        self._swept_at = 0.0
        self._sweep_lock = threading.Lock()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _sweep(self, session: Session) -> None:
        """Delete what has expired (codes, tokens, sessions), at most once a minute."""
        now = time.time()
        with self._sweep_lock:
            if now - self._swept_at < SWEEP_EVERY:
                return
            self._swept_at = now
        for table in (AuthCode, RefreshToken, SsoSession):
            session.execute(delete(table).where(table.expires_at < now))
        session.execute(delete(OneTimeCode).where(OneTimeCode.expires_at < now))

    # -- authorization codes --------------------------------------------------------------
    def save_code(self, code: str, record: AuthCode) -> None:
        record.code_hash = token_hash(code)
        with self._session() as session:
            self._sweep(session)
            session.add(record)
            session.commit()

    def redeem_code(self, code: str, client_id: str) -> AuthCode | None:
        """The code's record, marked redeemed (one use, even if the rest of the request fails);
        None for an unknown code or another client's; AADSTS54005 for a second use."""
        with self._session() as session:
            record = session.get(AuthCode, token_hash(code))
            if record is None or record.client_id != client_id:
                return None
            marked = session.execute(
                update(AuthCode)
                .where(AuthCode.code_hash == record.code_hash, AuthCode.redeemed.is_(False))
                .values(redeemed=True)
            )
            session.commit()
            if getattr(marked, "rowcount", 0) != 1:
                raise EntraError("invalid_grant", 54005)
            return record

    # -- refresh tokens -------------------------------------------------------------------
    def new_refresh_token(
        self, client_id: str, oid: str, sid: str, scope: str, lifetime: int, **grant: Any
    ) -> str:
        """A new refresh token; `grant` carries `amr`, `acrs` and `xms_cc` forward."""
        value = "1.devtenant." + secrets.token_urlsafe(64)
        record = RefreshToken(
            value_hash=token_hash(value),
            client_id=client_id,
            oid=oid,
            sid=sid,
            scope=scope,
            expires_at=time.time() + lifetime,
            revoked=False,
            amr=list(grant.get("amr") or []),
            acrs=list(grant.get("acrs") or []),
            xms_cc=bool(grant.get("xms_cc")),
        )
        with self._session() as session:
            self._sweep(session)
            session.add(record)
            session.commit()
        return value

    def refresh_token(self, value: str) -> RefreshToken | None:
        with self._session() as session:
            return session.get(RefreshToken, token_hash(value))

    def revoke_user_sessions(self, oid: str) -> None:
        """Every refresh token of the user stops working (AADSTS50173) and every SSO session
        of the user ends, as Graph's revokeSignInSessions and a password reset do."""
        with self._session() as session:
            session.execute(
                update(RefreshToken).where(RefreshToken.oid == oid).values(revoked=True)
            )
            session.execute(delete(SsoSession).where(SsoSession.oid == oid))
            session.commit()

    # -- SSO sessions ---------------------------------------------------------------------
    def new_session(self, oid: str, amr: list[str]) -> SsoSession:
        now = time.time()
        record = SsoSession(
            sid=secrets.token_urlsafe(16),
            oid=oid,
            auth_time=int(now),
            expires_at=now + SSO_LIFETIME,
            amr=list(amr),
        )
        with self._session() as session:
            self._sweep(session)
            session.add(record)
            session.commit()
        return record

    def session(self, sid: str) -> SsoSession | None:
        if not sid:
            return None
        with self._session() as session:
            record = session.get(SsoSession, sid)
        if record is None or record.expires_at < time.time():
            return None
        return record

    def end_session(self, sid: str | None) -> None:
        if not sid:
            return
        with self._session() as session:
            session.execute(delete(SsoSession).where(SsoSession.sid == sid))
            session.commit()

    # -- settings -------------------------------------------------------------------------
    def setting(self, key: str, default: Any = None) -> Any:
        with self._session() as session:
            record = session.get(Setting, key)
            return default if record is None else record.value

    def set_setting(self, key: str, value: Any) -> None:
        with self._session() as session:
            session.merge(Setting(key=key, value=value))
            session.commit()

    def clear_settings(self, *keys: str) -> None:
        with self._session() as session:
            session.execute(delete(Setting).where(Setting.key.in_(keys)))
            session.commit()
