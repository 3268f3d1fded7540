"""The daemon's failure type, and the wording for a server that cannot be reached."""

from __future__ import annotations

import re

import requests


class DaemonError(Exception):
    """A failure with a one-line, user-facing message (never contains a token or secret)."""


def unreachable(what: str, url: str, exc: requests.RequestException) -> str:
    """Why `what` at `url` could not be talked to, from the `requests` exception."""
    if isinstance(exc, requests.exceptions.SSLError):
        return f"{what} at {url} failed TLS verification; check CA_FILE"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"{what} at {url} could not be reached (connection timed out)"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"{what} at {url} did not answer in time"
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    reason = match.group(1).strip() if match else type(exc).__name__
    return f"{what} at {url} could not be reached ({reason})"
