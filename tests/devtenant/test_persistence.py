"""What survives a restart of the tenant process (a real one, same data directory and ports):
refresh tokens (redeemed by MSAL after it), SSO sessions, revocations, mail, the user flow and
the MFA policy. And an older data directory's users table gains the new columns."""

from __future__ import annotations

import sqlite3

import msal
import pytest

from common.http import HttpClient
from devtenant.store import TenantStore
from tests.devtenant.helpers import REDIRECT_URI, web_app
from tests.fixtures.tenant import running_tenant
from tests.support.browser import FormBrowser, Page, Redirect


def _signed_in(tenant, http, user, browser: FormBrowser, scopes: list[str]):
    app = web_app(tenant, http)
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT_URI)
    back = browser.sign_in(flow["auth_uri"], user.email, user.password)
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, back.params)
    return app


def _refresh(app, scopes: list[str]) -> dict:
    return app.acquire_token_silent_with_error(scopes, app.get_accounts()[0], force_refresh=True)


def test_a_restart_keeps_refresh_tokens_sessions_mail_and_settings(tmp_path):
    with running_tenant(tmp_path) as tenant:
        http = HttpClient(ca_file=tenant.ca_file)
        scopes = [tenant.env("web")["TODOLIST_READ"]]
        user, revoked = tenant.add_user(), tenant.add_user()
        browser = FormBrowser(tenant.ca_file)
        app = _signed_in(tenant, http, user, browser, scopes)
        revoked_app = _signed_in(tenant, http, revoked, FormBrowser(tenant.ca_file), scopes)
        tenant.admin.revoke_sessions(revoked.oid)
        tenant.admin.set_user_flow(custom_attributes=["loyaltyTier"])
        tenant.admin.set_mfa_policy(users=["someone@example.com"])
        email = "restart@example.com"
        flow = web_app(tenant, http).initiate_auth_code_flow(
            [], redirect_uri=REDIRECT_URI, prompt=msal.Prompt.CREATE
        )
        page = browser.open(flow["auth_uri"])
        assert isinstance(page, Page)
        code_page = browser.expect_page(browser.submit(page, "signup", {"email": email}), "verify")

        tenant.process.stop()
        tenant.process.start()

        assert "access_token" in _refresh(app, scopes), "MSAL refreshes after the restart"
        assert _refresh(revoked_app, scopes)["error_codes"] == [50173]
        again = web_app(tenant, http).initiate_auth_code_flow([], redirect_uri=REDIRECT_URI)
        assert isinstance(browser.open(again["auth_uri"]), Redirect), "the SSO session lasts"
        assert len(tenant.admin.mail(email)) == 1
        assert browser.expect_page(browser.enter_code(code_page, email), "set-password")
        assert tenant.admin.user_flow()["custom_attributes"] == ["loyaltyTier"]
        assert tenant.admin.mfa_policy()["users"] == ["someone@example.com"]
        http.close()


OLD_USERS_TABLE = """CREATE TABLE users (
    oid VARCHAR(36) NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL, name VARCHAR(256) NOT NULL,
    password_hash VARCHAR(256) NOT NULL, created_at DATETIME NOT NULL)"""


def test_an_older_users_table_gains_the_attribute_columns(tmp_path):
    TenantStore(tmp_path)  # a data directory; then its users table as before attributes
    db = tmp_path / "users.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE users")
        conn.execute(OLD_USERS_TABLE)
        conn.execute(
            "INSERT INTO users VALUES ('11111111-2222-3333-4444-555555555555', 'old@example.com', "
            "'Old User', 'not-a-hash', '2025-01-01 00:00:00')"
        )
    store = TenantStore(tmp_path)
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
    assert {"given_name", "surname", "city", "extensions"} <= columns
    old = store.user("11111111-2222-3333-4444-555555555555")
    assert old is not None
    assert (old.given_name, old.surname, old.city, old.extensions) == (None, None, None, {})
    changed = store.update_user(
        old.oid, {"given_name": "Olga", "city": "Oslo", "extensions": {"loyaltyTier": "gold"}}
    )
    assert (changed.given_name, changed.city, changed.extensions) == (
        "Olga",
        "Oslo",
        {"loyaltyTier": "gold"},
    )
    assert store.user(old.oid) == changed
    assert store.add_user("new@example.com", "Pw-123456", "New").extensions == {}
    with pytest.raises(KeyError):
        store.update_user("00000000-0000-0000-0000-000000000000", {"city": "Nowhere"})
    with pytest.raises(ValueError, match="unknown user attributes"):
        store.update_user(old.oid, {"email": "x@example.com"})
