"""`FormBrowser`: an HTTP "browser" that signs in through the local tenant's forms.

It opens an authorization URL (MSAL's `auth_uri`), fills the sign-in form (or the sign-up
form: `prompt=create`, or `sign_up()` which follows the page's "Create one" link), posts it
with the page's CSRF token, follows the tenant's own redirects, and stops at the first
redirect that leaves the tenant: that is what a real browser would send to the client.

    browser = FormBrowser(tenant.ca_file)
    back = browser.sign_in(flow["auth_uri"], email, password)
    back.url, back.params  # e.g. http://localhost:3000/auth/redirect, {"code":..., "state":...}

For `response_mode=form_post` the tenant answers with an auto-submitting form; `back.method`
is then "POST" and `back.params` holds the form's fields. Cookies persist in `self.http`, so a
second `open()` with the same browser uses the tenant's SSO session (no form).

To drive a client end to end, start at the client's sign-in URL with the tenant's origin
given, then hand the result back to the client with its cookies:

    browser = FormBrowser(tenant.ca_file, tenant_url=tenant.pages_url)
    back = browser.sign_in(f"{web_url}/auth/signin", email, password)
    response = browser.deliver(back)  # GET/POST to /auth/redirect with the client's cookies

(For the web app, `tests.support.person.Person` does this and the rest of what a person does.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import requests

from common.http import HttpClient

LATEST_CODE = re.compile(r'id="latest-code"[^>]*>(\d+)<')


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    form_id: str = ""


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.links: dict[str, str] = {}
        self.error: str | None = None
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                Form(a.get("action", ""), a.get("method", "get").upper(), {}, a.get("id", ""))
            )
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "a" and a.get("id"):
            self.links[a["id"]] = a.get("href", "")
        elif a.get("id") == "error":
            self._in_error = True

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error = (self.error or "") + data

    def handle_endtag(self, tag: str) -> None:
        self._in_error = False


@dataclass
class Page:
    """A page of the tenant the browser stopped at (a form, an error page)."""

    url: str
    status: int
    text: str
    forms: list[Form]
    links: dict[str, str]
    error: str | None


@dataclass
class Redirect:
    """Where the tenant sent the browser back to the client."""

    url: str  # the target without the added parameters (GET) or the form action (POST)
    method: str  # "GET" (query) or "POST" (form_post)
    params: dict[str, str]
    location: str  # the full Location (GET) or the action (POST)


class BrowserError(AssertionError):
    """The tenant did not send the browser back to the client where the test expected it."""

    def __init__(self, message: str, page: Page | None = None) -> None:
        super().__init__(
            message + (f" (page error: {page.error!r})" if page and page.error else "")
        )
        self.page = page


class FormBrowser:
    """Drives the tenant's sign-in/sign-up pages over HTTP, trusting the tenant's CA file.

    `tenant_url` (e.g. `tenant.pages_url`) names the tenant's origin. Without it, the origin of
    the URL passed to `open`/`sign_in` is taken as the tenant's. Give it when the first URL is
    the client's own (e.g. the web app's `/auth/signin`, which redirects into the tenant).
    """

    def __init__(
        self, ca_file: str | None = None, tenant_url: str | None = None, max_hops: int = 10
    ) -> None:
        self.http = HttpClient(ca_file=str(ca_file) if ca_file else None)
        self.tenant_origin = _origin(tenant_url) if tenant_url else None
        self.max_hops = max_hops

    def open(
        self, url: str, method: str = "GET", data: dict[str, str] | None = None
    ) -> Page | Redirect:
        """Request `url` and follow the tenant's redirects: a Redirect out, or the Page shown."""
        origin = self.tenant_origin or _origin(url)
        for _ in range(self.max_hops):
            resp = self.http.request(method, url, data=data, allow_redirects=False)
            if resp.is_redirect:
                target = urljoin(url, resp.headers["Location"])
                if _origin(target) != origin:
                    parts = urlsplit(target)
                    base = target.split("?", 1)[0].split("#", 1)[0]
                    return Redirect(base, "GET", dict(parse_qsl(parts.query)), target)
                url, method, data = target, "GET", None
                continue
            page = _page(url, resp)
            if len(page.forms) == 1 and page.forms[0].form_id == "form_post":
                form = page.forms[0]
                return Redirect(form.action, "POST", dict(form.fields), form.action)
            return page
        raise BrowserError(f"more than {self.max_hops} redirects inside the tenant")

    def deliver(self, back: Redirect, allow_redirects: bool = False) -> requests.Response:
        """Send `back` to the client as the browser would (GET with the query, or the POST)."""
        if back.method == "POST":
            return self.http.post(back.url, data=back.params, allow_redirects=allow_redirects)
        return self.http.get(back.location, allow_redirects=allow_redirects)

    def sign_in(self, auth_uri: str, email: str, password: str) -> Redirect:
        """Open `auth_uri`, submit the sign-in form, return the redirect back to the client."""
        result = self.open(auth_uri)
        if isinstance(result, Redirect):
            raise BrowserError("the tenant redirected back without showing the sign-in form")
        return self._finish(self.submit(result, "signin", {"email": email, "password": password}))

    def sign_up(
        self,
        auth_uri: str,
        email: str,
        password: str,
        name: str,
        attributes: dict[str, str] | None = None,
    ) -> Redirect:
        """Open `auth_uri` (prompt=create, or via the sign-in page's link) and create the user
        as External ID's "email with password" flow asks: the email, the code mailed to it
        (read from the tenant's mailbox page, as a person reads their inbox), the password,
        then the display name and any other `attributes` (field names: given_name, surname,
        city, ext_<custom attribute>)."""
        result = self.open(auth_uri)
        if isinstance(result, Redirect):
            raise BrowserError("the tenant redirected back without showing a form")
        if not _form(result, "signup"):
            if "signup-link" not in result.links:
                raise BrowserError("no sign-up form and no sign-up link", result)
            result = self.open(urljoin(result.url, result.links["signup-link"]))
            if isinstance(result, Redirect):
                raise BrowserError("the sign-up link redirected back without a form")
        result = self.expect_page(self.submit(result, "signup", {"email": email}), "verify")
        result = self.enter_code(result, email)
        values = {"password": password, "confirm": password}
        result = self.expect_page(self.submit(result, "set-password", values), "attributes")
        values = {"name": name, **(attributes or {})}
        return self._finish(self.submit(result, "attributes", values))

    def latest_code(self, page_url: str, email: str) -> str:
        """The newest code the tenant mailed to `email`, from its mailbox page."""
        origin = "{}://{}".format(*_origin(page_url))
        inbox = self.http.get(f"{origin}/_mailbox", params={"to": email})
        match = LATEST_CODE.search(inbox.text)
        if match is None:
            raise BrowserError(f"no mail to {email} in the tenant's mailbox")
        return match.group(1)

    def enter_code(self, page: Page, email: str) -> Page | Redirect:
        """Fill the code page with the newest code mailed to `email`."""
        return self.submit(page, "verify", {"code": self.latest_code(page.url, email)})

    def expect_page(self, result: Page | Redirect, form_id: str) -> Page:
        """`result` must be a page with the form `form_id` (else the page's error is told)."""
        if isinstance(result, Redirect) or _form(result, form_id) is None:
            page = result if isinstance(result, Page) else None
            raise BrowserError(f"expected the tenant's {form_id!r} form", page)
        return result

    def submit(self, page: Page, form_id: str, values: dict[str, str]) -> Page | Redirect:
        """Post the form `form_id` of `page` with `values` (hidden fields such as CSRF kept)."""
        form = _form(page, form_id)
        if form is None:
            raise BrowserError(f"no form {form_id!r} on {page.url}", page)
        action = urljoin(page.url, form.action) if form.action else page.url
        return self.open(action, form.method, {**form.fields, **values})

    def _finish(self, result: Page | Redirect) -> Redirect:
        if isinstance(result, Page):
            raise BrowserError(
                f"the tenant showed a page ({result.status}) instead of redirecting", result
            )
        return result


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _form(page: Page, form_id: str) -> Form | None:
    return next((f for f in page.forms if f.form_id == form_id), None)


def _page(url: str, resp: requests.Response) -> Page:
    parser = _PageParser()
    parser.feed(resp.text)
    error = parser.error.strip() if parser.error else None
    return Page(url, resp.status_code, resp.text, parser.forms, parser.links, error)
