"""Emailed one-time codes and the mail that carries them (kept for the local mailbox).

Codes have 8 digits (as External ID sends), live 10 minutes, allow 3 wrong attempts, and are
stored as an HMAC (keyed with the tenant's secret) only. An address gets at most 5 codes in 10
minutes. The mail kept is bounded: the newest 50 per address and 10,000 in all.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from devtenant.records import Mail, OneTimeCode

CODE_DIGITS = 8
CODE_LIFETIME = 600
MAX_WRONG_ATTEMPTS = 3
CODES_PER_WINDOW = 5
CODE_WINDOW = 600
MAIL_PER_ADDRESS = 50
MAIL_IN_ALL = 10_000
CODES_IN_ALL = 10_000
SUBJECTS = {
    "signup": "{app} account email verification code",
    "otp": "{app} sign-in code",
    "reset": "{app} password reset code",
    "mfa": "{app} verification code",
}
BODY = (
    "Account verification\n\nYou requested a code to {what}. Your code is: {code}\n\n"
    "It expires in 10 minutes. If you didn't request a code, you can ignore this email."
)
WHAT = {
    "signup": "verify your email address for {app}",
    "otp": "sign in to {app}",
    "reset": "reset your password for {app}",
    "mfa": "confirm it's you signing in to {app}",
}


class CodeCheck(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    LOCKED = "locked"  # too many wrong attempts: a new code is needed
    UNKNOWN = "unknown"  # no such code (never sent, or already used)


class TooManyCodes(Exception):
    """The address was sent CODES_PER_WINDOW codes in the last CODE_WINDOW seconds."""


class Mailer:
    """Sends (keeps) mail with one-time codes and checks the codes entered."""

    def __init__(self, engine: Engine, secret: str) -> None:
        self.engine = engine
        self._key = secret.encode()

    def _hash(self, code_id: str, code: str) -> str:
        return hmac.new(self._key, f"{code_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def send_code(self, email: str, purpose: str, app: str) -> str:
        """Mail a new code to `email`; returns the code's id (for the flow's cookie)."""
        email = email.strip().lower()
        now = time.time()
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        code_id = secrets.token_urlsafe(16)
        with Session(self.engine) as session:
            recent = session.scalar(
                select(func.count())
                .select_from(OneTimeCode)
                .where(OneTimeCode.email == email, OneTimeCode.created_at > now - CODE_WINDOW)
            )
            if (recent or 0) >= CODES_PER_WINDOW:
                raise TooManyCodes(email)
            session.add(
                OneTimeCode(
                    id=code_id,
                    email=email,
                    purpose=purpose,
                    code_hash=self._hash(code_id, code),
                    created_at=now,
                    expires_at=now + CODE_LIFETIME,
                    wrong_attempts=0,
                    used=False,
                )
            )
            session.add(_mail(email, purpose, app, code, now))
            session.flush()
            _bound(session, email)
            session.commit()
        return code_id

    def check(self, code_id: str | None, email: str, purpose: str, entered: str) -> CodeCheck:
        """Check a code the user typed; a right one is used up, a wrong one counted."""
        with Session(self.engine) as session:
            record = session.get(OneTimeCode, code_id) if code_id else None
            if (
                record is None
                or record.used
                or (record.email, record.purpose)
                != (
                    email.strip().lower(),
                    purpose,
                )
            ):
                return CodeCheck.UNKNOWN
            if record.wrong_attempts >= MAX_WRONG_ATTEMPTS:
                return CodeCheck.LOCKED
            if record.expires_at < time.time():
                return CodeCheck.EXPIRED
            if hmac.compare_digest(record.code_hash, self._hash(record.id, entered.strip())):
                record.used = True
                session.commit()
                return CodeCheck.OK
            record.wrong_attempts += 1
            session.commit()
            return (
                CodeCheck.LOCKED if record.wrong_attempts >= MAX_WRONG_ATTEMPTS else CodeCheck.WRONG
            )

    def mail_to(self, email: str) -> list[Mail]:
        """The mail kept for `email`, newest first."""
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(Mail).where(Mail.to == email.strip().lower())
            return list(session.scalars(query.order_by(Mail.id.desc())))

    def newest_per_address(self, limit: int = 200) -> list[Mail]:
        """The newest mail of each address, newest first (the mailbox page's list)."""
        with Session(self.engine, expire_on_commit=False) as session:
            newest = select(func.max(Mail.id)).group_by(Mail.to)
            query = select(Mail).where(Mail.id.in_(newest)).order_by(Mail.id.desc())
            return list(session.scalars(query.limit(limit)))


def _mail(email: str, purpose: str, app: str, code: str, now: float) -> Mail:
    what = WHAT[purpose].format(app=app)
    return Mail(
        to=email,
        subject=SUBJECTS[purpose].format(app=app),
        purpose=purpose,
        code=code,
        body=BODY.format(what=what, code=code),
        created_at=now,
    )


def _bound(session: Session, email: str) -> None:
    """Keep the newest MAIL_PER_ADDRESS mails of `email`, MAIL_IN_ALL mails and CODES_IN_ALL
    codes in all (the oldest go first)."""
    keep = select(Mail.id).where(Mail.to == email).order_by(Mail.id.desc()).limit(MAIL_PER_ADDRESS)
    session.execute(delete(Mail).where(Mail.to == email, Mail.id.not_in(keep)))
    oldest_kept = select(Mail.id).order_by(Mail.id.desc()).offset(MAIL_IN_ALL - 1).limit(1)
    session.execute(delete(Mail).where(Mail.id < oldest_kept.scalar_subquery()))
    codes_kept = (
        select(OneTimeCode.created_at)
        .order_by(OneTimeCode.created_at.desc())
        .offset(CODES_IN_ALL - 1)
        .limit(1)
    )
    session.execute(
        delete(OneTimeCode).where(OneTimeCode.created_at < codes_kept.scalar_subquery())
    )


def expire_codes_for_tests(engine: Engine, email: str) -> int:
    """Make every pending code of `email` expired (the admin API's test control)."""
    with Session(engine) as session:
        result = session.execute(
            update(OneTimeCode)
            .where(OneTimeCode.email == email.strip().lower())
            .values(expires_at=0.0)
        )
        session.commit()
        return int(getattr(result, "rowcount", 0))
