"""The index of each user's sessions behind "sign out everywhere", in files and in Redis:
an entry per signed-in session, removed when the session ends here, bounded per user (one
sign-in too many ends the oldest session), and revokeSignInSessions called at the tenant."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from app import user_sessions
from tests.fixtures.web import LiveWeb
from tests.support.person import Person
from tests.support.sessions import session_exists


@pytest.fixture(params=["files", pytest.param("redis", marks=pytest.mark.redis)])
def web(request: pytest.FixtureRequest, web_settings: dict[str, str], tmp_path: Path) -> Any:
    settings = dict(web_settings)
    if request.param == "redis":
        settings["REDIS_URL"] = request.getfixturevalue("redis_url")
    with LiveWeb(settings, tmp_path / "instance") as live:
        yield live


def indexed(web: LiveWeb, oid: str) -> set[str]:
    """The session ids the index holds for `oid` (read, then put back as they were)."""
    index = web.identity.index
    entries = index.take_all(oid)
    for entry in entries:
        index.add(oid, entry)
    return {e.sid for e in entries}


def test_each_session_is_indexed_and_leaves_the_index_when_it_ends(web: LiveWeb, tenant: Any):
    user = tenant.add_user()
    first = Person(web.url, tenant.ca_file, user).sign_in_to("/")
    second = Person(web.url, tenant.ca_file, user).sign_in_to("/")
    assert indexed(web, user.oid) == {first.session_id, second.session_id}
    first.sign_out()
    assert indexed(web, user.oid) == {second.session_id}


def test_one_sign_in_over_the_cap_ends_the_oldest_session(
    web: LiveWeb, tenant: Any, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(user_sessions, "MAX_SESSIONS_PER_USER", 2)
    user = tenant.add_user()
    people = [Person(web.url, tenant.ca_file, user).sign_in_to("/") for _ in range(3)]
    oldest = people[0].session_id
    assert not session_exists(web.app, oldest)
    assert indexed(web, user.oid) == {p.session_id for p in people[1:]}
    assert people[0].get("/users/id").status_code == 302  # signed out there
    assert people[2].get("/users/id").status_code == 200


def test_sign_out_everywhere_revokes_at_the_tenant_and_ends_every_session(
    web: LiveWeb, tenant: Any
):
    user = tenant.add_user()
    other = Person(web.url, tenant.ca_file, user).sign_in_to("/")
    you = Person(web.url, tenant.ca_file, user).sign_in_to("/")
    sids = [other.session_id, you.session_id]
    done = you.post_form("/profile/sign-out-everywhere", csrf_token=you.csrf_token("/profile"))
    assert done.status_code == 302
    assert done.headers["Location"].startswith(tenant.pages_url)  # the tenant's sign-out
    assert not any(session_exists(web.app, sid) for sid in sids)
    assert indexed(web, user.oid) == set()
    assert other.get("/users/id").status_code == 302
    # The other browser's SSO session at the tenant ended too: its form is shown again.
    page = other.tenant.open(other.start("/auth/signin"))
    assert getattr(page, "forms", None), "the tenant signed the other browser in silently"


def test_a_users_index_file_is_swept_once_their_last_sign_in_is_past_the_lifetime(
    tmp_path: Path,
) -> None:
    index = user_sessions.FileSessionIndex(tmp_path / "users", lifetime=3600)
    now = time.time()
    index.add("old-user", user_sessions.UserSession("s1", "k1", now - 3700))
    index.add("new-user", user_sessions.UserSession("s2", "k2", now))
    files = {oid: tmp_path / "users" / f"{index._name(oid)}.json"
             for oid in ("old-user", "new-user")}
    an_hour_and_more = now - 3601
    os.utime(files["old-user"], (an_hour_and_more, an_hour_and_more))
    assert index.sweep() == 1
    assert not files["old-user"].exists()
    assert not files["old-user"].with_suffix(".lock").exists()
    assert index.take_all("new-user") == [user_sessions.UserSession("s2", "k2", now)]
