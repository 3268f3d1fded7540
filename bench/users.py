"""The benchmark's users: created in the tenant, signed in through the real auth-code flow.

A user signs in to the web app as a person would (`tests.support.person.Person`, as the tests'
users do): `/auth/signin` → the tenant's sign-in form → `/auth/redirect` with the code → a
session cookie. The user's bearer token for scenario A comes from a second auth-code flow, run
by MSAL in this process with the web app's own registration through the same browser (the
tenant's SSO session answers it without a form), asking for the API's scopes: the same kind of
token the web app holds.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msal

from app import SESSION_COOKIE
from common.http import HttpClient
from devtenant.admin import TenantAdmin
from tests.support.browser import BrowserError
from tests.support.person import Person

# MSAL warns when response_mode is not form_post; the web app asks for `query` on purpose
# (app/identity.py) and so does this client of the same registration.
warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")

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
    """One user's signed-in session in one web app: the person, and the session cookie and
    CSRF token that wrk's requests carry."""

    user: User
    person: Person = field(repr=False)
    cookie: str = field(repr=False)
    csrf: str = field(repr=False)

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


def sign_in(web_url: str, ca_file: str, user: User) -> WebSession:
    """The auth-code flow through the web app, as a person; returns the signed-in session.
    `SignInError` says where it stopped (an answer a person would not expect, no cookie)."""
    try:
        person = Person(web_url, ca_file, user).sign_in_to("/todos")
        csrf = person.csrf_token("/todos")
    except BrowserError as exc:
        raise SignInError(f"{user.email}: {exc}") from exc
    cookie = person.session_id
    if not cookie:
        raise SignInError(f"{user.email}: no {SESSION_COOKIE} cookie after signing in")
    return WebSession(user, person, cookie, csrf)


def warm_session(session: WebSession) -> None:
    """Fill the session's token cache for both scopes: a read, then a write (add + delete)."""
    person, write = session.person, {"X-CSRFToken": session.csrf}
    got = person.get("/api/todolist")
    if got.status_code != 200:
        raise SignInError(f"{session.user.email}: GET /api/todolist answered {got.status_code}")
    added = person.request("POST", "/api/todolist", json={"description": "warm-up"},
                           headers=write)
    if added.status_code != 201:
        raise SignInError(f"{session.user.email}: POST /api/todolist answered "
                          f"{added.status_code}: {added.text[:200]}")
    gone = person.request("DELETE", f"/api/todolist/{added.json()['id']}", headers=write)
    if gone.status_code != 204:
        raise SignInError(f"{session.user.email}: DELETE answered {gone.status_code}")


def bearer_tokens(
    sessions: Sequence[WebSession], web_settings: dict[str, str], redirect_uri: str,
    ca_file: str,
) -> None:
    """Give each session's user an access token for the API (read and write scopes) from MSAL,
    through the browser that signed them in (the tenant's SSO session answers it)."""
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
        try:
            back = session.person.authorize(flow["auth_uri"])
        except BrowserError as exc:
            raise SignInError(f"{user.email}: {exc}") from exc
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
