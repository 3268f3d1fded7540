"""Signing out ends on a page that says so: the home page the tenant sends the browser back to
(the registered post-logout address, unchanged) says "You are signed out." once."""

from __future__ import annotations

from typing import Any

from tests.fixtures.web import LiveWeb
from tests.support.person import Person

SIGNED_OUT = "You are signed out."


def test_the_home_page_says_you_are_signed_out_once(
    live_web: LiveWeb, person: Person, tenant: Any
) -> None:
    person.sign_in(tenant.add_user())
    assert SIGNED_OUT not in person.get("/").text
    answer = person.sign_out()
    assert answer.status_code == 302
    cookies = answer.raw.headers.getlist("Set-Cookie")
    marker = [c for c in cookies if c.startswith("todo_signed_out=")]
    assert len(marker) == 1
    assert "HttpOnly" in marker[0]
    assert "SameSite=Lax" in marker[0]
    assert "Max-Age=300" in marker[0]
    # The tenant ends its session and sends the browser to the post-logout address as it is.
    back = person.get(answer.headers["Location"])
    assert back.headers["Location"] == f"{live_web.url}/"
    assert SIGNED_OUT in person.get(back.headers["Location"]).text
    assert SIGNED_OUT not in person.get("/").text  # said once


def test_someone_who_signs_in_again_is_not_told_they_are_signed_out(
    person: Person, tenant: Any
) -> None:
    person.sign_in(tenant.add_user())
    person.sign_out()  # the tenant's session is left as it is: it answers the next sign-in
    person.follow_sign_in("/auth/signin?next=/users/id", form=False)  # straight back in
    home = person.get("/")
    assert "Hi " in home.text
    assert SIGNED_OUT not in home.text
