"""Entra's password policy for customer accounts: 8 to 256 characters, at least 3 of the 4
character groups (lowercase, uppercase, digits, symbols)."""

from __future__ import annotations

MIN_LENGTH = 8
MAX_LENGTH = 256
TOO_SHORT_OR_LONG = "Your password must be between 8 and 256 characters long."
TOO_SIMPLE = (
    "Your password must contain characters from at least 3 of these 4 groups: lowercase "
    "letters, uppercase letters, numbers and symbols."
)
MISMATCH = "The passwords don't match. Enter the same password in both boxes."


def _groups(password: str) -> int:
    return sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )


def password_problem(password: str, confirm: str) -> str | None:
    """What is wrong with a new password, in words for the page; None when it is acceptable."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return TOO_SHORT_OR_LONG
    if _groups(password) < 3:
        return TOO_SIMPLE
    if password != confirm:
        return MISMATCH
    return None
