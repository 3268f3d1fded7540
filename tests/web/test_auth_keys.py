"""Signing keys: a token without `kid` against a single-key set, and a freshly rotated key.

These run against a tenant of their own (started for this module), so that its key set holds
exactly one key until the rotation test adds another, whatever other tests do to the shared
tenant.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from common.http import HttpClient
from tests.fixtures.tenant import RunningTenant, running_tenant
from tests.fixtures.web import LiveWeb
from tests.support.person import Person


@pytest.fixture(scope="module")
def own_tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTenant]:
    with running_tenant(tmp_path_factory.mktemp("keys-tenant")) as running:
        yield running


@pytest.fixture
def own_web(own_tenant: RunningTenant, tmp_path: Path) -> Iterator[LiveWeb]:
    settings = {**own_tenant.env("web"), "JWKS_MIN_REFRESH_SECONDS": "0"}
    with LiveWeb(settings, tmp_path / "instance") as web:
        yield web


def key_ids(tenant: RunningTenant) -> list[str]:
    keys = HttpClient(ca_file=tenant.ca_file).get(tenant.jwks_uri).json()["keys"]
    return [key["kid"] for key in keys]


def sign_in(web: LiveWeb, tenant: RunningTenant, fault: str | None = None) -> Any:
    browser = Person(web.url, tenant.ca_file)
    user = tenant.add_user()
    auth_uri = browser.start("/auth/signin", next="/users/id")
    if fault:
        tenant.admin.fault("id_token", fault)
    resp = browser.deliver(browser.tenant.sign_in(auth_uri, user.email, user.password))
    return resp, browser, user


def test_a_token_without_kid_signs_in_when_the_set_has_one_key(
    own_tenant: RunningTenant, own_web: LiveWeb
) -> None:
    assert len(key_ids(own_tenant)) == 1
    resp, browser, user = sign_in(own_web, own_tenant, fault="no_kid")
    assert resp.status_code == 302, resp.text
    assert resp.headers["Location"] == "/users/id"
    assert user.oid in browser.get("/users/id").text


def test_a_token_signed_with_a_freshly_rotated_key_signs_in(
    own_tenant: RunningTenant, own_web: LiveWeb
) -> None:
    first, _, _ = sign_in(own_web, own_tenant)
    assert first.status_code == 302
    own_tenant.admin.reset_counts()
    new_kid = own_tenant.admin.rotate_key()
    assert new_kid in key_ids(own_tenant)
    own_tenant.admin.reset_counts()
    resp, browser, user = sign_in(own_web, own_tenant)
    assert resp.status_code == 302, resp.text
    assert user.oid in browser.get("/users/id").text
    assert own_tenant.admin.counts()["keys"] == 1  # one re-fetch for the unknown kid


def test_a_token_without_kid_is_refused_when_several_keys_could_have_signed_it(
    own_tenant: RunningTenant, own_web: LiveWeb
) -> None:
    own_tenant.admin.rotate_key()
    assert len(key_ids(own_tenant)) > 1
    resp, browser, _ = sign_in(own_web, own_tenant, fault="no_kid")
    assert resp.status_code == 502
    assert "Sign-in failed" in resp.text
    assert browser.get("/users/id").status_code == 302
