"""The benchmark's users: created in the tenant, signed in through the real auth-code flow.

A user signs in to the web app as a browser would: `/auth/signin` → the tenant's sign-in form
(`FormBrowser` fills it) → `/auth/redirect` with the code → a session cookie. The user's bearer
token for scenario A comes from a second auth-code flow, run by MSAL in this process with the
web app's own registration through the same browser (the tenant's SSO session answers it
without a form), asking for the API's scopes: the same kind of token the web app holds.
"""

from __future__ import annotations

import re
import secrets
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msal
import requests

from common.http import HttpClient
from devtenant.admin import TenantAdmin
from tests.support.browser import FormBrowser, Redirect

# MSAL warns when response_mode is not form_post; the web app asks for `query` on purpose
# (app/identity.py) and so does this client of the same registration.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")

SESSION_COOKIE = "todo_session"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
ITEM_PREFIX = "bench item"

T = TypeVar("T")
R = TypeVar("R")


class SignInError(Exception):
    """A benchmark user could not be signed in (the message says where it stopped)."""


@dataclass
class User:
    email: str
    password: str
    oid: str
    index: int
    bearer: str | None = field(default=None, repr=False)


@dataclass
class WebSession:
    """One user's signed-in session in one web app: cookie, CSRF token, the HTTP client."""

    user: User
    browser: FormBrowser = field(repr=False)
    cookie: str = field(repr=False)
    csrf: str = field(repr=False)

    @property
    def http(self) -> requests.Session:
        return self.browser.http

    def headers(self, write: bool = False) -> dict[str, str]:
        h = {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}
        if write:
            h["X-CSRFToken"] = self.csrf
        return h


def parallel(fn: Callable[[T], R], items: Iterable[T], workers: int = 4) -> list[R]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


def create_users(admin: TenantAdmin, count: int, first_index: int = 0) -> list[User]:
    """`count` new tenant users (created in parallel: the tenant hashes each password)."""

    def one(i: int) -> User:
        email = f"bench-{i}-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        created = admin.add_user(email, password, f"Bench User {i}")
        return User(email, password, created["oid"], i)

    return parallel(one, range(first_index, first_index + count))


def sign_in(web_url: str, tenant_pages_url: str, ca_file: str, user: User) -> WebSession:
    """The auth-code flow through the web app, as a browser; returns the signed-in session."""
    browser = FormBrowser(ca_file, tenant_url=tenant_pages_url)
    back = browser.sign_in(f"{web_url}/auth/signin?next=/todos", user.email, user.password)
    done = browser.deliver(back)
    if done.status_code != 302 or done.headers.get("Location") != "/todos":
        raise SignInError(f"{user.email}: /auth/redirect answered {done.status_code}")
    cookie = browser.http.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise SignInError(f"{user.email}: no {SESSION_COOKIE} cookie after signing in")
    page = browser.http.get(f"{web_url}/todos", allow_redirects=False)
    match = CSRF_META.search(page.text)
    if page.status_code != 200 or match is None:
        raise SignInError(f"{user.email}: /todos answered {page.status_code} without a CSRF token")
    return WebSession(user, browser, cookie, match.group(1))


def warm_session(web_url: str, session: WebSession) -> None:
    """Fill the session's token cache for both scopes: a read, then a write (add + delete)."""
    http = session.http
    got = http.get(f"{web_url}/api/todolist", headers=session.headers(), allow_redirects=False)
    if got.status_code != 200:
        raise SignInError(f"{session.user.email}: GET /api/todolist answered {got.status_code}")
    added = http.post(f"{web_url}/api/todolist", json={"description": "warm-up"},
                      headers=session.headers(write=True), allow_redirects=False)
    if added.status_code != 201:
        raise SignInError(f"{session.user.email}: POST /api/todolist answered "
                          f"{added.status_code}: {added.text[:200]}")
    gone = http.delete(f"{web_url}/api/todolist/{added.json()['id']}",
                       headers=session.headers(write=True), allow_redirects=False)
    if gone.status_code != 204:
        raise SignInError(f"{session.user.email}: DELETE answered {gone.status_code}")


def bearer_tokens(
    sessions: Sequence[WebSession], web_settings: dict[str, str], redirect_uri: str,
    ca_file: str,
) -> None:
    """Give each session's user an access token for the API (read and write scopes) from MSAL,
    through the browser that signed them in (the tenant's SSO session skips the form)."""
    app = msal.ConfidentialClientApplication(
        web_settings["CLIENT_ID"],
        client_credential=web_settings["CLIENT_SECRET"],
        authority=web_settings["AUTHORITY"],
        http_client=HttpClient(ca_file=ca_file),
        instance_discovery=False,
    )
    scopes = [web_settings["TODOLIST_READ"], web_settings["TODOLIST_READWRITE"]]

    def one(session: WebSession) -> None:
        user = session.user
        flow = app.initiate_auth_code_flow(scopes, redirect_uri=redirect_uri)
        back = session.browser.open(flow["auth_uri"])
        if not isinstance(back, Redirect):
            back = session.browser.submit(back, "signin",
                                          {"email": user.email, "password": user.password})
        if not isinstance(back, Redirect):
            raise SignInError(f"{user.email}: the tenant did not redirect back")
        result = app.acquire_token_by_auth_code_flow(flow, back.params)
        if "access_token" not in result:
            raise SignInError(f"{user.email}: no access token ({result.get('error')})")
        user.bearer = result["access_token"]

    parallel(one, sessions)


def seed_items(api_todolist_url: str, ca_file: str, users: Sequence[User], per_user: int) -> None:
    """`per_user` items for each user, straight into the API with the user's bearer token."""
    http = HttpClient(ca_file=ca_file)

    def one(user: User) -> None:
        for n in range(per_user):
            resp = http.post(api_todolist_url, json={"description": f"{ITEM_PREFIX} {n + 1}"},
                             headers={"Authorization": f"Bearer {user.bearer}"})
            if resp.status_code != 201:
                raise SignInError(f"seeding {user.email}: API answered {resp.status_code}")

    parallel(one, users)


def items_of(api_todolist_url: str, ca_file: str, user: User) -> list[dict[str, Any]]:
    http = HttpClient(ca_file=ca_file)
    resp = http.get(api_todolist_url, headers={"Authorization": f"Bearer {user.bearer}"})
    resp.raise_for_status()
    return list(resp.json())


def remove_write_leftovers(
    api_todolist_url: str, ca_file: str, users: Sequence[User], mark: str
) -> int:
    """Delete the items the write scenario left (at most one per connection); returns how many."""
    http = HttpClient(ca_file=ca_file)

    def one(user: User) -> int:
        removed = 0
        for item in items_of(api_todolist_url, ca_file, user):
            if str(item.get("description", "")).startswith(mark):
                http.delete(f"{api_todolist_url}/{item['id']}",
                            headers={"Authorization": f"Bearer {user.bearer}"})
                removed += 1
        return removed

    return sum(parallel(one, users))
