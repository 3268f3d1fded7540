"""Calling an API as the signed-in user: the token, one more try after a 401, and claims
challenges (the to-do API's client and Graph's use this).

A 401 means the API did nothing, so one more try is safe for writes too. A plain 401 gets a
forced refresh first (the token expired early, was revoked, keys rotated). A claims challenge
(`error="insufficient_claims"`, e.g. an authentication context that takes a second factor, or a
CAE event) gets a token acquired silently with MSAL's `claims_challenge` (the refresh token
redeemed with the claims); when that needs the user, or the API challenges again, the
`SignInRequired` carries the claims, and the page sends the user to the tenant with them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from app.failures import Failure, SignInRequired
from app.identity import current_identity

T = TypeVar("T")


def claims_of(refusal: Failure) -> str | None:
    """The decoded claims of a refusal that is a claims challenge (its `claims`), else None."""
    claims = getattr(refusal, "claims", None)
    return claims if isinstance(claims, str) else None


def as_user(
    scopes: list[str], send: Callable[[str], T], refused: type[Failure], what: str,
    log: logging.Logger,
) -> T:
    """`send(token)` with the user's token for `scopes`; `refused` is the 401 failure of the
    API, `what` the reason a second 401 gives for signing in again."""
    identity = current_identity()
    try:
        return send(identity.acquire_token(scopes))
    except refused as exc:
        claims = claims_of(exc)
        if claims is None:
            log.info("%s; refreshing the token once", exc.log)
        else:
            log.info("%s: a claims challenge for %s; asking for a token with them", exc.log, claims)
    try:
        return send(identity.acquire_token(scopes, force_refresh=True, claims_challenge=claims))
    except refused as exc:
        again = claims_of(exc)
        if again is not None:
            log.warning("%s: a claims challenge again, for %s, after a token with them",
                        exc.log, again)
            raise SignInRequired(scopes, f"{what}: it asks for claims {again}", again) from exc
        log.warning("%s again after a refresh", exc.log)
        raise SignInRequired(scopes, what) from exc
