"""What can stop a request, each failure carrying what its page and its one log line need.

A `Failure` has the person's `message` and HTTP `status`, and `log`: one line naming the real
cause, with the URL or host involved and the provider's `AADSTS` code when there is one, never
a token, code or secret. Views raise; the handlers of each blueprint (`app.errors` for pages,
the proxy's for problem+json, `app.auth`'s for signing in) render and log, once.

`refusal()` names the tenant's refusals truly: a misconfigured app (an unknown scope, client id,
a wrong or expired credential, an unregistered redirect URI) is not an outage, and missing
consent is not a reason to sign in again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app import messages
from app.messages import Message
from common.http import failure_cause

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_AADSTS = re.compile(r"AADSTS(\d+)")


def log_safe(text: object, limit: int = 300) -> str:
    """`text` for a log line: control characters escaped (no forged lines), at most `limit`."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))[:limit]


class Failure(Exception):
    """A request cannot be served as asked: what the person sees and what the log says."""

    level = logging.WARNING

    def __init__(self, message: Message, status: int, log: str) -> None:
        super().__init__(log)
        self.message = message
        self.status = status
        self.log = log_safe(log, 600)


class ProviderUnavailable(Failure):
    """The tenant could not be reached, was too slow, or answered something unusable."""

    @classmethod
    def network(cls, exc: BaseException, url: str | None, during: str) -> ProviderUnavailable:
        request = getattr(exc, "request", None)
        url = getattr(request, "url", None) or url or "(unknown URL)"
        cause = failure_cause(exc)
        timeout = cause == "timed out"
        message = messages.PROVIDER_TIMEOUT if timeout else messages.PROVIDER_UNREACHABLE
        log = f"sign-in service unreachable during {during}: {url.split('?')[0]}: {cause}"
        return cls(message, 504 if timeout else 503, log)

    @classmethod
    def bad_answer(cls, why: str, during: str) -> ProviderUnavailable:
        return cls(messages.PROVIDER_BAD_ANSWER, 502,
                   f"sign-in service answered something unusable during {during}: {why}")


class AppMisconfigured(Failure):
    """The tenant refused this app's settings or registration (an administrator must fix it)."""

    level = logging.ERROR


class ProviderRefused(Failure):
    """The tenant refused a token for a reason that is neither the user's nor the settings'."""


class ConsentMissing(Failure):
    """This app lacks consent for `scopes` (External ID's customers cannot grant it)."""

    def __init__(self, scopes: list[str], log: str) -> None:
        super().__init__(messages.CONSENT_MISSING, 403, log)
        self.scopes = list(scopes)


class SignInRequired(Exception):
    """No usable token without the user: not signed in, or the tenant wants them back.

    `claims` is set for a step-up: the claims challenge (decoded JSON text) the new sign-in
    must satisfy, e.g. an authentication context that takes a second factor."""

    def __init__(self, scopes: Iterable[str], reason: str, claims: str | None = None) -> None:
        super().__init__(reason)
        self.scopes = list(scopes)
        self.reason = log_safe(reason)
        self.claims = claims


class SignInFailed(Failure):
    """A sign-in attempt ended without a signed-in user.

    `kind` is one of `cancelled`, `provider`, `state`, `expired`, `id_token` (the keys of
    `messages.SIGN_IN_FAILED`); `detail` is a safe, short description for the page and the log;
    `next_path` is where the user wanted to go, so that "sign in again" can lead there.
    """

    def __init__(self, kind: str, detail: str, next_path: str = "/") -> None:
        template = messages.SIGN_IN_FAILED[kind]
        detail = log_safe(detail)
        message = Message(template.title, template.text.format(detail=detail))
        super().__init__(message, 502 if kind == "id_token" else 400,
                         f"sign-in failed ({kind}): {detail}")
        self.kind = kind
        self.detail = detail
        self.next_path = next_path


@dataclass(frozen=True)
class AppFacts:
    """What a misconfiguration's log line names: the settings the tenant refused."""

    client_id: str
    credential: str  # "client secret", or "client certificate (thumbprint ...)"
    redirect_uri: str


def aadsts(answer: Mapping[str, Any]) -> int | None:
    """The provider's first `AADSTS` code: from `error_codes`, else from the description."""
    codes = answer.get("error_codes")
    if isinstance(codes, list) and codes and isinstance(codes[0], int):
        return codes[0]
    found = _AADSTS.search(str(answer.get("error_description") or ""))
    return int(found.group(1)) if found else None


def provider_text(answer: Mapping[str, Any]) -> str:
    """`error: description` (without Entra's trace and correlation ids), shortened."""
    error = log_safe(answer.get("error", "error"), 64)
    text = str(answer.get("error_description") or "")
    # Entra appends "\r\nTrace ID: ...\r\nCorrelation ID: ...\r\nTimestamp: ..." lines.
    description = (text.splitlines() or [""])[0].split(" Trace ID:")[0]
    description = log_safe(description.strip(), 300)
    return f"{error}: {description}" if description else error


# 70011 at the token endpoint, 650053 at authorize: a scope name the API does not expose;
# 500011: no such resource; 700022: scopes of several resources in one request.
_SCOPE_CODES = frozenset({500011, 70011, 650053, 700022})
# 50011: not registered; 500112: not the one the code was issued for.
_REDIRECT_CODES = frozenset({50011, 500112})
_CREDENTIAL_CODES = {7000215: "is wrong", 7000222: "has expired", 700027: "was not accepted"}
# Errors after which only the user can help (by signing in again).
INTERACTION_ERRORS = frozenset({"interaction_required", "invalid_grant", "login_required"})


def misconfiguration(
    answer: Mapping[str, Any], scopes: list[str], app: AppFacts, during: str
) -> AppMisconfigured | None:
    """The `AppMisconfigured` for a refusal that names the app's settings, else None."""
    code = aadsts(answer)
    if code in _SCOPE_CODES:
        what = f"scope {' '.join(scopes) or '(none)'} is not known to the tenant"
    elif code == 700016:
        what = f"client id {app.client_id} is not registered in the tenant"
    elif code in _CREDENTIAL_CODES:
        what = f"the {app.credential} {_CREDENTIAL_CODES[code]}"
    elif code in _REDIRECT_CODES:
        what = f"redirect URI {app.redirect_uri} is not registered for the app"
    else:
        return None
    return AppMisconfigured(
        messages.APP_MISCONFIGURED, 500,
        f"app misconfigured: {what} (AADSTS{code}, during {during}): {provider_text(answer)}",
    )


def refusal(
    answer: Mapping[str, Any], scopes: list[str], app: AppFacts, during: str
) -> Exception:
    """What a token request's error answer means: the exception to raise for it."""
    misconfigured = misconfiguration(answer, scopes, app, during)
    if misconfigured is not None:
        return misconfigured
    code = aadsts(answer)
    shown = provider_text(answer)
    if code == 65001 or answer.get("suberror") == "consent_required":
        return ConsentMissing(
            scopes, f"consent missing for scope {' '.join(scopes)} (AADSTS{code}): {shown}"
        )
    error = str(answer.get("error", ""))
    if error in INTERACTION_ERRORS:
        return SignInRequired(scopes, f"{error} (AADSTS{code})" if code else error)
    return ProviderRefused(messages.PROVIDER_REFUSED, 502,
                           f"sign-in service refused a token during {during}: {shown}")

