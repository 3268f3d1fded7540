"""`Person`: someone using the web app with an HTTP browser, for the tests and the benchmark.

One cookie jar serves the web app and the local tenant (the tenant's cookies are
`devtenant_*`, the app's `todo_session`), so a second sign-in in the same browser is answered
by the tenant's SSO session, as in a real browser. Requests to the app never follow redirects
by themselves: each hop can be looked at.

    person = Person(web.url, tenant.ca_file, tenant.add_user())
    person.sign_in_to("/todos")                       # the whole way, checked
    person.post_form("/todos", {"description": "Buy milk"})
    person.sign_out()

or hop by hop, e.g. to break something between the tenant's form and the app:

    auth_uri = person.start("/auth/signin", next="/users/id")   # the tenant URL
    back = person.tenant.sign_in(auth_uri, user.email, user.password)
    response = person.deliver(back)                               # the app's answer

Where the app or the tenant does not answer as a person expects, the methods raise
`BrowserError` (an AssertionError: a failed test, or the benchmark's "could not sign in").
"""

from __future__ import annotations

import re
from typing import Any, Protocol, Self

import requests

from app import SESSION_COOKIE
from tests.support.browser import BrowserError, FormBrowser, Redirect

# The CSRF token of a page: the hidden field of its forms or the meta tag browser code reads.
CSRF_TOKEN = re.compile(
    r'name="csrf_token" value="([^"]+)"|<meta name="csrf-token" content="([^"]+)"'
)
TIMEOUT = (3.05, 30.0)  # a page may wait on the tenant and the API in turn


class Credentials(Protocol):
    """Who signs in: a tenant user (the fixtures' `TenantUser`, the benchmark's `User`)."""

    @property
    def email(self) -> str: ...

    @property
    def password(self) -> str: ...


class Person:
    """Someone at `base_url` (the web app's origin) with a browser trusting `ca_file`.

    `user` is who they sign in as (a sign-in naming someone else makes that one `user`); it
    is also what the tenant's form gets when a later sign-in is not answered by SSO.
    """

    def __init__(
        self, base_url: str, ca_file: str | None = None, user: Credentials | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self.tenant = FormBrowser(ca_file)  # the tenant's pages, in the same browser
        self.http = self.tenant.http
        self.http.timeout = TIMEOUT

    # --- requests ------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """`path` on the app (an absolute URL is left as it is: another instance, the tenant)."""
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, self.url(path), allow_redirects=False, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(
        self, path: str, data: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        return self.request("POST", path, data=data, **kwargs)

    def csrf_token(self, path: str = "/") -> str:
        """The CSRF token of the page at `path` (its forms' hidden field or its meta tag)."""
        page = self.get(path)
        match = CSRF_TOKEN.search(page.text)
        if match is None:
            raise BrowserError(f"no CSRF token on {path} ({page.status_code})")
        return match.group(1) or match.group(2)

    def post_form(
        self, path: str, data: dict[str, str] | None = None, csrf_token: str | None = None
    ) -> requests.Response:
        """Submit a form to `path` with `data` and a CSRF token (the home page's unless given)."""
        token = csrf_token or self.csrf_token("/")
        return self.post(path, {**(data or {}), "csrf_token": token})

    @property
    def session_id(self) -> str | None:
        """The id the app's session cookie holds (None: no session)."""
        return self.http.cookies.get(SESSION_COOKIE)

    # --- signing in and out --------------------------------------------------------------

    def start(self, path: str = "/auth/signin", **params: str) -> str:
        """Open a route of the app that starts a sign-in (`/auth/signin`, `/auth/signup`, or
        where the app sent the person to sign in again); returns the tenant URL it leads to."""
        resp = self.get(path, params=params)
        if resp.status_code != 302:
            raise BrowserError(f"{path} answered {resp.status_code}, not a redirect to the "
                               f"tenant: {resp.text[:300]}")
        return resp.headers["Location"]

    def deliver(self, back: Redirect) -> requests.Response:
        """Hand the tenant's redirect back to the app (query or form_post); the app's answer."""
        return self.tenant.deliver(back)

    def sign_in(
        self, user: Credentials | None = None, path: str = "/auth/signin", **params: str
    ) -> requests.Response:
        """Sign `user` (or `self.user`) in through the tenant's form; the app's answer to the
        redirect back. `params` go to `path` (e.g. `next`, `scope`)."""
        who = self._who(user)
        return self.deliver(self.tenant.sign_in(self.start(path, **params), who.email,
                                                who.password))

    def sign_up(self, email: str, password: str, name: str) -> requests.Response:
        """Create an account through the app's sign-up link; the app's answer."""
        return self.deliver(self.tenant.sign_up(self.start("/auth/signup"), email, password,
                                                name))

    def sign_in_to(
        self, next_path: str = "/", user: Credentials | None = None, **params: str
    ) -> Self:
        """Sign in and check the app sends the person on to `next_path`."""
        resp = self.sign_in(user, next=next_path, **params)
        if resp.status_code != 302 or resp.headers.get("Location") != next_path:
            raise BrowserError(f"signing in answered {resp.status_code} "
                               f"(to {resp.headers.get('Location')!r}), not a redirect to "
                               f"{next_path}: {resp.text[:300]}")
        return self

    def authorize(self, auth_uri: str, form: bool = True) -> Redirect:
        """Open an authorization URL (of the app or any client) in this browser: the tenant's
        SSO session answers it, or, when `form`, the sign-in form is filled for `self.user`."""
        result = self.tenant.open(auth_uri)
        if isinstance(result, Redirect):
            return result
        if not form:
            raise BrowserError("the tenant showed a page instead of answering from its "
                               "session", result)
        who = self._who(None)
        result = self.tenant.submit(result, "signin", {"email": who.email,
                                                       "password": who.password})
        if not isinstance(result, Redirect):
            raise BrowserError("the tenant did not redirect back after the sign-in form",
                               result)
        return result

    def follow_sign_in(
        self, location: str = "/auth/signin", form: bool = True
    ) -> requests.Response:
        """Go through a sign-in the app started (its redirect to `/auth/signin?...`) and back
        to the app, as `authorize` answers it; the app's answer."""
        return self.deliver(self.authorize(self.start(location), form))

    def sign_out(self) -> requests.Response:
        """Press "Sign out" (a POST with the home page's CSRF token); the app's answer, a
        redirect to the tenant's sign-out."""
        return self.post_form("/auth/signout")

    def _who(self, user: Credentials | None) -> Credentials:
        who = user or self.user
        if who is None:
            raise BrowserError("no user to sign in as")
        self.user = who
        return who
