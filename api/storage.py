"""To-do storage: the SQLAlchemy model and the repository the routes use.

SQLite (the default) runs in WAL mode with a busy timeout, and every write transaction starts
with `BEGIN IMMEDIATE`, so writers in several processes queue for the lock instead of failing
when a read transaction would have to be upgraded. PostgreSQL uses row locks for updates.
Ids come from the database (`AUTOINCREMENT` on SQLite, an identity column on PostgreSQL), so
they are unique across processes and never reused.

A create counts the owner's items in its own transaction: serialised by `BEGIN IMMEDIATE` on
SQLite and by a transaction-scoped advisory lock per owner on PostgreSQL, so concurrent creates
never take an owner past `max_items_per_owner`. A create with an idempotency key records the
key with the new item in the same transaction; the table's primary key (caller, key) makes a
second request with the key, however concurrent, find the first one's item instead of adding
its own.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Engine,
    Integer,
    String,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

MAX_DESCRIPTION_LENGTH = 500
NIL_OWNER = "00000000-0000-0000-0000-000000000000"
SQLITE_BUSY_TIMEOUT_MS = 15_000
DEMO_ITEMS = ("Pick up grocery", "Finish invoice report", "Water plants")
DEFAULT_MAX_ITEMS_PER_OWNER = 1000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
IDEMPOTENCY_KEY_LIFETIME = 24 * 3600  # seconds a key is remembered
PURGE_INTERVAL = 300  # seconds between two purges of expired keys (per process)


class Base(DeclarativeBase):
    pass


class ToDoRow(Base):
    __tablename__ = "todos"
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy's own protocol

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    owner: Mapped[str] = mapped_column(String(36), index=True)
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION_LENGTH))


class IdempotencyRow(Base):
    """A `POST` with an `Idempotency-Key`: who sent it, a fingerprint of its body, when, and
    the item it created (the answer a repetition gets)."""

    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(
        String(MAX_IDEMPOTENCY_KEY_LENGTH), primary_key=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(BigInteger, index=True)  # Unix time, seconds
    item_id: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str] = mapped_column(String(36))
    description: Mapped[str] = mapped_column(String(MAX_DESCRIPTION_LENGTH))


@dataclass(frozen=True)
class IdempotencyKey:
    """An `Idempotency-Key` as the store keeps it: per caller, with the request's fingerprint."""

    caller: str
    key: str
    fingerprint: str


class KeyReused(Exception):
    """The caller used this idempotency key before, for a request with another body."""


class TooManyItems(Exception):
    """The owner already has `count` items, and the store keeps at most `limit` per owner."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__(f"{count} items (at most {limit})")
        self.count = count
        self.limit = limit


@dataclass(frozen=True)
class ToDo:
    """A to-do as the API shows it (`owner` is a lower-case GUID string)."""

    id: int
    owner: str
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "owner": self.owner, "description": self.description}


def _item(row: ToDoRow) -> ToDo:
    return ToDo(id=row.id, owner=row.owner, description=row.description)


# Reads are single SELECTs built once with SQLAlchemy Core and compiled once per engine for its
# dialect (`_Read`), then run on a pooled DBAPI connection: a 20-row listing through the ORM (a
# Session, identity map, instance loading) cost ~630 us of CPU, through Core ~90 us, this way
# ~25 us. Writes keep the ORM.
_TABLE = ToDoRow.__table__
_COLUMNS = (_TABLE.c.id, _TABLE.c.owner, _TABLE.c.description)
_LIST_ALL = select(*_COLUMNS).order_by(_TABLE.c.id)
_LIST_OWNER = _LIST_ALL.where(_TABLE.c.owner == bindparam("owner"))
_GET = select(*_COLUMNS).where(_TABLE.c.id == bindparam("id"))
_GET_OWNER = _GET.where(_TABLE.c.owner == bindparam("owner"))


def make_engine(database_url: str) -> Engine:
    """An engine for `database_url`, with SQLite tuned for several writing processes."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is always DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class _Read:
    """One SELECT compiled for `engine`'s dialect, run on a connection from its pool.

    A single statement needs no explicit transaction: SQLite runs it in its own read
    transaction (the connections are in autocommit mode, see `make_engine`), PostgreSQL's driver
    opens one that the pool rolls back when the connection is returned. DBAPI errors are raised
    as SQLAlchemy's (`OperationalError` for a database that went away), as `Connection.execute`
    would; the pool's checkout (and PostgreSQL's pre-ping) is the same as for every query.
    """

    def __init__(self, engine: Engine, statement: Any) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self.engine = engine
        self.sql = compiled.string
        self.order = compiled.positiontup  # None for named parameter styles
        self.error = engine.dialect.loaded_dbapi.Error

    def rows(self, params: dict[str, Any]) -> Sequence[Any]:
        args: Any = params if self.order is None else tuple(params[k] for k in self.order)
        try:
            # The pool's checkout raises the driver's own errors (a database that went away).
            conn = self.engine.raw_connection()
            try:
                cursor = conn.cursor()
                try:
                    cursor.execute(self.sql, args)
                    return cursor.fetchall()
                finally:
                    cursor.close()
            finally:
                conn.close()
        except self.error as exc:
            raise DBAPIError.instance(self.sql, args, exc, self.error) from exc


class ToDoStore:
    """The repository: every operation is one transaction; `owner=None` means "any owner".

    `clock` (Unix time) dates idempotency keys; tests pass their own to see keys expire.
    """

    def __init__(
        self,
        engine: Engine,
        max_items_per_owner: int = DEFAULT_MAX_ITEMS_PER_OWNER,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.max_items_per_owner = max_items_per_owner
        self._clock = clock
        self._purge_lock = threading.Lock()
        self._purged_at: float | None = None
        # PostgreSQL's read-committed transactions would let two creates count the same items.
        self._lock_owners = engine.dialect.name == "postgresql"
        self._writer = engine.execution_options(sqlite_immediate=True)
        self._list_all = _Read(engine, _LIST_ALL)
        self._list_owner = _Read(engine, _LIST_OWNER)
        self._get = _Read(engine, _GET)
        self._get_owner = _Read(engine, _GET_OWNER)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self._writer, expire_on_commit=False) as session, session.begin():
            yield session

    def create_schema(self) -> None:
        """Create the table if it does not exist (safe when several processes start at once)."""
        try:
            Base.metadata.create_all(self._writer)
        except SQLAlchemyError:
            # Another process created it between our check and our CREATE: check again.
            Base.metadata.create_all(self._writer)

    def ping(self) -> None:
        """Raise `SQLAlchemyError` unless the database answers."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def list_json(self, owner: str | None) -> list[dict[str, Any]]:
        """The items (of `owner`, or all) by id, as the JSON objects the API answers with."""
        if owner is None:
            read, params = self._list_all, {}
        else:
            read, params = self._list_owner, {"owner": owner}
        return [
            {"id": id_, "owner": owner_, "description": description}
            for id_, owner_, description in read.rows(params)
        ]

    def list(self, owner: str | None) -> list[ToDo]:
        return [ToDo(**item) for item in self.list_json(owner)]

    def get(self, item_id: int, owner: str | None) -> ToDo | None:
        if owner is None:
            rows = self._get.rows({"id": item_id})
        else:
            rows = self._get_owner.rows({"id": item_id, "owner": owner})
        if not rows:
            return None
        id_, owner_, description = rows[0]
        return ToDo(id=id_, owner=owner_, description=description)

    def create(
        self, owner: str, description: str, idempotency: IdempotencyKey | None = None
    ) -> ToDo:
        """A new item for `owner`; or, when the caller already used the idempotency key for
        the same request within `IDEMPOTENCY_KEY_LIFETIME`, the item that request created.
        Raises `KeyReused` (the key came with another body) and `TooManyItems`."""
        if idempotency is None:
            return self._create(owner, description, None)
        self._purge_if_due()
        with Session(self.engine) as reader:  # outside a write transaction: retries are cheap
            earlier = self._earlier(reader, idempotency, writing=False)
        if earlier is not None:
            return earlier
        try:
            return self._create(owner, description, idempotency)
        except IntegrityError:
            # A concurrent request with the key committed first (on PostgreSQL our insert
            # waited for its transaction to end, then collided with its row): answer as it did.
            with Session(self.engine) as reader:
                earlier = self._earlier(reader, idempotency, writing=False)
            if earlier is None:
                raise
            return earlier

    def _create(
        self, owner: str, description: str, idempotency: IdempotencyKey | None
    ) -> ToDo:
        with self._write() as session:
            if self._lock_owners:
                session.execute(
                    select(func.pg_advisory_xact_lock(func.hashtextextended(owner, 0)))
                )
            if idempotency is not None:
                # Looked up again once no other create for this owner can be in progress.
                earlier = self._earlier(session, idempotency, writing=True)
                if earlier is not None:
                    return earlier
            count = session.scalar(
                select(func.count()).select_from(ToDoRow).where(ToDoRow.owner == owner)
            ) or 0
            if count >= self.max_items_per_owner:
                raise TooManyItems(count, self.max_items_per_owner)
            row = ToDoRow(owner=owner, description=description)
            session.add(row)
            session.flush()
            item = _item(row)
            if idempotency is not None:
                session.add(
                    IdempotencyRow(
                        caller=idempotency.caller,
                        idempotency_key=idempotency.key,
                        fingerprint=idempotency.fingerprint,
                        created_at=int(self._clock()),
                        item_id=item.id,
                        owner=item.owner,
                        description=item.description,
                    )
                )
                session.flush()
            return item

    def _earlier(
        self, session: Session, idempotency: IdempotencyKey, *, writing: bool
    ) -> ToDo | None:
        """The item the caller's earlier request with this key created, while the key is
        remembered (raises `KeyReused` if that request had another body). When `writing`, a
        key that has expired but not been purged yet is deleted, so that it can be used again."""
        row = session.get(IdempotencyRow, (idempotency.caller, idempotency.key))
        if row is None:
            return None
        if row.created_at <= self._clock() - IDEMPOTENCY_KEY_LIFETIME:
            if writing:
                # A statement, not the ORM's delete: a concurrent request may delete it first.
                session.expunge(row)
                session.execute(
                    delete(IdempotencyRow).where(
                        IdempotencyRow.caller == row.caller,
                        IdempotencyRow.idempotency_key == row.idempotency_key,
                        IdempotencyRow.created_at == row.created_at,
                    )
                )
            return None
        if row.fingerprint != idempotency.fingerprint:
            raise KeyReused()
        return ToDo(id=row.item_id, owner=row.owner, description=row.description)

    def _purge_if_due(self) -> None:
        """Delete expired idempotency keys, at most once per `PURGE_INTERVAL` in this process."""
        now = self._clock()
        with self._purge_lock:
            if self._purged_at is not None and now - self._purged_at < PURGE_INTERVAL:
                return
            self._purged_at = now
        with self._write() as session:
            session.execute(
                delete(IdempotencyRow).where(
                    IdempotencyRow.created_at <= now - IDEMPOTENCY_KEY_LIFETIME
                )
            )

    def update(self, item_id: int, owner: str | None, description: str) -> ToDo | None:
        with self._write() as session:
            row = self._find(session, item_id, owner, lock=True)
            if row is None:
                return None
            row.description = description
            session.flush()
            return _item(row)

    def delete(self, item_id: int, owner: str | None) -> bool:
        with self._write() as session:
            row = self._find(session, item_id, owner, lock=True)
            if row is None:
                return False
            session.delete(row)
            return True

    def seed_demo(self) -> int:
        """Add the original daemon sample's three items if the store is empty; returns how many."""
        with self._write() as session:
            if session.scalar(select(ToDoRow.id).limit(1)) is not None:
                return 0
            session.add_all(ToDoRow(owner=str(uuid.uuid4()), description=d) for d in DEMO_ITEMS)
            return len(DEMO_ITEMS)

    @staticmethod
    def _find(
        session: Session, item_id: int, owner: str | None, lock: bool = False
    ) -> ToDoRow | None:
        query = select(ToDoRow).where(ToDoRow.id == item_id)
        if owner is not None:
            query = query.where(ToDoRow.owner == owner)
        if lock:
            query = query.with_for_update()
        return session.scalars(query).one_or_none()


__all__ = [
    "MAX_DESCRIPTION_LENGTH",
    "NIL_OWNER",
    "IdempotencyKey",
    "KeyReused",
    "ToDo",
    "ToDoStore",
    "TooManyItems",
    "make_engine",
]
