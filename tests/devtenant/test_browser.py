"""FormBrowser driving a (tiny, real) client that starts the flow itself, as the web app will."""

from __future__ import annotations

import pytest

from tests.support.browser import FormBrowser


@pytest.mark.parametrize("mode", ["query", "form_post"])
def test_sign_in_starting_at_the_client(tenant, tenant_reset, client_site, mode):
    user = tenant.add_user()
    browser = FormBrowser(tenant.ca_file, tenant_url=tenant.pages_url)
    back = browser.sign_in(f"{client_site}/signin?mode={mode}", user.email, user.password)
    assert back.url == f"{client_site}/auth/redirect"
    assert back.method == ("POST" if mode == "form_post" else "GET")
    response = browser.deliver(back)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["oid"], answer["error"], answer["amr"]) == (user.oid, None, ["pwd"])
