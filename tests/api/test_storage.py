"""The to-do store on SQLite and on PostgreSQL (the same tests for both)."""

import uuid

import pytest
from sqlalchemy.exc import SQLAlchemyError

from api.storage import DEMO_ITEMS, ToDoStore, make_engine

ALICE = str(uuid.uuid4())
BOB = str(uuid.uuid4())


@pytest.fixture
def store(database_url: str):
    store = ToDoStore(make_engine(database_url))
    store.create_schema()
    yield store
    store.engine.dispose()


def test_create_get_update_delete(store: ToDoStore) -> None:
    item = store.create(ALICE, "Pick up grocery")
    assert store.get(item.id, ALICE) == item
    updated = store.update(item.id, ALICE, "Pick up groceries")
    assert updated is not None
    assert (updated.id, updated.owner, updated.description) == (item.id, ALICE, "Pick up groceries")
    assert store.get(item.id, None) == updated
    assert store.delete(item.id, ALICE) is True
    assert store.get(item.id, None) is None
    assert store.delete(item.id, ALICE) is False
    assert store.update(item.id, None, "gone") is None


def test_an_owner_filter_hides_other_owners_items(store: ToDoStore) -> None:
    mine = store.create(ALICE, "mine")
    theirs = store.create(BOB, "theirs")
    assert store.list(ALICE) == [mine]
    assert store.list(None) == [mine, theirs]
    assert store.get(theirs.id, ALICE) is None
    assert store.update(theirs.id, ALICE, "changed") is None
    assert store.delete(theirs.id, ALICE) is False
    assert store.get(theirs.id, BOB) == theirs


def test_ids_are_never_reused(store: ToDoStore) -> None:
    first = store.create(ALICE, "one")
    second = store.create(ALICE, "two")
    store.delete(second.id, None)
    store.delete(first.id, None)
    third = store.create(ALICE, "three")
    assert third.id > second.id > first.id


def test_schema_creation_is_idempotent_and_keeps_data(store: ToDoStore, database_url: str) -> None:
    item = store.create(ALICE, "kept")
    again = ToDoStore(make_engine(database_url))
    again.create_schema()
    assert again.list(None) == [item]
    again.engine.dispose()


def test_demo_seed_fills_only_an_empty_store(store: ToDoStore) -> None:
    assert store.seed_demo() == 3
    items = store.list(None)
    assert [i.description for i in items] == list(DEMO_ITEMS)
    assert len({i.owner for i in items}) == 3
    assert store.seed_demo() == 0
    assert len(store.list(None)) == 3


def test_ping_tells_a_live_database_from_one_that_does_not_answer(store: ToDoStore) -> None:
    store.ping()  # the live database (each backend) answers: no exception
    bad = ToDoStore(make_engine("postgresql+psycopg://nobody:x@127.0.0.1:1/none"))
    with pytest.raises(SQLAlchemyError):
        bad.ping()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path) -> None:
    store = ToDoStore(make_engine(f"sqlite:///{tmp_path / 'db' / 'todo.sqlite'}"))
    store.create_schema()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    store.engine.dispose()
