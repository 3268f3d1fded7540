"""Claims challenges: an operation that needs an authentication context (e.g. MFA).

With `REQUIRE_MFA_FOR_DELETE` on, a DELETE whose token does not list the context
`MFA_AUTH_CONTEXT` (default `c1`) in its `acrs` claim is answered as Microsoft's APIs answer:
401 with

    WWW-Authenticate: Bearer realm="", error="insufficient_claims", claims="<base64>"

where `<base64>` is the standard base64 (with padding, as Microsoft's samples write it with
`Convert.ToBase64String`) of the UTF-8 JSON `{"access_token":{"acrs":{"essential":true,
"value":"c1"}}}`. A client that declared the `CP1` capability decodes it and asks the tenant for
a new token with those claims (MSAL's `claims_challenge`), which takes the user through the
second factor. Apps cannot satisfy it: a daemon gets the same answer and reports it.
"""

from __future__ import annotations

import json

from flask import current_app, request

from common.challenge import encode_claims

from .auth import Caller
from .errors import ApiProblem

CONTEXT_EXTENSION = "todolist.delete_auth_context"


def claims_request(context: str) -> str:
    """The claims a token must have, as the JSON text the challenge carries."""
    wanted = {"access_token": {"acrs": {"essential": True, "value": context}}}
    return json.dumps(wanted, separators=(",", ":"))


def challenge(context: str) -> str:
    """The `WWW-Authenticate` value asking for a token that satisfied `context`."""
    encoded = encode_claims(claims_request(context))
    return f'Bearer realm="", error="insufficient_claims", claims="{encoded}"'


def require_delete_context(caller: Caller) -> None:
    """Raise the claims challenge (401) if deleting needs a context `caller`'s token lacks."""
    context: str | None = current_app.extensions.get(CONTEXT_EXTENSION)
    if context is None or context in caller.acrs:
        return
    current_app.logger.info(
        "claims challenge: %s %s needs authentication context %s; the token's acrs: %s",
        request.method, request.path, context, ", ".join(sorted(caller.acrs)) or "none",
    )
    raise ApiProblem(
        401,
        f"Deleting needs a sign-in that satisfied authentication context {context} (a second "
        "factor): get a new token with the claims in the WWW-Authenticate header.",
        headers={"WWW-Authenticate": challenge(context)},
    )
