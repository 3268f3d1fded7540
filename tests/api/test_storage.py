"""The to-do store on SQLite and on PostgreSQL (the same tests for both): items, the limit per
owner, idempotency keys and their expiry."""

import hashlib
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from api.storage import (
    DEMO_ITEMS,
    IDEMPOTENCY_KEY_LIFETIME,
    PURGE_INTERVAL,
    IdempotencyKey,
    IdempotencyRow,
    KeyReused,
    ToDoStore,
    TooManyItems,
    make_engine,
)

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


def _key(key: str, body: str = "same body", caller: str = f"user:{ALICE}") -> IdempotencyKey:
    return IdempotencyKey(caller, key, hashlib.sha256(body.encode()).hexdigest())


def _kept_keys(store: ToDoStore) -> set[str]:
    with Session(store.engine) as session:
        return set(session.scalars(select(IdempotencyRow.idempotency_key)))


def test_idempotency_keys_expire_after_24_hours_and_are_purged_every_few_minutes(
    database_url: str,
) -> None:
    """The clock is the store's own (Unix seconds): time passes without waiting for it."""
    now = [1_000_000.0]
    store = ToDoStore(make_engine(database_url), clock=lambda: now[0])
    store.create_schema()
    day = IDEMPOTENCY_KEY_LIFETIME

    first = store.create(ALICE, "a", _key("k1"))  # the first create also purges (nothing yet)
    now[0] += 100
    second = store.create(ALICE, "b", _key("k2"))
    now[0] += 100
    store.create(ALICE, "c", _key("k4"))
    assert store.create(ALICE, "a", _key("k1")) == first  # within the day: the first item
    with pytest.raises(KeyReused):
        store.create(ALICE, "a", _key("k1", body="another body"))

    now[0] = 1_000_000 + day + 50  # k1 has expired; the last purge was long ago: one is due
    store.create(ALICE, "d", _key("k3"))
    assert _kept_keys(store) == {"k2", "k3", "k4"}

    now[0] += 200  # k2 and k4 have expired too, but the last purge was 200 s ago
    again = store.create(ALICE, "b", _key("k2"))
    assert again != second  # an expired key starts afresh (its old row is replaced)
    assert _kept_keys(store) == {"k2", "k3", "k4"}  # k4 expired, not purged yet
    assert store.create(ALICE, "b", _key("k2")) == again

    now[0] += PURGE_INTERVAL - 200  # the interval since the last purge has passed
    store.create(ALICE, "e", _key("k5"))
    assert _kept_keys(store) == {"k2", "k3", "k5"}
    assert len(store.list(ALICE)) == 6
    store.engine.dispose()


def test_the_owner_limit_counts_only_that_owners_items(database_url: str) -> None:
    store = ToDoStore(make_engine(database_url), max_items_per_owner=2)
    store.create_schema()
    store.create(ALICE, "1")
    store.create(ALICE, "2")
    with pytest.raises(TooManyItems) as full:
        store.create(ALICE, "3")
    assert (full.value.count, full.value.limit) == (2, 2)
    assert store.create(BOB, "1").owner == BOB
    assert len(store.list(ALICE)) == 2
    store.engine.dispose()
