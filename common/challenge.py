"""Claims challenges (`WWW-Authenticate: Bearer error="insufficient_claims", claims="..."`).

An API that needs more than a token carries (an authentication context such as MFA, or a
Continuous Access Evaluation event) answers 401 with the claims a new token must satisfy,
base64-encoded. Microsoft's APIs send standard base64 with padding; URL-safe or unpadded is
accepted too. The decoded text is what MSAL's `claims_challenge` takes.
"""

from __future__ import annotations

import base64
import json
import re

MAX_CLAIMS = 2048  # characters of decoded claims a client accepts (Microsoft's are ~70)


def param(challenge: str, name: str) -> str | None:
    """The quoted parameter `name` of a `WWW-Authenticate` value, or None."""
    match = re.search(rf'\b{name}="([^"]*)"', challenge)
    return match.group(1) if match else None


def is_claims_challenge(challenge: str) -> bool:
    return param(challenge, "error") == "insufficient_claims"


def decoded_claims(challenge: str) -> str | None:
    """The claims a claims challenge asks for, decoded (None when it is not one).

    Raises ValueError when the `claims` parameter is not base64 of UTF-8 text."""
    if not is_claims_challenge(challenge):
        return None
    encoded = param(challenge, "claims") or ""
    # binascii.Error and UnicodeDecodeError are ValueErrors
    return base64.urlsafe_b64decode(
        encoded.replace("+", "-").replace("/", "_") + "=" * (-len(encoded) % 4)
    ).decode()


def usable_claims(text: str | None) -> str | None:
    """`text` when it is a claims request a client may send on (a JSON object of bounded
    size), else None."""
    if not text or len(text) > MAX_CLAIMS:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return text if isinstance(parsed, dict) and parsed else None


def encode_claims(claims: str) -> str:
    """The `claims` parameter of a challenge for `claims` (standard base64, as Microsoft's)."""
    return base64.b64encode(claims.encode()).decode()


def challenge_claims(challenge: str) -> str | None:
    """The claims of a `WWW-Authenticate` value a client can answer: a claims challenge whose
    claims decode to a bounded JSON object. None for anything else (a plain 401)."""
    try:
        return usable_claims(decoded_claims(challenge))
    except ValueError:
        return None
