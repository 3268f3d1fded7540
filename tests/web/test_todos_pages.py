"""The /todos pages without JavaScript, against the real tenant, API and web app processes."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
import requests

from tests.fixtures.todos import WebServer
from tests.support.person import Person

pytestmark = pytest.mark.usefixtures("running_todo_api")


def items_of(user: Person) -> list[dict[str, Any]]:
    resp = user.get("/api/todolist")
    assert resp.status_code == 200, resp.text
    return resp.json()


def flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'<p class="flash[^"]*">([^<]*)</p>', page)]


def listed(page: str) -> list[str]:
    """The descriptions the list on the page shows."""
    found = re.findall(r'<span class="todo-description">([^<]*)</span>', page)
    return [html.unescape(m) for m in found]


def box_value(page: str, input_id: str) -> str:
    match = re.search(rf'id="{input_id}"\s+name="description"\s+value="([^"]*)"', page)
    assert match, f"no #{input_id} box on the page"
    return html.unescape(match.group(1))


def test_signed_out_visit_goes_to_sign_in_and_back(todo_web: WebServer, sign_in) -> None:
    resp = requests.get(f"{todo_web.url}/todos", allow_redirects=False, timeout=30)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/auth/signin?next=/todos"
    user = sign_in(todo_web, next_path="/todos")  # asserts the return to /todos
    assert user.get("/todos").status_code == 200


def test_empty_list_add_edit_delete(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    page = user.get("/todos")
    assert page.status_code == 200
    assert "Nothing to do yet" in page.text
    assert "0 items" in page.text
    assert 'id="todo-description"' in page.text
    assert "autofocus" in page.text
    assert "maxlength" not in page.text  # it would cut a long text silently: refused in words
    assert "Up to 500 characters." in page.text

    csrf = user.csrf_token("/todos")
    added = user.post_form("/todos", {"description": "Buy milk"}, csrf)
    assert added.status_code == 302
    assert added.headers["Location"] == "/todos"
    user.post_form("/todos", {"description": "Walk the dog"}, csrf)
    page = user.get("/todos")
    assert listed(page.text) == ["Buy milk", "Walk the dog"]
    assert "2 items" in page.text
    assert "Added “Walk the dog”." in flashes(page.text)
    assert "Nothing to do yet" not in page.text

    milk = next(i for i in items_of(user) if i["description"] == "Buy milk")
    assert milk["owner"] == user.user.oid
    form = user.get(f"/todos/{milk['id']}/edit")
    assert form.status_code == 200
    assert box_value(form.text, "todo-edit-description") == "Buy milk"
    saved = user.post_form(f"/todos/{milk['id']}/edit", {"description": "Buy oat milk"}, csrf)
    assert saved.status_code == 302
    assert saved.headers["Location"] == "/todos"
    assert "Buy oat milk" in [i["description"] for i in items_of(user)]

    page = user.get("/todos")
    assert '<input type="hidden" name="description" value="Buy oat milk">' in page.text
    gone = user.post_form(f"/todos/{milk['id']}/delete", {"description": "Buy oat milk"}, csrf)
    assert gone.status_code == 302
    page = user.get("/todos")
    assert "Deleted “Buy oat milk”." in flashes(page.text)
    assert "1 item" in page.text
    assert listed(page.text) == ["Walk the dog"]
    assert [i["description"] for i in items_of(user)] == ["Walk the dog"]


def test_forms_without_csrf_token_are_refused(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    resp = user.request("POST", "/todos", data={"description": "forged"})
    assert resp.status_code == 400
    assert items_of(user) == []


def test_description_with_html_is_shown_as_text(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    text = '<script>alert("x")</script><b>bold</b>'
    user.post_form("/todos", {"description": text})
    page = user.get("/todos").text
    assert "<script>alert" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;" in page


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("   ", "Type a description, not only spaces."),
        ("x" * 501, "Type a description of up to 500 characters; this one has 501."),
    ],
)
def test_api_refusal_is_shown_next_to_the_field_with_the_text_kept(
    todo_web: WebServer, sign_in, typed: str, message: str
) -> None:
    user = sign_in(todo_web)
    resp = user.post_form("/todos", {"description": typed})
    assert resp.status_code == 400
    error = re.search(r'<p class="field-error" id="todo-description-error"[^>]*>([^<]*)</p>',
                      resp.text)
    assert error
    assert message in html.unescape(error.group(1))
    assert box_value(resp.text, "todo-description") == typed
    assert 'aria-invalid="true"' in resp.text


def test_edit_refusal_keeps_the_text(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    user.post_form("/todos", {"description": "Call mum"})
    item = items_of(user)[0]
    resp = user.post_form(f"/todos/{item['id']}/edit", {"description": "x" * 600})
    assert resp.status_code == 400
    assert "Type a description of up to 500 characters; this one has 600." in resp.text
    assert box_value(resp.text, "todo-edit-description") == "x" * 600
    assert items_of(user)[0]["description"] == "Call mum"


def test_an_item_that_no_longer_exists(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    user.post_form("/todos", {"description": "Soon gone"})
    item_id = items_of(user)[0]["id"]
    user.post_form(f"/todos/{item_id}/delete", {})
    attempts = [
        lambda: user.get(f"/todos/{item_id}/edit"),
        lambda: user.post_form(f"/todos/{item_id}/edit", {"description": "changed"}),
        lambda: user.post_form(f"/todos/{item_id}/delete", {}),
    ]
    for attempt in attempts:
        resp = attempt()
        assert resp.status_code == 302
        assert resp.headers["Location"] == "/todos"
        page = user.get("/todos")
        assert "That item no longer exists." in flashes(page.text)
        assert "Nothing to do yet" in page.text
    assert items_of(user) == []


def test_item_pages_need_an_integer_id(todo_web: WebServer, sign_in) -> None:
    user = sign_in(todo_web)
    assert user.get("/todos/abc/edit").status_code == 404
    assert user.post_form("/todos/1x/delete", {}).status_code == 404


def test_another_users_item_looks_like_it_does_not_exist(todo_web: WebServer, sign_in) -> None:
    owner, other = sign_in(todo_web), sign_in(todo_web)
    owner.post_form("/todos", {"description": "Private plan"})
    item_id = items_of(owner)[0]["id"]
    assert listed(other.get("/todos").text) == []
    resp = other.post_form(f"/todos/{item_id}/edit", {"description": "hijacked"})
    assert resp.status_code == 302
    assert "That item no longer exists." in flashes(other.get("/todos").text)
    other.post_form(f"/todos/{item_id}/delete", {})
    assert [i["description"] for i in items_of(owner)] == ["Private plan"]


def test_request_id_reaches_the_api(todo_web: WebServer, todo_api: Any, sign_in) -> None:
    user = sign_in(todo_web)
    resp = user.get("/todos", headers={"X-Request-ID": "todo-page-correlation-1"})
    assert resp.status_code == 200
    assert "request_id=todo-page-correlation-1" in todo_api.log()


def test_a_delete_form_without_the_text_still_says_it_deleted(
    todo_web: WebServer, sign_in
) -> None:
    user = sign_in(todo_web)
    csrf = user.csrf_token("/todos")
    # A page from before the delete forms carried the text, or a text it cannot name.
    for sent in ({}, {"description": "x" * 501}):
        user.post_form("/todos", {"description": "Old page"}, csrf)
        assert flashes(user.get("/todos").text) == ["Added “Old page”."]
        (item,) = items_of(user)
        assert user.post_form(f"/todos/{item['id']}/delete", sent, csrf).status_code == 302
        assert flashes(user.get("/todos").text) == ["Item deleted."]


@pytest.mark.parametrize("where", ["add", "edit"])
def test_too_long_a_text_is_refused_in_words_and_kept(
    todo_web: WebServer, sign_in, where: str
) -> None:
    user = sign_in(todo_web)
    csrf = user.csrf_token("/todos")
    user.post_form("/todos", {"description": "Short"}, csrf)
    (item,) = items_of(user)
    text = "é" * 501  # characters, not bytes: 501 of them
    path, box = ("/todos", "todo-description") if where == "add" else (
        f"/todos/{item['id']}/edit", "todo-edit-description"
    )
    page = user.post_form(path, {"description": text}, csrf)
    assert page.status_code == 400
    assert "Type a description of up to 500 characters; this one has 501." in html.unescape(
        page.text
    )
    assert box_value(page.text, box) == text  # all of it, in the box
    assert [i["description"] for i in items_of(user)] == ["Short"]
    assert user.post_form(path, {"description": "é" * 500}, csrf).status_code == 302
