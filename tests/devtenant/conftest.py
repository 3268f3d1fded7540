"""Fixtures shared by the local tenant's tests."""

from __future__ import annotations

import pytest

from common.http import HttpClient


@pytest.fixture(scope="module")
def http(tenant):
    """One pooled client trusting the tenant's CA (given to MSAL as `http_client`)."""
    client = HttpClient(ca_file=tenant.ca_file)
    yield client
    client.close()
