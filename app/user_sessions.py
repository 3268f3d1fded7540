"""Which server-side sessions each user has, so that "sign out everywhere" can end them all.

A session is added at sign-in (its id and the key of its token cache, under the user's `oid`)
and removed when it ends here (sign-out, idle or absolute lifetime). Bounded: at most
`MAX_SESSIONS_PER_USER` per user (signing in once more ends the oldest), and an entry older than
the sessions' absolute lifetime is dropped (its session has ended in the store by then, even if
no request ended it). Stored next to the sessions: in Redis a hash per user expiring with the
lifetime; on disk a file per user (named by a hash of the oid), changed under an `flock`, and
swept when older than the lifetime.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis

from app.file_store import SweptDirectory
from common.settings import write_private

MAX_SESSIONS_PER_USER = 50
REDIS_PREFIX = "todo_user_sessions:"


@dataclass(frozen=True)
class UserSession:
    """One signed-in session: its id in the session store and its token cache's key."""

    sid: str
    token_key: str
    at: float  # when it signed in


class SessionIndex(Protocol):
    def add(self, oid: str, entry: UserSession) -> list[UserSession]:
        """Note `entry`; returns the sessions pushed out by the cap (the caller ends them)."""

    def remove(self, oid: str, sid: str) -> None: ...

    def take_all(self, oid: str) -> list[UserSession]:
        """Every session of the user, removed from the index."""


def _live(entries: dict[str, UserSession], lifetime: float) -> dict[str, UserSession]:
    oldest = time.time() - lifetime
    return {sid: e for sid, e in entries.items() if e.at >= oldest}


def _over_cap(entries: dict[str, UserSession]) -> list[UserSession]:
    ordered = sorted(entries.values(), key=lambda e: e.at)
    return ordered[: max(0, len(ordered) - MAX_SESSIONS_PER_USER)]


def _decode(raw: bytes | str) -> UserSession | None:
    try:
        data = json.loads(raw)
        return UserSession(str(data["sid"]), str(data["tokens"]), float(data["at"]))
    except (ValueError, KeyError, TypeError):
        return None


def _encode(entry: UserSession) -> str:
    return json.dumps({"sid": entry.sid, "tokens": entry.token_key, "at": entry.at})


class RedisSessionIndex:
    """A hash `todo_user_sessions:<oid>`: session id → entry, expiring `lifetime` after a write."""

    def __init__(self, client: redis.Redis, lifetime: float) -> None:
        self.client = client
        self.lifetime = lifetime

    def _entries(self, oid: str) -> dict[str, UserSession]:
        raw = self.client.hgetall(REDIS_PREFIX + oid)
        decoded = {(k.decode() if isinstance(k, bytes) else k): _decode(v) for k, v in raw.items()}
        return {sid: e for sid, e in decoded.items() if e is not None}

    def add(self, oid: str, entry: UserSession) -> list[UserSession]:
        key = REDIS_PREFIX + oid
        entries = self._entries(oid)
        live = _live(entries, self.lifetime)
        live[entry.sid] = entry
        evicted = _over_cap(live)
        gone = [sid for sid in entries if sid not in live] + [e.sid for e in evicted]
        with self.client.pipeline() as pipe:
            pipe.hset(key, entry.sid, _encode(entry))
            if gone:
                pipe.hdel(key, *gone)
            pipe.expire(key, int(self.lifetime))
            pipe.execute()
        return evicted

    def remove(self, oid: str, sid: str) -> None:
        self.client.hdel(REDIS_PREFIX + oid, sid)

    def take_all(self, oid: str) -> list[UserSession]:
        key = REDIS_PREFIX + oid
        with self.client.pipeline() as pipe:  # MULTI: read and delete as one step
            pipe.hgetall(key)
            pipe.delete(key)
            raw, _ = pipe.execute()
        entries = [_decode(v) for v in raw.values()]
        return [e for e in entries if e is not None]


class FileSessionIndex(SweptDirectory):
    """A file `<dir>/<sha256(oid)>.json` per user (0600), changed under `<same>.lock`; a user's
    file is swept once their last sign-in is past the lifetime (`SweptDirectory`)."""

    def _name(self, oid: str) -> str:
        return hashlib.sha256(oid.encode()).hexdigest()[:40]

    @contextlib.contextmanager
    def _locked(self, oid: str) -> Iterator[Path]:
        name = self._name(oid)
        fd = os.open(self.directory / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield self.directory / f"{name}.json"
        finally:
            os.close(fd)

    def _read(self, path: Path) -> dict[str, UserSession]:
        try:
            rows = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        entries = [_decode(json.dumps(row)) for row in rows] if isinstance(rows, list) else []
        return {e.sid: e for e in entries if e is not None}

    def _write(self, path: Path, entries: dict[str, UserSession]) -> None:
        if not entries:
            path.unlink(missing_ok=True)
            return
        rows = [json.loads(_encode(e)) for e in entries.values()]
        write_private(path, json.dumps(rows))

    def add(self, oid: str, entry: UserSession) -> list[UserSession]:
        with self._locked(oid) as path:
            live = _live(self._read(path), self.lifetime)
            live[entry.sid] = entry
            evicted = _over_cap(live)
            self._write(path, {s: e for s, e in live.items() if e not in evicted})
        self.sweep_if_due()
        return evicted

    def remove(self, oid: str, sid: str) -> None:
        with self._locked(oid) as path:
            entries = self._read(path)
            if entries.pop(sid, None) is not None:
                self._write(path, entries)

    def take_all(self, oid: str) -> list[UserSession]:
        with self._locked(oid) as path:
            entries = self._read(path)
            path.unlink(missing_ok=True)
        return list(entries.values())
