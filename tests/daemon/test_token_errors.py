"""How the tenant's token-endpoint errors are worded for the person running the daemon."""

from __future__ import annotations

import pytest

from daemon.auth import token_error


def entra_error(error: str, code: int, text: str) -> dict[str, object]:
    """An error body shaped like Entra's (description lines: message, trace id, timestamp)."""
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: 0000\r\nTimestamp: 2026-01-01",
        "error_codes": [code],
    }


def test_bad_secret() -> None:
    message = token_error(entra_error("invalid_client", 7000215, "Invalid client secret."),
                          "secret")
    assert message == (
        "the tenant refused the client secret (AADSTS7000215: invalid client secret); "
        "check CLIENT_SECRET"
    )


def test_expired_secret() -> None:
    message = token_error(entra_error("invalid_client", 7000222, "expired"), "secret")
    assert "expired (AADSTS7000222)" in message


@pytest.mark.parametrize("kind", ["thumbprint", "certificate"])
def test_certificate_not_accepted(kind: str) -> None:
    message = token_error(
        entra_error("invalid_client", 700027, "Client assertion contains an invalid signature."),
        kind,
    )
    assert message == (
        "the tenant did not accept the certificate (AADSTS700027: Client assertion contains an "
        "invalid signature.); check that it is uploaded to the daemon's registration and "
        "matches CERT_PRIVATE_KEY_FILE"
    )


def test_unknown_application_and_resource() -> None:
    assert "CLIENT_ID" in token_error(
        entra_error("unauthorized_client", 700016, "Application not found"), "secret"
    )
    assert "SCOPES" in token_error(
        entra_error("invalid_resource", 500011, "resource principal not found"), "certificate"
    )


def test_code_read_from_the_description_when_codes_are_absent() -> None:
    result = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid secret."}
    assert "AADSTS7000215" in token_error(result, "secret")


def test_trace_ids_on_the_same_line_are_dropped() -> None:
    result = {
        "error": "invalid_request",
        "error_description": "AADSTS900144: missing 'scope'. Trace ID: 1 Correlation ID: 2",
        "error_codes": [900144],
    }
    message = token_error(result, "secret")
    assert message == (
        "the tenant refused the token request (invalid_request: AADSTS900144: missing 'scope'.)"
    )


def test_other_errors_keep_only_the_first_line() -> None:
    message = token_error(entra_error("invalid_request", 900144, "missing 'scope'"), "secret")
    assert message == (
        "the tenant refused the token request (invalid_request: AADSTS900144: missing 'scope')"
    )
